/*
 * What a score leads to: reject, tag (with or without a Subject prefix) or the
 * "No" status, against spamd's required score or the configured thresholds; the
 * X-Spam-Status line stays within 998 octets however many tests spamd names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, statusValue, type Thresholds } from '../../../plugins/spamassassin/verdict.js';

const DEFAULT: Thresholds = { tag: undefined, reject: undefined, subjectPrefix: '' };

describe('decide', () => {
  const cases: {
    why: string;
    score: number;
    thresholds?: Partial<Thresholds>;
    subject?: string;
    result: 'reject' | 'spam' | 'ham';
    headers: string[];
    newSubject?: string;
  }[] = [
    {
      why: "GTUBE against spamd's required score: tagged",
      score: 1000,
      result: 'spam',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 1000.0', 'X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE'],
    },
    {
      why: 'exactly the required score is spam (SpamAssassin: score >= required)',
      score: 5,
      result: 'spam',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 5.0', 'X-Spam-Status: Yes, score=5.0 required=5.0 tests=GTUBE'],
    },
    { why: 'ham', score: -0.1, result: 'ham', headers: ['X-Spam-Status: No, score=-0.1 required=5.0 tests=GTUBE'] },
    {
      why: 'a tag threshold above the score: not tagged, the status names our threshold',
      score: 1000,
      thresholds: { tag: 2000 },
      result: 'ham',
      headers: ['X-Spam-Status: No, score=1000.0 required=2000.0 tests=GTUBE'],
    },
    {
      why: 'a lower tag threshold tags what spamd calls ham',
      score: 3.2,
      thresholds: { tag: 3 },
      result: 'spam',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 3.2', 'X-Spam-Status: Yes, score=3.2 required=3.0 tests=GTUBE'],
    },
    {
      why: 'at or above reject: refused',
      score: 1000,
      thresholds: { reject: 15 },
      result: 'reject',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 1000.0', 'X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE'],
    },
    {
      why: 'below reject, above tag: tagged, with the Subject prefix',
      score: 10,
      thresholds: { reject: 15, subjectPrefix: '[SPAM]' },
      subject: 'cheap pills',
      result: 'spam',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 10.0', 'X-Spam-Status: Yes, score=10.0 required=5.0 tests=GTUBE'],
      newSubject: '[SPAM] cheap pills',
    },
    {
      why: 'a Subject already prefixed keeps one prefix',
      score: 10,
      thresholds: { subjectPrefix: '[SPAM]' },
      subject: '[SPAM] cheap pills',
      result: 'spam',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 10.0', 'X-Spam-Status: Yes, score=10.0 required=5.0 tests=GTUBE'],
    },
    {
      why: 'no Subject at all: the prefix becomes one',
      score: 10,
      thresholds: { subjectPrefix: '[SPAM]' },
      result: 'spam',
      headers: ['X-Spam-Flag: YES', 'X-Spam-Score: 10.0', 'X-Spam-Status: Yes, score=10.0 required=5.0 tests=GTUBE'],
      newSubject: '[SPAM]',
    },
    {
      why: 'ham keeps its Subject',
      score: 1,
      thresholds: { subjectPrefix: '[SPAM]' },
      subject: 'hello',
      result: 'ham',
      headers: ['X-Spam-Status: No, score=1.0 required=5.0 tests=GTUBE'],
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const out = decide({ score: c.score, required: 5 }, ['GTUBE'], { ...DEFAULT, ...c.thresholds }, c.subject);
      assert.equal(out.result, c.result);
      assert.deepEqual(
        out.headers.map((h) => `${h.name}: ${h.value}`),
        c.headers,
      );
      assert.equal(out.subject, c.newSubject);
    });
  }
});

describe('statusValue', () => {
  it('says "none" when no test hit', () => {
    assert.equal(statusValue('No', '0.0', '5.0', []), 'No, score=0.0 required=5.0 tests=none');
  });
  it('cuts a long tests list at a comma, within 998 octets per line', () => {
    const tests = Array.from({ length: 200 }, (_, i) => `SOME_LONG_RULE_NAME_${i}`);
    const value = statusValue('Yes', '50.0', '5.0', tests);
    assert.ok(`X-Spam-Status: ${value}`.length <= 998, String(value.length));
    assert.match(value, /tests=SOME_LONG_RULE_NAME_0,.*,\.\.\.$/);
  });
  it('one absurdly long name is left out whole', () => {
    assert.equal(statusValue('Yes', '50.0', '5.0', ['X'.repeat(2000)]), 'Yes, score=50.0 required=5.0 tests=...');
  });
});
