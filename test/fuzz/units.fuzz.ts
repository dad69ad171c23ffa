/*
 * Fuzz target: sizes and durations as admins write them (core/config/units.ts).
 * Never throws; a result is a safe integer >= 0 (a duration fits a timer);
 * white space around the value does not matter; and a number written with a
 * unit means that number times the unit.
 */
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../core/config/units.js';

const MAX_TIMER = 2 ** 31 - 1;

function times(n: number, factor: number, max: number): number | undefined {
  const v = n * factor;
  return Number.isSafeInteger(v) && v <= max ? v : undefined;
}

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  for (const [parse, max] of [
    [parseSize, Number.MAX_SAFE_INTEGER],
    [parseDuration, MAX_TIMER],
  ] as const) {
    const value = parse(text);
    if (value !== undefined)
      assert.ok(Number.isSafeInteger(value) && value >= 0 && value <= max, `${JSON.stringify(text)}: ${value}`);
    assert.equal(parse(` ${text}\t`), value, 'white space around the value');
  }
  const n = data.length === 0 ? 0 : data.readUIntLE(0, Math.min(6, data.length));
  assert.equal(parseSize(n), n);
  assert.equal(parseSize(String(n)), n);
  assert.equal(parseSize(`${n} KiB`), times(n, 1024, Number.MAX_SAFE_INTEGER));
  assert.equal(parseSize(`${n}g`), times(n, 1024 ** 3, Number.MAX_SAFE_INTEGER));
  assert.equal(parseDuration(n), times(n, 1000, MAX_TIMER));
  assert.equal(parseDuration(`${n}ms`), times(n, 1, MAX_TIMER));
  assert.equal(parseDuration(`${n} d`), times(n, 86_400_000, MAX_TIMER));
}
