/*
 * The admin listener's pure rules, table-tested: the bounded reason class of
 * a refusal, the queue by state for the gauges, the token and address rules of
 * admin settings, which queue requests are well-formed, and the text a queue
 * command prints.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ActionScheduler, applyQueueAction, BadRequest, checkAction } from '../../core/admin/queue-actions.js';
import { isLoopback, resolveAdminSettings } from '../../core/admin/settings.js';
import { formatOutcome } from '../../core/cli/queue-view.js';
import { ConfigError } from '../../core/config/errors.js';
import { loadConfig } from '../../core/config/load.js';
import { reasonClass } from '../../core/metrics/metrics.js';
import { openTempQueue, type TempQueue } from '../harness/temp-queue.js';

describe('reasonClass', () => {
  const cases: [number | undefined, string | undefined, string, string][] = [
    [550, '5.7.1', '550 5.7.1', 'code and enhanced code'],
    [451, '4.3.0', '451 4.3.0', 'a tempfail'],
    [421, undefined, '421', 'no enhanced code'],
    [550, 'relay denied', '550', 'free text is never a label'],
    [550, '5.7.1 <a@b>', '550', 'an address smuggled into the enhanced code'],
    [550, '5.1234.1', '550', 'out of RFC 3463 range'],
    [undefined, undefined, '', 'no reply (an aborted transaction)'],
  ];
  for (const [code, enhanced, want, why] of cases) {
    it(`${code} ${enhanced}: ${why}`, () => assert.equal(reasonClass(code, enhanced), want));
  }
});

describe('isLoopback', () => {
  const cases: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.0.2.1', false],
    ['127.example.net', false],
  ];
  for (const [address, want] of cases) it(address, () => assert.equal(isLoopback(address), want));
});

describe('resolveAdminSettings', () => {
  const rows: {
    why: string;
    admin: string;
    env?: Record<string, string>;
    files?: Record<string, string>;
    want: string | RegExp;
  }[] = [
    { why: 'the defaults', admin: '', want: 'enabled 127.0.0.1:2580 token=- metrics' },
    { why: 'a token inline', admin: 'token: aaaaaaaaaaaaaaaa', want: 'enabled 127.0.0.1:2580 token=aaaaaaaaaaaaaaaa metrics' },
    {
      why: 'a token from a file, first line, trimmed',
      admin: 'token_file: secret',
      files: { secret: '  bbbbbbbbbbbbbbbbbbbb  \nignored\n' },
      want: 'enabled 127.0.0.1:2580 token=bbbbbbbbbbbbbbbbbbbb metrics',
    },
    {
      why: 'a token from the environment',
      admin: 'token_env: QGATE_TEST_TOKEN',
      env: { QGATE_TEST_TOKEN: 'cccccccccccccccccc' },
      want: 'enabled 127.0.0.1:2580 token=cccccccccccccccccc metrics',
    },
    {
      why: 'any address with a token',
      admin: 'address: 0.0.0.0\n  token: dddddddddddddddd\n  metrics: false',
      want: 'enabled 0.0.0.0:2580 token=dddddddddddddddd -',
    },
    { why: 'off, anywhere, needs no token', admin: 'enabled: false\n  address: 0.0.0.0', want: '- 0.0.0.0:2580 token=- metrics' },
    { why: 'too short inline (schema)', admin: 'token: short', want: /admin\.token: .*16/ },
    {
      why: 'too short in a file',
      admin: 'token_file: secret',
      files: { secret: 'short\n' },
      want: 'config.yaml:3:15 admin.token_file: the token must be at least 16 characters, got 5',
    },
    {
      why: 'a missing file',
      admin: 'token_file: nowhere',
      want: 'config.yaml:3:15 admin.token_file: cannot read nowhere: ENOENT',
    },
    {
      why: 'an unset variable',
      admin: 'token_env: QGATE_TEST_UNSET',
      want: 'config.yaml:3:14 admin.token_env: the environment variable QGATE_TEST_UNSET is not set or empty',
    },
    {
      why: 'two sources',
      admin: 'token: eeeeeeeeeeeeeeee\n  token_env: QGATE_TEST_TOKEN',
      env: { QGATE_TEST_TOKEN: 'cccccccccccccccccc' },
      want: /admin\.token_env: give the token one way only; token and token_env are both set/,
    },
    {
      why: 'reachable from other hosts without a token',
      admin: 'address: "::"',
      want: 'config.yaml:3:12 admin.address: :: is reachable from other hosts: set admin.token, token_file or token_env',
    },
    { why: 'not an address', admin: 'address: admin.example.net', want: /admin\.address: expected an IP address/ },
  ];
  for (const row of rows) {
    it(row.why, () => {
      const dir = mkdtempSync(join(tmpdir(), 'qgate-admin-settings-'));
      try {
        writeFileSync(
          join(dir, 'config.yaml'),
          `listeners: [{ name: smtp, port: 0, pipeline: p }]\nadmin:\n  ${row.admin || 'enabled: true'}\npipelines:\n  p: { plugins: [] }\n`,
        );
        for (const [name, text] of Object.entries(row.files ?? {})) writeFileSync(join(dir, name), text);
        let got: string;
        try {
          const s = resolveAdminSettings(loadConfig(join(dir, 'config.yaml')), row.env ?? {});
          got = `${s.enabled ? 'enabled' : '-'} ${s.address}:${s.port} token=${s.token ?? '-'} ${s.metrics ? 'metrics' : '-'}`;
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          got = err.message.replaceAll(`${dir}/`, '');
        }
        if (typeof row.want === 'string') assert.equal(got, row.want);
        else assert.match(got, row.want);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('checkAction', () => {
  const ID = '0MWT707BG0038AI';
  const cases: [string, string | undefined, string | undefined][] = [
    ['flush', undefined, undefined],
    ['flush', ID, undefined],
    ['remove', ID, undefined],
    ['bounce', ID, undefined],
    ['remove', undefined, 'queue remove needs a queue id'],
    ['bounce', undefined, 'queue bounce needs a queue id'],
    ['flush', '../../etc/passwd', 'not a queue id: "../../etc/passwd"'],
    ['delete', ID, 'unknown queue action "delete"'],
  ];
  for (const [action, id, error] of cases) {
    it(`${action} ${id ?? '(all)'}`, () => {
      if (error === undefined) assert.doesNotThrow(() => checkAction(action, id));
      else
        assert.throws(
          () => checkAction(action, id),
          (err: unknown) => err instanceof BadRequest && err.message === error,
        );
    });
  }
});

describe('formatOutcome', () => {
  it('one line per message, its recipients under it, and a note when the wait ran out', () => {
    assert.equal(
      formatOutcome(
        {
          action: 'flush',
          done: false,
          by: 'scheduler',
          count: 2,
          messages: [
            { id: 'A', queued: true, recipients: [{ address: 'r@example.net', status: 'pending', attempts: 1 }] },
            { id: 'B', queued: false },
          ],
        },
        42,
      ),
      'queue flush: 2 messages, by the gateway (pid 42)\nA: still queued\n    to <r@example.net>  pending, 1 attempt\nB: left the queue\ndelivery runs were still going when the wait ended; the log tells the rest\n',
    );
  });
  it('says when no gateway ran', () => {
    assert.equal(
      formatOutcome({ action: 'remove', done: true, by: 'queue', count: 1, messages: [{ id: 'A', queued: false }] }, undefined),
      'queue remove: 1 message, on the queue; no gateway is running, so delivery acts on it when one starts\nA: left the queue\n',
    );
  });
  it('counts the messages it does not list', () => {
    assert.equal(
      formatOutcome({ action: 'flush', done: false, by: 'scheduler', count: 100_000, messages: [{ id: 'A', queued: false }] }, 7),
      'queue flush: 100000 messages, by the gateway (pid 7)\nA: left the queue\n... and 99999 more, not listed; qgate queue list shows every message\ndelivery runs were still going when the wait ended; the log tells the rest\n',
    );
  });
});

describe('applyQueueAction on a whole queue', () => {
  let temp: TempQueue;
  const ids: string[] = [];

  before(async () => {
    temp = await openTempQueue('qgate-actions-');
    for (const body of ['one', 'two', 'three']) ids.push((await temp.commit(`Subject: ${body}\r\n\r\n${body}\r\n`)).id);
  });

  after(() => temp.remove());

  it('acts on every message, lists the first `listAtMost` and counts them all', async () => {
    const outcome = await applyQueueAction(temp.queue, undefined, 'flush', undefined, 0, 2);
    assert.equal(outcome.count, 3);
    assert.equal(outcome.done, true, 'written to the queue: nothing left to wait for');
    assert.deepEqual(
      outcome.messages.map((m) => m.id),
      [...ids].sort().slice(0, 2),
    );
    for (const id of ids) assert.ok(await temp.queue.readState(id), `${id}: the flush is written to its state`);
  });

  /** A scheduler that flushes `ids` and whose runs end when `idleAll` resolves (never, unless `idle`). */
  function scheduler(idle: boolean): ActionScheduler & { asked: (readonly string[])[] } {
    const asked: (readonly string[])[] = [];
    return {
      asked,
      flush: async () => [...ids],
      remove: async () => undefined,
      bounceNow: async () => undefined,
      idleAll: (waitedFor) => {
        asked.push(waitedFor);
        return idle ? Promise.resolve() : new Promise(() => undefined);
      },
    };
  }

  it('does not ask after the runs when the caller does not wait', async () => {
    const busy = scheduler(false);
    const outcome = await applyQueueAction(temp.queue, busy, 'flush', undefined, 0);
    assert.deepEqual([outcome.count, outcome.messages.length, outcome.done, busy.asked.length], [3, 3, false, 0]);
  });

  it('asks once after all the runs, and says whether they ended within the wait', async () => {
    const idle = scheduler(true);
    assert.equal((await applyQueueAction(temp.queue, idle, 'flush', undefined, 1_000)).done, true);
    assert.deepEqual(idle.asked, [ids]);
    const busy = scheduler(false);
    assert.equal((await applyQueueAction(temp.queue, busy, 'flush', undefined, 50)).done, false);
    assert.equal(busy.asked.length, 1);
  });
});
