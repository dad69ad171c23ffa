/*
 * How one attempt changes a message's delivery state. Pure parts of the scheduler.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { takeControlRequests, writeControlRequest } from '../../core/delivery/control.js';
import { applyOutcomes, finished, initialState } from '../../core/delivery/scheduler.js';
import { createEnvelope, deliveryReply, type RecipientState } from '../../core/model/index.js';

const HOUR = 3_600_000;
const born = Date.UTC(2026, 10, 23, 12, 0, 0);
const envelope = createEnvelope({
  id: '0MWT707BG0038AI',
  received: new Date(born),
  sender: 'a@example.test',
  recipients: ['x@one.test', 'y@two.test', 'z@three.test'],
  size: 100,
  client: { address: '127.0.0.1', port: 1, helo: 'c' },
  listener: 'test',
});
const policies = {
  retryLocal: { baseMs: 100_000, lifetimeMs: 7 * 24 * HOUR },
  retryRemote: { baseMs: 400_000, lifetimeMs: 7 * 24 * HOUR },
};

describe('applyOutcomes', () => {
  it('starts with every recipient pending and due at arrival', () => {
    const s = initialState(envelope);
    assert.deepEqual(
      s.recipients.map((r) => [r.address, r.status, r.attempts, r.nextAttempt]),
      envelope.recipients.map((r) => [r.address, 'pending', 0, envelope.received]),
    );
  });

  it('delivered and failed are final, deferred is scheduled by the retry formula', () => {
    const now = born + 1000;
    const s = applyOutcomes(
      initialState(envelope),
      [
        {
          recipient: 'x@one.test',
          result: 'delivered',
          reply: deliveryReply(250, undefined, 'ok', 'mx.one.test'),
          kind: 'remote',
        },
        {
          recipient: 'y@two.test',
          result: 'failed',
          reply: deliveryReply(550, '5.1.1', 'unknown', 'mx.two.test'),
          kind: 'remote',
        },
        { recipient: 'z@three.test', result: 'deferred', reply: deliveryReply(451, '4.3.0', 'later'), kind: 'remote' },
      ],
      born,
      now,
      policies,
    );
    const [x, y, z] = s.recipients;
    assert.deepEqual([x!.status, x!.attempts, x!.reply?.host], ['delivered', 1, 'mx.one.test']);
    assert.deepEqual([y!.status, y!.reply], ['failed', { code: 550, enhanced: '5.1.1', text: 'unknown', host: 'mx.two.test' }]);
    assert.equal(z!.status, 'pending');
    assert.equal(z!.nextAttempt, new Date(born + 400_000).toISOString(), 'remote retry 1 at birth + 400 s');
  });

  it('local deferrals use the local schedule', () => {
    const s = applyOutcomes(
      initialState(envelope),
      [{ recipient: 'x@one.test', result: 'deferred', reply: deliveryReply(451, '4.2.0', 'disk'), kind: 'local' }],
      born,
      born,
      policies,
    );
    assert.equal(s.recipients[0]!.nextAttempt, new Date(born + 100_000).toISOString());
  });

  it('recipients without an outcome, or already final, are left alone', () => {
    const first = applyOutcomes(
      initialState(envelope),
      [{ recipient: 'x@one.test', result: 'delivered', reply: deliveryReply(250, undefined, ''), kind: 'remote' }],
      born,
      born,
      policies,
    );
    const second = applyOutcomes(
      first,
      [{ recipient: 'x@one.test', result: 'failed', reply: deliveryReply(550, undefined, ''), kind: 'remote' }],
      born,
      born + 10,
      policies,
    );
    assert.deepEqual(second.recipients, first.recipients);
  });

  it('a deferral after the queue lifetime fails with the last reply kept', () => {
    const late = born + 7 * 24 * HOUR;
    const s = applyOutcomes(
      initialState(envelope),
      [
        {
          recipient: 'x@one.test',
          result: 'deferred',
          reply: deliveryReply(451, '4.4.1', 'no answer', 'mx.one.test'),
          kind: 'remote',
        },
      ],
      born,
      late,
      policies,
    );
    assert.equal(s.recipients[0]!.status, 'failed');
    assert.deepEqual(s.recipients[0]!.reply, {
      code: 451,
      enhanced: '4.4.1',
      text: 'no answer (gave up: queue lifetime reached)',
      host: 'mx.one.test',
    });
  });
});

describe('finished', () => {
  const state = (...statuses: [RecipientState['status'], boolean?][]) => ({
    ...initialState(envelope),
    recipients: statuses.map(([status, bounced], i) => ({
      address: `r${i}@x.test`,
      status,
      attempts: 1,
      ...(bounced === undefined ? {} : { bounced }),
    })),
  });
  const rows: { state: ReturnType<typeof state>; finished: boolean; why: string }[] = [
    { state: state(['delivered'], ['delivered']), finished: true, why: 'all delivered: the removal is the record' },
    { state: state(['delivered'], ['failed', true]), finished: true, why: 'a failure already bounced' },
    { state: state(['delivered'], ['failed']), finished: false, why: 'a failure still to bounce' },
    { state: state(['delivered'], ['pending']), finished: false, why: 'a recipient still pending' },
  ];
  for (const row of rows) it(row.why, () => assert.equal(finished(row.state), row.finished));
});

describe('control requests', () => {
  it('are written as files and taken exactly once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-control-'));
    writeControlRequest(dir, { action: 'flush', id: undefined });
    writeControlRequest(dir, { action: 'bounce', id: '0MWT707BG0038AI' });
    const taken = takeControlRequests(dir).sort((a, b) => a.action.localeCompare(b.action));
    assert.deepEqual(taken, [
      { action: 'bounce', id: '0MWT707BG0038AI' },
      { action: 'flush', id: undefined },
    ]);
    assert.deepEqual(takeControlRequests(dir), []);
  });

  it('refuse something that is not a queue id', () => {
    assert.throws(() => writeControlRequest(tmpdir(), { action: 'remove', id: '../../etc/passwd' }), /not a queue id/);
  });
});
