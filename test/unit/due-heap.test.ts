/*
 * The scheduler's due heap: the earliest message first, a new time replaces
 * the old one, deleted and replaced entries never surface, and stale nodes do
 * not pile up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DueHeap } from '../../core/delivery/due-heap.js';

type Step = ['set', string, number] | ['delete', string];

const cases: { name: string; steps: Step[]; now: number; due: string[]; left: number }[] = [
  { name: 'empty', steps: [], now: 100, due: [], left: 0 },
  {
    name: 'earliest first, only what is due',
    steps: [
      ['set', 'C', 30],
      ['set', 'A', 10],
      ['set', 'D', 200],
      ['set', 'B', 20],
    ],
    now: 100,
    due: ['A', 'B', 'C'],
    left: 1,
  },
  {
    name: 'equal times go in id order (ids sort by age)',
    steps: [
      ['set', 'B', 5],
      ['set', 'C', 5],
      ['set', 'A', 5],
    ],
    now: 5,
    due: ['A', 'B', 'C'],
    left: 0,
  },
  {
    name: 'a later time replaces an earlier one',
    steps: [
      ['set', 'A', 10],
      ['set', 'B', 20],
      ['set', 'A', 500],
    ],
    now: 100,
    due: ['B'],
    left: 1,
  },
  {
    name: 'an earlier time replaces a later one',
    steps: [
      ['set', 'A', 500],
      ['set', 'B', 20],
      ['set', 'A', 10],
    ],
    now: 100,
    due: ['A', 'B'],
    left: 0,
  },
  {
    name: 'back to an old time: still due once',
    steps: [
      ['set', 'A', 10],
      ['set', 'A', 50],
      ['set', 'A', 10],
    ],
    now: 100,
    due: ['A'],
    left: 0,
  },
  {
    name: 'a deleted entry never surfaces',
    steps: [
      ['set', 'A', 10],
      ['set', 'B', 20],
      ['delete', 'A'],
    ],
    now: 100,
    due: ['B'],
    left: 0,
  },
  {
    name: 'deleted, then set again',
    steps: [
      ['set', 'A', 10],
      ['delete', 'A'],
      ['set', 'A', 300],
    ],
    now: 100,
    due: [],
    left: 1,
  },
];

function popAll(heap: DueHeap, now: number): string[] {
  const out: string[] = [];
  for (let id = heap.popDue(now); id !== undefined; id = heap.popDue(now)) out.push(id);
  return out;
}

describe('DueHeap', () => {
  for (const c of cases) {
    it(c.name, () => {
      const heap = new DueHeap();
      for (const step of c.steps) {
        if (step[0] === 'set') heap.set(step[1], step[2]);
        else heap.delete(step[1]);
      }
      assert.deepEqual(popAll(heap, c.now), c.due);
      assert.equal(heap.size, c.left);
    });
  }

  it('peek shows the earliest live entry and its time', () => {
    const heap = new DueHeap();
    heap.set('B', 20);
    heap.set('A', 10);
    heap.set('A', 40);
    assert.deepEqual(heap.peek(), { dueMs: 20, id: 'B' });
    assert.equal(heap.dueAt('A'), 40);
    heap.delete('B');
    assert.deepEqual(heap.peek(), { dueMs: 40, id: 'A' });
  });

  it('sorts many random times like Array.sort, and rescheduling keeps its nodes bounded', () => {
    const heap = new DueHeap();
    const want = new Map<string, number>();
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 5000; i++) {
      const id = `M${String(random() % 2000).padStart(5, '0')}`;
      const due = random() % 100_000;
      heap.set(id, due);
      want.set(id, due);
      if (random() % 7 === 0) {
        heap.delete(id);
        want.delete(id);
      }
      assert.ok((heap as unknown as { nodes: unknown[] }).nodes.length <= 2 * want.size + 65, 'stale nodes are compacted');
    }
    const expected = [...want].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id);
    assert.deepEqual(popAll(heap, Number.MAX_SAFE_INTEGER), expected);
  });
});
