/*
 * Group commit: concurrent callers share fsyncs, and nobody is answered by an
 * fsync that started before they asked (durability invariant 4).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupSync, type SyncOnce } from '../../core/queue/group-sync.js';

/** A fake sync that records when each call started and lets the test finish it. */
function controllableSync() {
  const started: number[] = [];
  const pending: ((err: Error | null) => void)[] = [];
  let clock = 0;
  const sync: SyncOnce = (cb) => {
    started.push(clock++);
    pending.push(cb);
  };
  return {
    sync,
    started,
    finishNext(err: Error | null = null) {
      const cb = pending.shift();
      assert.ok(cb, 'no sync running');
      cb(err);
    },
    get running() {
      return pending.length;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('GroupSync', () => {
  it('shares one sync among callers that arrive while another runs', async () => {
    const fake = controllableSync();
    const group = new GroupSync(fake.sync);
    const order: string[] = [];
    const first = group.sync().then(() => order.push('first'));
    assert.equal(fake.running, 1);
    const waiting = [1, 2, 3].map((n) => group.sync().then(() => order.push(`late${n}`)));
    assert.equal(fake.running, 1, 'late callers wait for the next sync, none starts yet');
    fake.finishNext();
    await first;
    await tick();
    assert.deepEqual(order, ['first'], 'a sync that began before them does not answer the late callers');
    assert.equal(fake.running, 1, 'one sync now runs for all three');
    fake.finishNext();
    await Promise.all(waiting);
    assert.deepEqual(order, ['first', 'late1', 'late2', 'late3']);
    assert.equal(fake.started.length, 2, 'four callers, two syncs');
  });

  it('passes a sync error to every caller of that batch, and recovers', async () => {
    const fake = controllableSync();
    const group = new GroupSync(fake.sync);
    const a = group.sync();
    const b = group.sync();
    const c = group.sync();
    fake.finishNext();
    await a;
    fake.finishNext(new Error('EIO'));
    await assert.rejects(b, /EIO/);
    await assert.rejects(c, /EIO/);
    const d = group.sync();
    fake.finishNext();
    await d;
  });

  it('without grouping every caller gets its own sync', async () => {
    const fake = controllableSync();
    const group = new GroupSync(fake.sync, false);
    const calls = [group.sync(), group.sync(), group.sync()];
    assert.equal(fake.running, 3);
    fake.finishNext();
    fake.finishNext();
    fake.finishNext();
    await Promise.all(calls);
  });
});
