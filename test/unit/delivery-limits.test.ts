/*
 * Delivery's concurrency limits and whom a bounce goes to: pure parts of the
 * scheduler and the bouncer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { notifyWhom } from '../../core/delivery/bounce.js';
import { DeliveryLimits } from '../../core/delivery/semaphore.js';

/** A task that runs until released, and says when it started. */
function task(): { run: () => Promise<void>; started: boolean; release: () => void } {
  let release = () => {};
  const t = {
    started: false,
    release: () => release(),
    run: () =>
      new Promise<void>((resolve) => {
        t.started = true;
        release = resolve;
      }),
  };
  return t;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('DeliveryLimits', () => {
  it('a delivery waiting for a busy destination holds none of the slots other destinations share', async () => {
    const limits = new DeliveryLimits({ concurrencyLocal: 1, concurrencyRemote: 2, concurrencyPerDomain: 1 });
    const [a, b, c] = [task(), task(), task()];
    const done = [limits.remote('x', a.run), limits.remote('x', b.run), limits.remote('y', c.run)];
    await tick();
    assert.deepEqual([a.started, b.started, c.started], [true, false, true], 'y starts while x is busy');
    a.release();
    await tick();
    assert.equal(b.started, true);
    b.release();
    c.release();
    await Promise.all(done);
  });

  it('the remote limit holds across destinations', async () => {
    const limits = new DeliveryLimits({ concurrencyLocal: 1, concurrencyRemote: 1, concurrencyPerDomain: 5 });
    const [a, b] = [task(), task()];
    const done = [limits.remote('x', a.run), limits.remote('y', b.run)];
    await tick();
    assert.deepEqual([a.started, b.started], [true, false]);
    a.release();
    await tick();
    assert.equal(b.started, true);
    b.release();
    await Promise.all(done);
  });

  it('forgets a destination once nothing runs or waits for it', async () => {
    const limits = new DeliveryLimits({ concurrencyLocal: 1, concurrencyRemote: 5, concurrencyPerDomain: 1 });
    const [a, b] = [task(), task()];
    const done = [limits.remote('x', a.run), limits.remote('x', b.run)];
    await tick();
    assert.equal(limits.destinationCount, 1);
    a.release();
    await tick();
    assert.equal(limits.destinationCount, 1, 'b still runs');
    b.release();
    await Promise.all(done);
    assert.equal(limits.destinationCount, 0);
    await limits.remote('x', async () => {});
    await limits.remote('y', () => Promise.reject(new Error('refused'))).catch(() => {});
    assert.equal(limits.destinationCount, 0, 'a failed delivery is forgotten too');
  });
});

describe('notifyWhom', () => {
  const cases: {
    why: string;
    env: { sender: string; doubleBounce?: boolean };
    doubleBounce: string | undefined;
    expect: ReturnType<typeof notifyWhom>;
  }[] = [
    {
      why: 'the sender of a message',
      env: { sender: 'a@x.test' },
      doubleBounce: 'pm@x.test',
      expect: { to: 'a@x.test', double: false },
    },
    {
      why: 'a bounce goes once to the double-bounce address',
      env: { sender: '' },
      doubleBounce: 'pm@x.test',
      expect: { to: 'pm@x.test', double: true },
    },
    {
      why: 'a bounce without a double-bounce address: nobody (RFC 5321 6.1)',
      env: { sender: '' },
      doubleBounce: undefined,
      expect: undefined,
    },
    {
      why: 'a double bounce: nobody, never a loop',
      env: { sender: '', doubleBounce: true },
      doubleBounce: 'pm@x.test',
      expect: undefined,
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(notifyWhom(c.env, c.doubleBounce), c.expect));
});
