/*
 * Filter templates: expansions, RFC 4515 escaping of every value (so `*`, `(`,
 * `)`, `\` and NUL in an address or login cannot widen or restructure a
 * search: checked by matching the expanded filter against entries), and the
 * template problems setup reports.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FilterParser } from 'ldapts';
import { expandFilter, filterTemplateProblem, filterValues } from '../../../plugins/ldap-users/filter.js';

describe('expandFilter', () => {
  const rows: { why: string; template: string; input: string; expected: string }[] = [
    { why: '%s is the whole address', template: '(mail=%s)', input: 'alice@example.test', expected: '(mail=alice@example.test)' },
    {
      why: '%u and %d split at the last @',
      template: '(&(uid=%u)(dc=%d))',
      input: 'a@b@example.test',
      expected: '(&(uid=a@b)(dc=example.test))',
    },
    {
      why: 'a login without @: %u is all of it, %d empty',
      template: '(|(uid=%u)(o=%d))',
      input: 'alice',
      expected: '(|(uid=alice)(o=))',
    },
    { why: '%% is a percent sign', template: '(&(mail=%s)(x=100%%))', input: 'a@b', expected: '(&(mail=a@b)(x=100%))' },
    { why: 'a star is escaped', template: '(mail=%s)', input: '*@example.test', expected: '(mail=\\2a@example.test)' },
    { why: 'parentheses are escaped', template: '(uid=%s)', input: 'x)(uid=*', expected: '(uid=x\\29\\28uid=\\2a)' },
    { why: 'a backslash is escaped', template: '(uid=%s)', input: 'a\\2a', expected: '(uid=a\\5c2a)' },
    { why: 'NUL is escaped', template: '(uid=%s)', input: 'alice\0', expected: '(uid=alice\\00)' },
    { why: 'a value with % is not expanded again', template: '(uid=%s)', input: '%s%u', expected: '(uid=%s%u)' },
  ];
  for (const row of rows) {
    test(row.why, () => assert.equal(expandFilter(row.template, row.input), row.expected));
  }
});

describe('escaped values cannot widen a search', () => {
  const entries = [
    { uid: 'alice', mail: 'alice@example.test' },
    { uid: 'bob', mail: 'bob@example.test' },
  ];
  const matches = (filter: string) =>
    entries.filter((e) => FilterParser.parseString(filter).matches(e as unknown as Record<string, string>)).map((e) => e.uid);
  const template = '(|(mail=%s)(uid=%s))';
  const attempts = ['*', 'al*', '*@example.test', 'x)(uid=*', 'nobody)(|(uid=*', 'alice\\', '\0', '*)(mail=*'];
  for (const input of attempts) {
    test(JSON.stringify(input), () => {
      assert.deepEqual(matches(expandFilter(template, input)), [], 'escaped: matches nothing');
    });
  }
  test('the same inputs unescaped would have matched (the check can fail)', () => {
    assert.deepEqual(matches('(|(mail=al*)(uid=al*))'), ['alice']);
    assert.deepEqual(matches('(|(mail=*)(uid=*))'), ['alice', 'bob']);
  });
  test('the real user still matches', () => {
    assert.deepEqual(matches(expandFilter(template, 'alice@example.test')), ['alice']);
  });
});

describe('filterValues', () => {
  test('splits at the last @', () =>
    assert.deepEqual(filterValues('"a@b"@c.test'), { s: '"a@b"@c.test', u: '"a@b"', d: 'c.test' }));
});

describe('filterTemplateProblem', () => {
  const rows: { why: string; template: string; problem: RegExp | undefined }[] = [
    { why: 'a good template', template: '(&(objectClass=inetOrgPerson)(|(mail=%s)(mailLocalAddress=%s)))', problem: undefined },
    { why: 'an unknown expansion', template: '(mail=%x)', problem: /unknown expansion %x/ },
    { why: 'no expansion at all', template: '(objectClass=*)', problem: /uses none of %s, %u, %d/ },
    { why: 'unbalanced parentheses', template: '(&(mail=%s)', problem: /not an LDAP filter/ },
    { why: 'two filters side by side', template: '(mail=%s)(uid=%u)', problem: /must be one parenthesized filter/ },
    { why: 'no parentheses', template: 'mail=%s', problem: /must be one parenthesized filter/ },
    { why: 'a lone % at the end', template: '(mail=%s)%', problem: /lone "%"/ },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const got = filterTemplateProblem(row.template);
      if (row.problem === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '', row.problem);
    });
  }
});
