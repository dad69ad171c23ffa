/*
 * rcpthosts matching, as qmail's: exact entries and ".sub" entries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainTable, parseControlFile } from '../../../plugins/rcpthosts/domains.js';

describe('DomainTable', () => {
  const table = new DomainTable(['example.net', '.example.org', 'Mixed.Case.test', '[192.0.2.1]']);
  const cases: { domain: string; match: boolean; why: string }[] = [
    { domain: 'example.net', match: true, why: 'exact entry' },
    { domain: 'EXAMPLE.NET', match: true, why: 'case-insensitive' },
    { domain: 'mail.example.net', match: false, why: 'an exact entry does not cover sub-domains' },
    { domain: 'example.org', match: false, why: 'a ".sub" entry does not cover the domain itself' },
    { domain: 'a.example.org', match: true, why: '".sub" covers a sub-domain' },
    { domain: 'a.b.c.example.org', match: true, why: '".sub" covers deeper sub-domains' },
    { domain: 'notexample.org', match: false, why: 'suffix match is per label' },
    { domain: 'mixed.case.test', match: true, why: 'entries are lower-cased' },
    { domain: '[192.0.2.1]', match: true, why: 'address literal, exact' },
    { domain: '[192.0.2.2]', match: false, why: 'other address literal' },
    { domain: 'example.net.evil.test', match: false, why: 'our name as a prefix is not ours' },
  ];
  for (const c of cases) {
    it(c.why, () => assert.equal(table.matches(c.domain), c.match));
  }

  it('handles 100,000 entries with hash lookups', () => {
    const big = new DomainTable(Array.from({ length: 100_000 }, (_, i) => (i % 2 ? `d${i}.test` : `.s${i}.test`)));
    assert.equal(big.size, 100_000);
    assert.equal(big.matches('d99999.test'), true);
    assert.equal(big.matches('x.y.s99998.test'), true);
    assert.equal(big.matches('d100001.test'), false);
  });
});

describe('parseControlFile', () => {
  it('reads one entry per line, skipping comments and blank lines', () => {
    assert.deepEqual(parseControlFile('# our domains\nexample.net\n\n  .example.org  # subs\r\n#x\n'), [
      'example.net',
      '.example.org',
    ]);
  });
});
