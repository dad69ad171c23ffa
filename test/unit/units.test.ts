import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDuration, parseSize, UNIT_PARSERS } from '../../core/config/units.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('parseSize', () => {
  const rows: Array<{ why: string; value: unknown; expected: number | undefined }> = [
    { why: 'megabytes', value: '25MB', expected: 25 * MiB },
    { why: 'kibibytes', value: '512KiB', expected: 512 * KiB },
    { why: 'a plain number is octets', value: 1048576, expected: 1048576 },
    { why: 'zero', value: 0, expected: 0 },
    { why: 'largest safe integer', value: Number.MAX_SAFE_INTEGER, expected: Number.MAX_SAFE_INTEGER },
    { why: 'fraction with a unit', value: '1.5k', expected: 1536 },
    { why: 'digits without a unit', value: '10', expected: 10 },
    { why: 'zero as text', value: '0', expected: 0 },
    { why: 'b suffix', value: '10b', expected: 10 },
    { why: 'space before the unit and around', value: ' 10 KB ', expected: 10 * KiB },
    { why: 'unit case-insensitive', value: '3mb', expected: 3 * MiB },
    { why: 'single-letter m', value: '2M', expected: 2 * MiB },
    { why: 'gigabytes', value: '1g', expected: GiB },
    { why: 'gibibytes', value: '2GiB', expected: 2 * GiB },
    { why: 'fraction rounded to an octet', value: '0.5k', expected: 512 },
    { why: 'word', value: 'lots', expected: undefined },
    { why: 'unknown unit', value: '1TB', expected: undefined },
    { why: 'unit without number', value: 'MB', expected: undefined },
    { why: 'negative number', value: -1, expected: undefined },
    { why: 'negative text', value: '-1MB', expected: undefined },
    { why: 'non-integer number', value: 1.5, expected: undefined },
    { why: 'NaN', value: Number.NaN, expected: undefined },
    { why: 'Infinity', value: Number.POSITIVE_INFINITY, expected: undefined },
    { why: 'unsafe integer', value: 2 ** 53, expected: undefined },
    { why: 'text beyond the safe range', value: '9007199254740993', expected: undefined },
    { why: 'unit pushing beyond the safe range', value: '99999999999GB', expected: undefined },
    { why: 'exponent notation', value: '1e3', expected: undefined },
    { why: 'two numbers', value: '1 2', expected: undefined },
    { why: 'empty string', value: '', expected: undefined },
    { why: 'blank string', value: '   ', expected: undefined },
    { why: 'null', value: null, expected: undefined },
    { why: 'boolean', value: true, expected: undefined },
    { why: 'object', value: { size: 1 }, expected: undefined },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.equal(parseSize(row.value), row.expected);
    });
  }
});

describe('parseDuration', () => {
  const rows: Array<{ why: string; value: unknown; expected: number | undefined }> = [
    { why: 'a plain number is seconds', value: 30, expected: 30_000 },
    { why: 'zero', value: 0, expected: 0 },
    { why: 'fractional seconds', value: 0.5, expected: 500 },
    { why: 'milliseconds', value: '500ms', expected: 500 },
    { why: 'minutes', value: '5m', expected: 300_000 },
    { why: 'days', value: '7d', expected: 7 * 86_400_000 },
    { why: 'hours', value: '2h', expected: 7_200_000 },
    { why: 'seconds', value: '30s', expected: 30_000 },
    { why: 'digits without a unit are seconds', value: '30', expected: 30_000 },
    { why: 'fraction with a unit', value: '1.5s', expected: 1500 },
    { why: 'fraction of a millisecond rounded', value: '1.4ms', expected: 1 },
    { why: 'spaces around', value: ' 5 m ', expected: 300_000 },
    { why: 'unit case-insensitive', value: '10S', expected: 10_000 },
    { why: 'word', value: 'lots', expected: undefined },
    { why: 'unknown unit', value: '2w', expected: undefined },
    { why: 'unit spelt out', value: '5 minutes', expected: undefined },
    { why: 'negative number', value: -1, expected: undefined },
    { why: 'negative text', value: '-5s', expected: undefined },
    { why: 'NaN', value: Number.NaN, expected: undefined },
    { why: 'Infinity', value: Number.POSITIVE_INFINITY, expected: undefined },
    { why: 'exponent notation', value: '1e3', expected: undefined },
    { why: 'empty string', value: '', expected: undefined },
    { why: 'null', value: null, expected: undefined },
    { why: 'array', value: [30], expected: undefined },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.equal(parseDuration(row.value), row.expected);
    });
  }
});

describe('UNIT_PARSERS', () => {
  test('maps unit names to their parsers', () => {
    assert.equal(UNIT_PARSERS.size, parseSize);
    assert.equal(UNIT_PARSERS.duration, parseDuration);
  });
});
