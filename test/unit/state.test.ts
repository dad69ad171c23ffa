/*
 * How a message's delivery state changes (core/delivery/state.ts): one
 * attempt's outcomes, expiry, an administrator's flush and bounce, bounces
 * queued, and what is due when. The scheduler and `qgate queue` without a
 * running gateway use the same transitions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyOutcomes,
  BOUNCED_BY_ADMINISTRATOR,
  bounceNow,
  dueRecipients,
  expire,
  finished,
  flushNow,
  initialState,
  markBounced,
  nextDue,
  unbounced,
} from '../../core/delivery/state.js';
import { createEnvelope, type DeliveryState, deliveryReply, type RecipientState } from '../../core/model/index.js';

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

/** A state of `envelope` with its recipients as given (x, y, z in order). */
function stateOf(...recipients: Omit<RecipientState, 'address'>[]): DeliveryState {
  const addresses = envelope.recipients.map((r) => r.address);
  return { ...initialState(envelope), recipients: recipients.map((r, i) => ({ address: addresses[i]!, ...r })) };
}

const LIFETIME = 7 * 24 * HOUR;
const greylisted = deliveryReply(451, '4.7.1', 'Greylisted', 'mx.one.test');
const unknown = deliveryReply(550, '5.1.1', 'unknown', 'mx.two.test');
const later = new Date(born + HOUR).toISOString();

describe('expire', () => {
  const cases: { why: string; state: DeliveryState; nowMs: number; expect: RecipientState[] | 'same' }[] = [
    {
      why: 'before the lifetime ends nothing changes',
      state: stateOf({ status: 'pending', attempts: 1, nextAttempt: later, reply: greylisted }),
      nowMs: born + LIFETIME - 1,
      expect: 'same',
    },
    {
      why: 'at the end of the lifetime pending recipients fail with 4.4.7, naming their last reply and no host',
      state: stateOf(
        { status: 'pending', attempts: 3, nextAttempt: later, reply: greylisted },
        { status: 'delivered', attempts: 1, reply: deliveryReply(250, '2.0.0', 'ok', 'mx.two.test') },
        { status: 'pending', attempts: 0 },
      ),
      nowMs: born + LIFETIME,
      expect: [
        {
          address: 'x@one.test',
          status: 'failed',
          attempts: 3,
          nextAttempt: later,
          reply: deliveryReply(451, '4.4.7', 'Message expired after 168 hours; last reply: 451 4.7.1 Greylisted'),
        },
        { address: 'y@two.test', status: 'delivered', attempts: 1, reply: deliveryReply(250, '2.0.0', 'ok', 'mx.two.test') },
        {
          address: 'z@three.test',
          status: 'failed',
          attempts: 0,
          reply: deliveryReply(451, '4.4.7', 'Message expired after 168 hours'),
        },
      ],
    },
    {
      why: 'nothing pending: nothing to expire',
      state: stateOf({ status: 'failed', attempts: 1, reply: unknown, bounced: true }),
      nowMs: born + 2 * LIFETIME,
      expect: 'same',
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const out = expire(c.state, born, c.nowMs, LIFETIME);
      if (c.expect === 'same') assert.equal(out, c.state);
      else assert.deepEqual(out.recipients, c.expect);
    });
  }
});

describe('administrator requests', () => {
  const state = stateOf(
    { status: 'pending', attempts: 1, nextAttempt: later, reply: greylisted },
    { status: 'delivered', attempts: 1 },
    { status: 'failed', attempts: 1, reply: unknown },
  );

  it('flush: every pending recipient is due now; the others are left alone', () => {
    const now = born + 60_000;
    const out = flushNow(state, now);
    assert.deepEqual(out.recipients[0], { ...state.recipients[0], nextAttempt: new Date(now).toISOString() });
    assert.deepEqual(out.recipients.slice(1), state.recipients.slice(1));
    assert.deepEqual(
      dueRecipients(out, envelope.received, now).map((r) => r.address),
      ['x@one.test'],
    );
  });

  it('bounce: every pending recipient fails with 5.0.0 and the reason, without a next attempt', () => {
    const out = bounceNow(state, BOUNCED_BY_ADMINISTRATOR);
    assert.deepEqual(out.recipients[0], {
      address: 'x@one.test',
      status: 'failed',
      attempts: 1,
      reply: deliveryReply(550, '5.0.0', 'Message bounced by the administrator'),
    });
    assert.deepEqual(out.recipients.slice(1), state.recipients.slice(1));
    assert.deepEqual(
      unbounced(out).map((r) => r.address),
      ['x@one.test', 'z@three.test'],
    );
  });

  it('neither changes a state with nothing pending', () => {
    const done = stateOf({ status: 'delivered', attempts: 1 });
    assert.equal(flushNow(done, born), done);
    assert.equal(bounceNow(done, 'x'), done);
  });
});

describe('what is due when', () => {
  const state = stateOf(
    { status: 'pending', attempts: 1, nextAttempt: new Date(born + 400_000).toISOString() },
    { status: 'pending', attempts: 0 },
    { status: 'delivered', attempts: 1 },
  );
  const cases: { why: string; nowMs: number; due: string[] }[] = [
    { why: 'a recipient without a time is due at arrival', nowMs: born, due: ['y@two.test'] },
    { why: 'one with a time when it comes', nowMs: born + 400_000, due: ['x@one.test', 'y@two.test'] },
  ];
  for (const c of cases) {
    it(c.why, () =>
      assert.deepEqual(
        dueRecipients(state, envelope.received, c.nowMs).map((r) => r.address),
        c.due,
      ),
    );
  }

  it('the next wake is the earliest pending time; none when nothing is pending', () => {
    assert.equal(nextDue(state, envelope.received), born);
    assert.equal(nextDue(stateOf({ status: 'delivered', attempts: 1 }), envelope.received), undefined);
  });
});

describe('bounces', () => {
  it('marks every failure bounced, which finishes a message with nothing pending', () => {
    const state = stateOf({ status: 'failed', attempts: 1, reply: unknown }, { status: 'delivered', attempts: 1 });
    assert.equal(finished(state), false);
    const out = markBounced(state);
    assert.deepEqual(unbounced(out), []);
    assert.equal(finished(out), true);
  });
});
