/*
 * The directory answer cache: positive and negative TTLs, LRU bounds, off,
 * unavailable never kept, concurrent questions shared; and the `cache:` option
 * (defaults, units, false) as the validator leaves it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SourceFile } from '../../core/config/source.js';
import { validate } from '../../core/config/validate.js';
import { AnswerCache, type AnswerCacheSettings } from '../../core/directory/answer-cache.js';
import { cacheSettings, DirectoryCache, type DirectoryCacheOption } from '../../core/directory/cache-options.js';
import { OutageTracker } from '../../core/directory/outage.js';
import { unavailable } from '../../core/hooks/results.js';
import { Type } from '../../core/plugin-api/index.js';

type Answer = { address: string } | null | undefined | ReturnType<typeof unavailable>;

function harness(settings: AnswerCacheSettings | false) {
  let clock = 1000;
  const asked: string[] = [];
  const cache = new AnswerCache<{ address: string }>(settings, () => clock);
  const answers = new Map<string, Answer>();
  const ask = (key: string) =>
    cache.answer(key, async () => {
      asked.push(key);
      return answers.get(key);
    });
  return {
    cache,
    asked,
    answers,
    ask,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const ON: AnswerCacheSettings = { positiveTtlMs: 60_000, negativeTtlMs: 10_000, maxEntries: 3 };

describe('AnswerCache', () => {
  test('a positive answer is asked once within its TTL, again after it', async () => {
    const h = harness(ON);
    h.answers.set('a@x', { address: 'a@x' });
    assert.deepEqual(await h.ask('a@x'), { address: 'a@x' });
    h.advance(59_999);
    assert.deepEqual(await h.ask('a@x'), { address: 'a@x' });
    assert.deepEqual(h.asked, ['a@x']);
    h.advance(1);
    await h.ask('a@x');
    assert.deepEqual(h.asked, ['a@x', 'a@x']);
  });

  test('negative answers (null and undefined) keep the negative TTL', async () => {
    const h = harness(ON);
    h.answers.set('gone@x', null);
    assert.equal(await h.ask('gone@x'), null);
    assert.equal(await h.ask('other@y'), undefined);
    h.advance(9_999);
    assert.equal(await h.ask('gone@x'), null);
    assert.equal(await h.ask('other@y'), undefined);
    assert.deepEqual(h.asked, ['gone@x', 'other@y']);
    h.advance(1);
    await h.ask('gone@x');
    assert.deepEqual(h.asked, ['gone@x', 'other@y', 'gone@x']);
  });

  test('unavailable is never kept: the next question asks again', async () => {
    const h = harness(ON);
    h.answers.set('a@x', unavailable('down'));
    assert.deepEqual(await h.ask('a@x'), unavailable('down'));
    h.answers.set('a@x', { address: 'a@x' });
    assert.deepEqual(await h.ask('a@x'), { address: 'a@x' });
    assert.deepEqual(h.asked, ['a@x', 'a@x']);
  });

  test('a throw is not kept and reaches the caller', async () => {
    const cache = new AnswerCache<string>(ON);
    await assert.rejects(
      cache.answer('k', async () => {
        throw new Error('timeout');
      }),
      /timeout/,
    );
    assert.equal(await cache.answer('k', async () => 'v'), 'v');
    assert.equal(cache.stats().size, 1);
  });

  test('at most maxEntries are kept; the least recently used goes first', async () => {
    const h = harness(ON);
    for (const k of ['a', 'b', 'c']) h.answers.set(k, { address: k });
    h.answers.set('d', { address: 'd' });
    await h.ask('a');
    await h.ask('b');
    await h.ask('c');
    await h.ask('a'); // a is now the most recent: b is the oldest
    await h.ask('d');
    assert.equal(h.cache.stats().size, 3);
    h.asked.length = 0;
    await h.ask('a');
    await h.ask('c');
    await h.ask('d');
    assert.deepEqual(h.asked, []);
    await h.ask('b');
    assert.deepEqual(h.asked, ['b']);
  });

  test('off (false), maxEntries 0 or a TTL of 0: every question is asked', async () => {
    const settings: (AnswerCacheSettings | false)[] = [
      false,
      { ...ON, maxEntries: 0 },
      { ...ON, positiveTtlMs: 0, negativeTtlMs: 0 },
    ];
    for (const s of settings) {
      const h = harness(s);
      h.answers.set('a', { address: 'a' });
      await h.ask('a');
      await h.ask('a');
      await h.ask('b');
      await h.ask('b');
      assert.deepEqual(h.asked, ['a', 'a', 'b', 'b'], JSON.stringify(s));
      assert.equal(h.cache.stats().size, 0);
    }
  });

  test('concurrent questions for one key share one query', async () => {
    const cache = new AnswerCache<string>(ON);
    let queries = 0;
    let release: (v: string) => void = () => {};
    const ask = () => {
      queries++;
      return new Promise<string>((r) => {
        release = r;
      });
    };
    const all = Promise.all([cache.answer('k', ask), cache.answer('k', ask), cache.answer('k', ask)]);
    release('v');
    assert.deepEqual(await all, ['v', 'v', 'v']);
    assert.equal(queries, 1);
  });
});

describe('cache option', () => {
  const schema = Type.Object({ cache: DirectoryCache() });
  const rows: { why: string; yaml: string; expected: ReturnType<typeof cacheSettings> }[] = [
    {
      why: 'left out: the defaults',
      yaml: '{}',
      expected: { positiveTtlMs: 60_000, negativeTtlMs: 30_000, maxEntries: 10_000 },
    },
    {
      why: 'one key given, the others take their defaults; units converted',
      yaml: 'cache: { positive_ttl: 5m }',
      expected: { positiveTtlMs: 300_000, negativeTtlMs: 30_000, maxEntries: 10_000 },
    },
    {
      why: 'all given',
      yaml: 'cache: { positive_ttl: 10, negative_ttl: 500ms, max_entries: 7 }',
      expected: { positiveTtlMs: 10_000, negativeTtlMs: 500, maxEntries: 7 },
    },
    { why: 'false: off', yaml: 'cache: false', expected: false },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const source = SourceFile.parse(row.yaml, 'p.yaml');
      const checked = validate<{ cache: DirectoryCacheOption }>(schema, source.value(), source, []);
      assert.ok(checked.ok, JSON.stringify(checked));
      assert.deepEqual(cacheSettings(checked.value.cache), row.expected);
    });
  }

  test('a bad value is a positioned problem', () => {
    const source = SourceFile.parse('cache:\n  positive_ttl: soon\n', 'p.yaml');
    const checked = validate(schema, source.value(), source, []);
    assert.equal(checked.ok, false);
    const text = checked.ok ? '' : checked.problems.map((p) => `${p.line}:${p.column} ${p.key} ${p.message}`).join('\n');
    assert.match(text, /2:\d+ cache\.positive_ttl expected a duration/);
  });
});

describe('OutageTracker', () => {
  test('logs the first failure of an outage and the recovery, nothing in between', () => {
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const logger = {
      error: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'error', msg, fields }),
      warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', msg, fields }),
    };
    let clock = 0;
    const outage = new OutageTracker(
      () => logger as never,
      'LDAP server ldap://h',
      () => clock,
    );
    outage.succeeded();
    assert.equal(lines.length, 0);
    for (let i = 0; i < 50; i++) outage.failed('connect ECONNREFUSED');
    assert.equal(outage.down, true);
    clock = 12_340;
    outage.succeeded();
    outage.succeeded();
    assert.deepEqual(
      lines.map((l) => l.level),
      ['error', 'warn'],
    );
    assert.match(lines[0]!.msg, /LDAP server ldap:\/\/h is unavailable: connect ECONNREFUSED/);
    assert.deepEqual(lines[1]!.fields, { seconds: 12.3, failures: 50 });
    outage.failed('again');
    assert.equal(lines.length, 3);
  });
});
