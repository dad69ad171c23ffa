/*
 * Admin-written patterns: RE2 syntax, whole-value and case-insensitive
 * matches, linear-time answers on the inputs that make a backtracking engine
 * take exponential time, and the constructs RE2 refuses, each with its reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePattern, patternProblem } from '../../core/config/pattern.js';

describe('compilePattern', () => {
  const cases: { source: string; value: string; matches: boolean; why: string }[] = [
    { source: 'bounce-[0-9]+@lists\\.test', value: 'bounce-17@lists.test', matches: true, why: 'a class and a repeat' },
    { source: 'bounce-[0-9]+@lists\\.test', value: 'xbounce-17@lists.test', matches: false, why: 'anchored at the start' },
    { source: 'bounce-[0-9]+@lists\\.test', value: 'bounce-17@lists.test.org', matches: false, why: 'anchored at the end' },
    { source: 'a|ab', value: 'ab', matches: true, why: 'the whole value, not the first alternative that fits a prefix' },
    { source: 'spam@example\\.com', value: 'SPAM@Example.COM', matches: true, why: 'case-insensitive' },
    { source: '\\d+(\\.\\d+){3}', value: '192.0.2.1', matches: true, why: 'Perl classes' },
    { source: 'user\\@example\\.com', value: 'user@example.com', matches: true, why: 'escaped punctuation is literal' },
    { source: '(a+)+b@x', value: 'aaab@x', matches: true, why: 'nested quantifiers match' },
    // V8 needs about 2^30 steps for this one (seconds); at 480 characters, longer than the universe's age.
    { source: '(a+)+b@x', value: `${'a'.repeat(30)}@x`, matches: false, why: 'ReDoS input, 30 characters' },
    { source: '(a+)+b@x', value: `${'a'.repeat(480)}@x`, matches: false, why: 'ReDoS input, a whole command line' },
    { source: '(x+x+)+y', value: 'x'.repeat(480), matches: false, why: 'another exponential shape' },
  ];
  for (const c of cases) {
    it(c.why, () => assert.equal(compilePattern(c.source).matches(c.value), c.matches));
  }
});

describe('patternProblem', () => {
  const LINEAR = '(patterns are RE2 syntax, matched in linear time)';
  const cases: { source: string; problem: string | undefined; why: string }[] = [
    { source: 'bounce-[0-9]+@lists\\.test', problem: undefined, why: 'a valid pattern' },
    { source: '(.)\\1@x', problem: `backreferences such as \\1 are not supported ${LINEAR}`, why: 'backreference' },
    { source: '(?=a)b', problem: `lookahead and lookbehind such as (?= are not supported ${LINEAR}`, why: 'lookahead' },
    { source: 'x(?!a)', problem: `lookahead and lookbehind such as (?! are not supported ${LINEAR}`, why: 'negative lookahead' },
    { source: '(?<=a)b', problem: `lookahead and lookbehind such as (?<= are not supported ${LINEAR}`, why: 'lookbehind' },
    {
      source: '(?<!a)b',
      problem: `lookahead and lookbehind such as (?<! are not supported ${LINEAR}`,
      why: 'negative lookbehind',
    },
    { source: '(unclosed', problem: 'missing closing )', why: 'unterminated group' },
    { source: 'a)|(b', problem: 'unexpected )', why: 'only valid once wrapped in a group' },
    { source: '*', problem: 'missing argument to repetition operator', why: 'nothing to repeat' },
    { source: 'x{1001}', problem: 'invalid repeat count: {1001}', why: 'RE2 caps counted repeats at 1000' },
    { source: '\\e', problem: 'invalid escape sequence', why: 'an escape RE2 does not know' },
  ];
  for (const c of cases) it(c.why, () => assert.equal(patternProblem(c.source), c.problem));

  it('compilePattern throws the same reason', () => {
    assert.throws(() => compilePattern('(.)\\1'), { message: `backreferences such as \\1 are not supported ${LINEAR}` });
  });
});
