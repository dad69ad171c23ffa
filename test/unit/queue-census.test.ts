/*
 * The queue gauges' census: totals by state from names and sizes (a delivery
 * state file makes a message deferred; the oldest comes from the ids), checked
 * as a table and against a real file queue.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { initialState } from '../../core/delivery/state.js';
import { arrivalOf, CensusTally } from '../../core/queue/census.js';
import type { FileQueue } from '../../core/queue/file-queue.js';
import { newQueueId } from '../../core/queue/queue.js';
import { openTempQueue, type TempQueue } from '../harness/temp-queue.js';

describe('census by state', () => {
  test('an id gives back its arrival time', () => {
    const at = Date.parse('2026-11-30T12:34:56.789Z');
    assert.equal(arrivalOf(newQueueId(at)), at);
  });

  test('new and deferred apart, octets summed, the oldest of each by arrival', () => {
    const [a, b, c, d] = [1_000, 2_000, 3_000, 4_000].map((t) => newQueueId(Date.UTC(2026, 0, 1) + t)) as [
      string,
      string,
      string,
      string,
    ];
    const tally = new CensusTally();
    tally.add(d, 40, true);
    tally.add(b, 20, false);
    tally.add(a, 10, false);
    tally.add(c, 30, true);
    const census = tally.result();
    assert.deepEqual(census.states.get('new'), { messages: 2, bytes: 30, oldestMs: arrivalOf(a) });
    assert.deepEqual(census.states.get('deferred'), { messages: 2, bytes: 70, oldestMs: arrivalOf(c) });
  });

  test('an empty queue has no states', () => assert.equal(new CensusTally().result().states.size, 0));
});

describe('FileQueue.census', () => {
  let temp: TempQueue;
  let queue: FileQueue;
  const commit = (body: string) => temp.commit(body);

  before(async () => {
    temp = await openTempQueue('qgate-census-');
    queue = temp.queue;
  });

  after(() => temp.remove());

  const sizeOf = (id: string) => statSync(queue.entryPath(id)).size;

  test('counts what is queued by whether it has a delivery state, and follows removals', async () => {
    const first = await commit('Subject: one\r\n\r\nshort\r\n');
    const second = await commit(`Subject: two\r\n\r\n${'x'.repeat(5_000)}\r\n`);
    const third = await commit('Subject: three\r\n\r\nbody\r\n');
    await queue.writeState(initialState(second));

    let census = await queue.census();
    assert.deepEqual(census.states.get('new'), {
      messages: 2,
      bytes: sizeOf(first.id) + sizeOf(third.id),
      oldestMs: arrivalOf(first.id),
    });
    assert.deepEqual(census.states.get('deferred'), { messages: 1, bytes: sizeOf(second.id), oldestMs: arrivalOf(second.id) });

    await queue.remove(first.id);
    await queue.remove(second.id);
    census = await queue.census();
    assert.deepEqual(census.states.get('new'), { messages: 1, bytes: sizeOf(third.id), oldestMs: arrivalOf(third.id) });
    assert.equal(census.states.get('deferred'), undefined);
  });
});
