/*
 * qmail-style domain lists, as rcpthosts, local_domains and routes use them:
 * exact entries, ".sub" entries, "*", the most specific match first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainSet } from '../../core/model/index.js';

describe('DomainSet', () => {
  const set = new DomainSet(['example.net', '.example.org', 'Mixed.Case.test', '[192.0.2.1]', ' ', '.b.example.org']);
  const cases: { domain: string; match: string | undefined; why: string }[] = [
    { domain: 'example.net', match: 'example.net', why: 'exact entry' },
    { domain: 'EXAMPLE.NET', match: 'example.net', why: 'case-insensitive' },
    { domain: 'mail.example.net', match: undefined, why: 'an exact entry does not cover sub-domains' },
    { domain: 'example.org', match: undefined, why: 'a ".sub" entry does not cover the domain itself' },
    { domain: 'a.example.org', match: '.example.org', why: '".sub" covers a sub-domain' },
    { domain: 'a.b.example.org', match: '.b.example.org', why: 'the closest ".sub" entry is the most specific' },
    { domain: 'a.b.c.example.org', match: '.example.org', why: '".sub" covers deeper sub-domains' },
    { domain: 'b.example.org', match: '.example.org', why: '".b.example.org" does not cover b.example.org itself' },
    { domain: 'notexample.org', match: undefined, why: 'suffix match is per label' },
    { domain: 'mixed.case.test', match: 'mixed.case.test', why: 'entries are lower-cased' },
    { domain: '[192.0.2.1]', match: '[192.0.2.1]', why: 'address literal, exact' },
    { domain: '[192.0.2.2]', match: undefined, why: 'other address literal' },
    { domain: 'example.net.evil.test', match: undefined, why: 'our name as a prefix is not ours' },
    { domain: '', match: undefined, why: 'the empty domain' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      assert.equal(set.match(c.domain), c.match);
      assert.equal(set.has(c.domain), c.match !== undefined);
    });
  }

  it('"*" covers every domain, after the more specific entries', () => {
    const routes = new DomainSet(['*', 'example.net', '.example.net']);
    assert.equal(routes.match('example.net'), 'example.net');
    assert.equal(routes.match('a.example.net'), '.example.net');
    assert.equal(routes.match('elsewhere.test'), '*');
    assert.equal(routes.match('[192.0.2.9]'), '*');
  });

  it('counts, lists and joins its entries; blanks are skipped', () => {
    assert.equal(set.size, 5);
    assert.deepEqual(set.entries(), ['[192.0.2.1]', 'example.net', 'mixed.case.test', '.b.example.org', '.example.org']);
    const both = new DomainSet(['a.test']).union(new DomainSet(['.b.test', '*', 'a.test']));
    assert.deepEqual(both.entries(), ['a.test', '.b.test', '*']);
    assert.equal(new DomainSet().size, 0);
    assert.equal(new DomainSet().has('a.test'), false);
  });

  it('handles 100,000 entries with hash lookups', () => {
    const big = new DomainSet(Array.from({ length: 100_000 }, (_, i) => (i % 2 ? `d${i}.test` : `.s${i}.test`)));
    assert.equal(big.size, 100_000);
    assert.equal(big.has('d99999.test'), true);
    assert.equal(big.has('x.y.s99998.test'), true);
    assert.equal(big.has('d100001.test'), false);
  });
});
