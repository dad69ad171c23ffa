/*
 * Hashed queue directories: every queue id has one bucket among BUCKETS, its
 * last character, and ids made by newQueueId spread evenly over them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUCKETS, bucketOf } from '../../core/queue/buckets.js';
import { newQueueId } from '../../core/queue/queue.js';

describe('queue buckets', () => {
  const cases: [string, string, string][] = [
    ['0MWT707BG0038AI', 'I', 'a letter'],
    ['0MWT707BG00380Z', 'Z', 'the last letter'],
    ['0MWT707BG003800', '0', 'a digit'],
  ];
  for (const [id, bucket, why] of cases) it(`${id}: ${why}`, () => assert.equal(bucketOf(id), bucket));

  it('has 36 buckets, one per character an id is made of', () => {
    assert.equal(new Set(BUCKETS).size, 36);
  });

  it('spreads 36,000 new ids within 25% of even', () => {
    const counts = new Map<string, number>();
    const now = Date.now();
    for (let i = 0; i < 36_000; i++) {
      const bucket = bucketOf(newQueueId(now));
      assert.ok(BUCKETS.includes(bucket), bucket);
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    for (const bucket of BUCKETS) {
      const n = counts.get(bucket) ?? 0;
      assert.ok(n > 750 && n < 1250, `bucket ${bucket} got ${n} of 36,000`);
    }
  });
});
