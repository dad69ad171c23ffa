import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataRateBudget } from '../../core/smtp/data-rate.js';

/** [milliseconds since DATA, bytes received then] */
type Arrival = [number, number];

describe('DataRateBudget (smtpd_min_data_rate)', () => {
  const rows: Array<{ why: string; budget: number; rate: number; arrivals: Arrival[]; at: number; left: number }> = [
    { why: 'full budget at the start', budget: 1000, rate: 500, arrivals: [], at: 0, left: 1000 },
    { why: 'waiting uses it up', budget: 1000, rate: 500, arrivals: [], at: 1000, left: 0 },
    { why: 'a byte earns 1/rate s', budget: 1000, rate: 500, arrivals: [[600, 100]], at: 600, left: 600 },
    {
      why: 'never more than the full budget: a fast client may then pause for it',
      budget: 1000,
      rate: 500,
      arrivals: [[10, 1_000_000]],
      at: 1010,
      left: 0,
    },
    {
      why: 'a client at the rate keeps its budget',
      budget: 1000,
      rate: 1000,
      arrivals: [
        [100, 100],
        [200, 100],
        [300, 100],
        [400, 100],
      ],
      at: 400,
      left: 1000,
    },
    {
      why: 'a trickle (1 byte per 200 ms at 1000 bytes/s) runs out after about one budget',
      budget: 1000,
      rate: 1000,
      arrivals: [
        [200, 1],
        [400, 1],
        [600, 1],
        [800, 1],
        [1000, 1],
      ],
      at: 1000,
      left: 5,
    },
    {
      why: 'half the rate runs out after two budgets',
      budget: 1000,
      rate: 1000,
      arrivals: Array.from({ length: 20 }, (_, i): Arrival => [(i + 1) * 100, 50]),
      at: 2000,
      left: 0,
    },
    { why: 'rate 0: no limit', budget: 1000, rate: 0, arrivals: [], at: 1e9, left: Number.POSITIVE_INFINITY },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const budget = new DataRateBudget(row.budget, row.rate, 0);
      for (const [at, bytes] of row.arrivals) budget.received(bytes, at);
      assert.equal(budget.left(row.at), row.left);
    });
  }

  test('restart gives the full budget back from that moment', () => {
    const budget = new DataRateBudget(1000, 500, 0);
    assert.equal(budget.left(900), 100);
    budget.restart(900);
    assert.equal(budget.left(900), 1000);
    assert.equal(budget.left(1400), 500);
  });

  test('counts the same however the bytes are split', () => {
    const once = new DataRateBudget(60_000, 500, 0);
    once.received(10_000, 5000);
    const split = new DataRateBudget(60_000, 500, 0);
    for (let i = 1; i <= 100; i++) split.received(100, i * 50);
    assert.equal(once.left(5000), split.left(5000));
  });
});
