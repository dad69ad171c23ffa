/*
 * relay-ctrl's grants: the table (a later end wins, an expired grant never
 * answers, the sweep returns what it removed), journal lines (a torn last line
 * is skipped) and the file store: grants survive reopening, expired ones are
 * dropped when it opens, and the journal is rewritten with the live ones only.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireFileStore, releaseFileStore } from '../../../plugins/relay-ctrl/file-store.js';
import { GrantTable, parseGrant } from '../../../plugins/relay-ctrl/store.js';

const grant = (address: string, until: number, at = 0) => ({ address, at, until, by: 'test' });

describe('relay grant table', () => {
  it('answers only before the end of a grant, and keeps the later end', () => {
    const t = new GrantTable();
    assert.equal(t.put(grant('192.0.2.1', 100)), true);
    assert.equal(t.lookup('192.0.2.1', 99)?.until, 100);
    assert.equal(t.lookup('192.0.2.1', 100), undefined, 'the end itself is outside the window');
    assert.equal(t.put(grant('192.0.2.1', 50)), false, 'an older grant does not shorten it');
    assert.equal(t.lookup('192.0.2.1', 60)?.until, 100);
    assert.equal(t.put(grant('192.0.2.1', 200)), true);
    assert.equal(t.lookup('192.0.2.2', 0), undefined);
  });

  it('sweeps the expired grants and returns them', () => {
    const t = new GrantTable();
    t.put(grant('192.0.2.1', 100));
    t.put(grant('192.0.2.2', 300));
    assert.deepEqual(
      t.sweep(200).map((g) => g.address),
      ['192.0.2.1'],
    );
    assert.equal(t.size, 1);
    assert.deepEqual(t.sweep(200), []);
  });

  const lines: [string, boolean][] = [
    ['{"address":"192.0.2.1","at":1,"until":2,"by":"x"}', true],
    ['{"address":"192.0.2.1","at":1,"until":2', false],
    ['{"address":1,"at":1,"until":2,"by":"x"}', false],
    ['{"address":"192.0.2.1","at":1,"until":"2","by":"x"}', false],
    ['null', false],
  ];
  for (const [line, ok] of lines) {
    it(`journal line ${line}: ${ok ? 'a grant' : 'skipped'}`, () => assert.equal(parseGrant(line) !== undefined, ok));
  }
});

describe('relay grant file store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-relay-store-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps grants across a reopen, drops expired ones, skips a torn line and rewrites the journal', async () => {
    const file = join(dir, 'relay-ctrl.jsonl');
    const now = Date.now();
    const first = await acquireFileStore(file);
    await first.store.grant(grant('192.0.2.1', now + 60_000, now));
    await first.store.grant(grant('192.0.2.2', now + 1, now));
    await releaseFileStore(file);
    appendFileSync(file, '{"address":"192.0.2.9","at":1,"unt');
    await new Promise((r) => setTimeout(r, 5));

    const second = await acquireFileStore(file);
    try {
      assert.equal(second.store.lookup('192.0.2.1', Date.now())?.by, 'test');
      assert.equal(second.store.lookup('192.0.2.2', Date.now()), undefined);
      assert.deepEqual(
        second.expired.map((g) => g.address),
        ['192.0.2.2'],
      );
      const journal = readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(journal.length, 1, 'only the live grant is left');
      assert.match(journal[0]!, /192\.0\.2\.1/);
    } finally {
      await releaseFileStore(file);
    }
  });

  it('one store per file in a process: what one instance grants, another sees at once', async () => {
    const file = join(dir, 'shared.jsonl');
    const one = await acquireFileStore(file);
    const two = await acquireFileStore(file);
    try {
      assert.equal(one.store, two.store);
      await one.store.grant(grant('192.0.2.5', Date.now() + 60_000));
      assert.ok(two.store.lookup('192.0.2.5', Date.now()));
    } finally {
      await releaseFileStore(file);
      await releaseFileStore(file);
    }
  });
});
