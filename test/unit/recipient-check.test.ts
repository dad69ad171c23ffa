/*
 * The I/O half of recipient validation against a real Maildir tree in a
 * temporary directory and a directory served through the pipeline's
 * lookupUser hook: what is asked, in what order, and what a failure becomes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AliasTable } from '../../core/delivery/local-address.js';
import { type LocalRecipientSettings, LocalRecipients } from '../../core/delivery/local-recipients.js';
import { DeliveryRecipientCheck } from '../../core/delivery/recipient-check.js';
import type { UserRecord } from '../../core/hooks/types.js';
import { silentLogger } from '../../core/log/logger.js';
import { Pipeline } from '../../core/pipeline/pipeline.js';
import { parsePath } from '../../core/smtp/address.js';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'qgate-rcptcheck-'));
  for (const user of ['alice', 'eve']) mkdirSync(join(root, 'example.test', user, 'Maildir'), { recursive: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A directory on the real lookupUser hook; `answer` decides, `asked` records the questions. */
function directory(answer: (address: string) => UserRecord | null | undefined | Promise<UserRecord | null | undefined>) {
  const pipeline = new Pipeline('delivery');
  const asked: string[] = [];
  pipeline.hooks.lookupUser.tapPromise({ name: 'test-directory' }, async ({ address }) => {
    asked.push(address);
    return answer(address);
  });
  return { users: pipeline.users, asked };
}

function settings(overrides: Partial<LocalRecipientSettings> = {}, aliases: AliasTable = {}): LocalRecipientSettings {
  return {
    isLocalDomain: (d) => d === 'example.test',
    maildirRoot: root,
    createMailboxes: false,
    aliases: () => aliases,
    delimiters: '-+',
    postmaster: 'alice@example.test',
    ...overrides,
  };
}

const codeOf = (v: { action: string; reply?: { code: number } }) => (v.action === 'accept' ? 250 : v.reply!.code);

describe('LocalRecipients', () => {
  test('an existing Maildir is a user; a missing one is not', async () => {
    const dir = directory(() => undefined);
    const local = new LocalRecipients(settings(), dir.users);
    assert.equal(codeOf(await local.verdict('alice@example.test')), 250);
    assert.equal(codeOf(await local.verdict('bob@example.test')), 550);
    assert.equal(codeOf(await local.verdict('alice-news@example.test')), 250);
    assert.deepEqual(dir.asked, ['alice@example.test', 'bob@example.test', 'alice-news@example.test', 'alice@example.test']);
  });

  test('the directory decides before the Maildir and before create_mailboxes', async () => {
    const dir = directory((a) =>
      a === 'dora@example.test' ? { address: a, mailbox: '/srv/dora' } : a.startsWith('eve@') ? null : undefined,
    );
    for (const createMailboxes of [false, true]) {
      const local = new LocalRecipients(settings({ createMailboxes }), dir.users);
      assert.equal(codeOf(await local.verdict('dora@example.test')), 250, 'known to the directory, no Maildir');
      assert.equal(codeOf(await local.verdict('dora+x@example.test')), 250, 'the extension of a directory user');
      assert.equal(codeOf(await local.verdict('eve@example.test')), 550, 'the directory says no, the Maildir notwithstanding');
      assert.equal(codeOf(await local.verdict('zed@example.test')), createMailboxes ? 250 : 550);
    }
  });

  test('resolve gives delivery each target with its Maildir', async () => {
    const dir = directory((a) => (a === 'dora@example.test' ? { address: a, mailbox: '/srv/dora' } : undefined));
    const local = new LocalRecipients(settings({}, { team: ['alice', 'dora', 'ghost', 'carol@elsewhere.test'] }), dir.users);
    assert.deepEqual(await local.resolve('team@example.test'), [
      { kind: 'mailbox', local: 'alice', domain: 'example.test', maildir: join(root, 'example.test', 'alice', 'Maildir') },
      { kind: 'mailbox', local: 'dora', domain: 'example.test', maildir: '/srv/dora' },
      { kind: 'unknown', address: 'ghost@example.test' },
      { kind: 'forward', address: 'carol@elsewhere.test' },
    ]);
  });

  test('resolve finds the extension of a directory user in the Maildir the directory names', async () => {
    const dir = directory((a) => (a === 'dora@example.test' ? { address: a, mailbox: 'boxes/dora' } : null));
    const local = new LocalRecipients(settings(), dir.users);
    assert.deepEqual(await local.resolve('dora-news@example.test'), [
      { kind: 'mailbox', local: 'dora', domain: 'example.test', extension: 'news', maildir: join(process.cwd(), 'boxes/dora') },
    ]);
  });

  test('resolve takes the domain a route sent to local delivery as local', async () => {
    const dir = directory(() => undefined);
    const local = new LocalRecipients(settings({ createMailboxes: true }), dir.users);
    assert.deepEqual(await local.resolve('bob@routed.test'), [{ kind: 'forward', address: 'bob@routed.test' }]);
    assert.deepEqual(await local.resolve('bob@routed.test', 'routed.test'), [
      { kind: 'mailbox', local: 'bob', domain: 'routed.test', maildir: join(root, 'routed.test', 'bob', 'Maildir') },
    ]);
  });

  test('resolve answers a large alias in full, past the RCPT bound, with at most 8 questions at once', async () => {
    const members = Array.from({ length: 300 }, (_, i) => `member${i}`);
    let inFlight = 0;
    let most = 0;
    const dir = directory(async (a) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return { address: a };
    });
    const targets = await new LocalRecipients(settings({}, { list: members }), dir.users).resolve('list@example.test');
    assert.deepEqual(
      targets.map((t) => (t.kind === 'mailbox' ? t.local : t.kind)),
      members,
    );
    assert.equal(dir.asked.length, 300, 'each member asked once');
    assert.equal(most, 8);
  });

  test('resolve throws when the directory or the mail store cannot answer, and says which', async () => {
    const down = directory(() => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:389');
    });
    await assert.rejects(
      new LocalRecipients(settings(), down.users).resolve('alice@example.test'),
      /^Error: directory lookup failed: .*ECONNREFUSED/,
    );
    const unnamable = new LocalRecipients(
      settings({ maildirRoot: join(root, 'n'.repeat(300)) }),
      directory(() => undefined).users,
    );
    await assert.rejects(unnamable.resolve('alice@example.test'), /^Error: mailbox lookup failed: .*ENAMETOOLONG/);
  });

  test('RCPT stops asking once a deliverable target is certain', async () => {
    const members = Array.from({ length: 40 }, (_, i) => `member${i}`);
    const dir = directory(() => undefined);
    const local = new LocalRecipients(settings({ createMailboxes: true }, { list: members }), dir.users);
    assert.equal(codeOf(await local.verdict('list@example.test')), 250);
    assert.equal(dir.asked.length, 8, 'one batch');
  });

  test('a directory failure is 451, never unknown', async () => {
    const dir = directory(() => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:389');
    });
    const verdict = await new LocalRecipients(settings({ createMailboxes: true }), dir.users).verdict('alice@example.test');
    assert.equal(verdict.action, 'reject');
    assert.equal(codeOf(verdict), 451);
    assert.match(verdict.reason ?? '', /ECONNREFUSED/);
  });

  test('a Maildir that cannot be looked at is 451, not unknown', async () => {
    const dir = directory(() => undefined);
    // A file where the domain directory should be: ENOTDIR means "no such mailbox" ...
    writeFileSync(join(root, 'a-file'), '');
    const underFile = new LocalRecipients(settings({ maildirRoot: join(root, 'a-file') }), dir.users);
    assert.equal(codeOf(await underFile.verdict('a@example.test')), 550);
    // ... but a root the file system cannot even name says nothing about the user.
    const unnamable = new LocalRecipients(settings({ maildirRoot: join(root, 'n'.repeat(300)) }), dir.users);
    const verdict = await unnamable.verdict('a@example.test');
    assert.equal(codeOf(verdict), 451, verdict.reason);
    assert.match(verdict.reason ?? '', /ENAMETOOLONG/);
  });

  test('an alias fan-out of unknown users past the lookup bound is 451', async () => {
    const many = Array.from({ length: 200 }, (_, i) => `ghost${i}`);
    const dir = directory(() => null);
    const verdict = await new LocalRecipients(settings({}, { many }), dir.users).verdict('many@example.test');
    assert.equal(codeOf(verdict), 451);
    assert.match(verdict.reason ?? '', /more than 128 mailbox lookups/);
    assert.ok(dir.asked.length <= 128);
  });
});

describe('DeliveryRecipientCheck', () => {
  const address = (text: string) => {
    const parsed = parsePath(text, { allowPostmaster: true });
    assert.ok(parsed.ok && parsed.address);
    return parsed.address;
  };

  function check(answer: Parameters<typeof directory>[0], timeoutMs = 5000) {
    const dir = directory(answer);
    return new DeliveryRecipientCheck({
      local: new LocalRecipients(settings(), dir.users),
      isLocalDomain: (d) => d === 'example.test',
      routes: [
        { domain: 'relay.test', host: '127.0.0.1', port: 25, tls: 'none' },
        { domain: 'open.test', host: '127.0.0.1', port: 25, tls: 'none' },
      ],
      lists: new Map(),
      directory: dir.users,
      delimiters: '-+',
      timeoutMs,
      log: silentLogger(),
    });
  }

  test('not its business: <postmaster>, other domains, routes without a list', async () => {
    const c = check(() => null);
    assert.equal(await c.check(address('<postmaster>')), undefined);
    assert.equal(await c.check(address('<x@elsewhere.test>')), undefined);
    assert.equal(await c.check(address('<x@open.test>')), undefined);
  });

  test('unsafe local parts are 553 before anything is asked', async () => {
    const dir = directory(() => ({ address: 'x' }));
    const c = new DeliveryRecipientCheck({
      local: new LocalRecipients(settings({ createMailboxes: true }), dir.users),
      isLocalDomain: () => true,
      routes: [],
      lists: new Map(),
      directory: dir.users,
      delimiters: '-+',
      timeoutMs: 5000,
      log: silentLogger(),
    });
    for (const text of [
      '<a/b@example.test>',
      '<"a/b"@example.test>',
      '<"."@example.test>',
      '<".."@example.test>',
      '<".x"@example.test>',
      '<""@example.test>',
    ]) {
      const verdict = await c.check(address(text));
      assert.equal(verdict?.action === 'reject' && `${verdict.reply.code} ${verdict.reply.enhanced}`, '553 5.1.3', text);
    }
    assert.deepEqual(dir.asked, []);
  });

  test('a directory that does not answer in time is 451', async () => {
    const started = Date.now();
    const verdict = await check(() => new Promise(() => undefined), 100).check(address('<alice@example.test>'));
    assert.equal(verdict?.action === 'reject' && verdict.reply.code, 451);
    assert.match(verdict?.reason ?? '', /no answer within 100 ms/);
    assert.ok(Date.now() - started < 2000);
  });
});
