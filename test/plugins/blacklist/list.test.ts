/*
 * blacklist matching: exact entries, "@domain" entries and anchored,
 * case-insensitive regexes, the list-file format, and the mailbox a list is
 * checked against.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Address } from '../../../core/plugin-api/index.js';
import { BlockList, entryText, type ListEntry, mailbox, parseListFile } from '../../../plugins/blacklist/list.js';

const plain = (text: string): ListEntry => ({ text, regex: false, origin: 'test' });
const regex = (text: string): ListEntry => ({ text, regex: true, origin: 'test' });

describe('BlockList of addresses', () => {
  const list = new BlockList('address', [
    plain('spammer@example.com'),
    plain('Mixed.Case@Example.NET'),
    plain('@spam.test'),
    plain('@[192.0.2.1]'),
    regex('.*@.*\\.dynamic\\.test'),
    regex('bounce-[0-9]+@lists\\.test'),
    regex('(a+)+b@redos\\.test'),
    plain('postmaster'),
  ]);
  const cases: { value: string; entry: string | undefined; why: string }[] = [
    { value: 'spammer@example.com', entry: 'spammer@example.com', why: 'exact entry' },
    { value: 'SPAMMER@Example.Com', entry: 'spammer@example.com', why: 'exact entries ignore case' },
    {
      value: 'mixed.case@example.net',
      entry: 'Mixed.Case@Example.NET',
      why: 'entries are lower-cased; the decision shows them as written',
    },
    { value: 'other@example.com', entry: undefined, why: 'another user of the same domain' },
    { value: 'spammer@example.com.evil.test', entry: undefined, why: 'an exact entry is not a prefix' },
    { value: 'xspammer@example.com', entry: undefined, why: 'an exact entry is not a suffix' },
    { value: 'anyone@spam.test', entry: '@spam.test', why: '@domain covers every user of the domain' },
    { value: 'anyone@SPAM.TEST', entry: '@spam.test', why: '@domain ignores case' },
    { value: 'anyone@sub.spam.test', entry: undefined, why: '@domain does not cover sub-domains' },
    { value: 'anyone@notspam.test', entry: undefined, why: '@domain is the whole domain, not a suffix' },
    { value: 'x@[192.0.2.1]', entry: '@[192.0.2.1]', why: '@domain with an address literal' },
    { value: 'a@host.dynamic.test', entry: 'regex:.*@.*\\.dynamic\\.test', why: 'regex hit' },
    { value: 'A@HOST.DYNAMIC.TEST', entry: 'regex:.*@.*\\.dynamic\\.test', why: 'regex ignores case' },
    { value: 'a@host.dynamic.test.example', entry: undefined, why: 'regex is anchored at the end' },
    { value: 'bounce-17@lists.test', entry: 'regex:bounce-[0-9]+@lists\\.test', why: 'regex with a class' },
    { value: 'xbounce-17@lists.test', entry: undefined, why: 'regex is anchored at the start (no partial match)' },
    { value: 'bounce-17@lists.test.org', entry: undefined, why: 'regex partial match at the start does not hit' },
    { value: 'aaab@redos.test', entry: 'regex:(a+)+b@redos\\.test', why: 'a nested quantifier matches' },
    {
      value: `${'a'.repeat(400)}@redos.test`,
      entry: undefined,
      why: 'and misses in linear time, where a backtracking engine takes exponential time',
    },
    { value: 'postmaster', entry: 'postmaster', why: 'the bare postmaster recipient can be listed' },
    { value: 'nobody@example.org', entry: undefined, why: 'miss' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const hit = list.match(c.value);
      assert.equal(hit && entryText(hit), c.entry);
    });
  }

  it('counts its entries', () => assert.equal(list.size, 8));
});

describe('BlockList of names (badhelo)', () => {
  const list = new BlockList('name', [plain('localhost'), plain('Mail.Example.COM'), regex('[0-9.]+'), plain('@x.test')]);
  const cases: { value: string; entry: string | undefined; why: string }[] = [
    { value: 'localhost', entry: 'localhost', why: 'exact name' },
    { value: 'LOCALHOST', entry: 'localhost', why: 'names ignore case' },
    { value: 'mail.example.com', entry: 'Mail.Example.COM', why: 'entries are lower-cased' },
    { value: 'localhost.localdomain', entry: undefined, why: 'exact names cover no sub-domains' },
    { value: '192.0.2.1', entry: 'regex:[0-9.]+', why: 'regex on the whole name' },
    { value: '192.0.2.1.example.com', entry: undefined, why: 'regex is anchored' },
    { value: 'x.test', entry: undefined, why: '"@" has no meaning in a name list' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const hit = list.match(c.value);
      assert.equal(hit && entryText(hit), c.entry);
    });
  }
});

describe('BlockList with many patterns (matched in groups)', () => {
  const entries = [...Array.from({ length: 70 }, (_, i) => regex(`n${i}@g\\.test`)), regex('.*@g\\.test'), regex('n1@g\\.test')];
  const list = new BlockList('address', entries);
  const cases: { value: string; entry: string | undefined; why: string }[] = [
    { value: 'n1@g.test', entry: 'regex:n1@g\\.test', why: 'in the first group' },
    { value: 'n65@g.test', entry: 'regex:n65@g\\.test', why: 'in a later group, the first one missing' },
    { value: 'other@g.test', entry: 'regex:.*@g\\.test', why: 'a wide pattern after the specific ones' },
    { value: 'n1@h.test', entry: undefined, why: 'no group matches' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const hit = list.match(c.value);
      assert.equal(hit && entryText(hit), c.entry);
    });
  }
  it('the first pattern written wins, across groups', () => assert.equal(list.match('n1@g.test'), entries[1]));
  it('counts every pattern', () => assert.equal(list.size, 72));
});

describe('BlockList errors', () => {
  it('an invalid regex names the entry and where it was written', () => {
    assert.throws(() => new BlockList('address', [{ text: '(unclosed', regex: true, origin: 'rcpt_to.entries[2]' }]), {
      message: 'rcpt_to.entries[2]: invalid regular expression "regex:(unclosed": missing closing )',
    });
  });
  it('a pattern that only compiles wrapped is still refused', () => {
    assert.throws(() => new BlockList('address', [regex('a)|(b')]), /test: invalid regular expression "regex:a\)\|\(b"/);
  });
  it('backreferences and lookaround are refused: RE2 has none', () => {
    assert.throws(() => new BlockList('address', [regex('(.)\\1@repeat\\.test')]), {
      message:
        'test: invalid regular expression "regex:(.)\\1@repeat\\.test": backreferences such as \\1 are not supported (patterns are RE2 syntax, matched in linear time)',
    });
    assert.throws(
      () => new BlockList('address', [regex('(?!postmaster).*@example\\.com')]),
      /lookahead and lookbehind such as \(\?! are not supported/,
    );
  });
  it('an empty regex or a bare "@" is refused', () => {
    assert.throws(() => new BlockList('address', [regex('')]), /test: invalid regular expression "regex:": empty pattern/);
    assert.throws(() => new BlockList('address', [plain('@')]), /test: empty entry "@"/);
  });
});

describe('100,000 entries', () => {
  it('builds and matches a list of exact, @domain and regex entries', () => {
    const entries: ListEntry[] = [];
    for (let i = 0; i < 100_000; i++) {
      if (i % 1000 === 0) entries.push(regex(`user${i}-[a-z]+@regex\\.test`));
      else entries.push(plain(i % 2 ? `user${i}@example.test` : `@d${i}.test`));
    }
    const list = new BlockList('address', entries);
    assert.equal(list.size, 100_000);
    assert.equal(list.match('user99999@example.test')?.text, 'user99999@example.test');
    assert.equal(list.match('anyone@d99998.test')?.text, '@d99998.test');
    assert.equal(list.match('user99000-abc@regex.test')?.text, 'user99000-[a-z]+@regex\\.test');
    assert.equal(list.match('user99998@example.test'), undefined, 'an even number is a domain entry, not an address');
    assert.equal(list.match('anyone@d99999.test'), undefined);
    assert.equal(list.match('user99001-abc@regex.test'), undefined);
  });
});

describe('parseListFile', () => {
  const text = [
    '# badrcptto, maintained by hand',
    'spammer@example.com',
    '',
    '   @spam.test   # the whole domain',
    'a#b@example.com',
    '\t# indented comment',
    'regex:.*@.*\\.dynamic\\.test',
    'regex: bounce-[#0-9]+@lists\\.test  # a # in a class is part of the pattern',
    'last@example.com\r',
  ].join('\n');

  it('reads one entry per line with its line number, skipping comments and blank lines', () => {
    assert.deepEqual(parseListFile(text, 'control/badrcptto'), [
      { text: 'spammer@example.com', regex: false, origin: 'control/badrcptto:2' },
      { text: '@spam.test', regex: false, origin: 'control/badrcptto:4' },
      { text: 'a#b@example.com', regex: false, origin: 'control/badrcptto:5' },
      { text: '.*@.*\\.dynamic\\.test', regex: true, origin: 'control/badrcptto:7' },
      { text: 'bounce-[#0-9]+@lists\\.test', regex: true, origin: 'control/badrcptto:8' },
      { text: 'last@example.com', regex: false, origin: 'control/badrcptto:9' },
    ]);
  });

  it('an invalid regex in a file names the file, the line and the entry', () => {
    const entries = parseListFile('ok@example.com\n# comment\nregex:[unclosed\n', '/etc/qgate/badmailfrom');
    assert.throws(() => new BlockList('address', entries), {
      message: '/etc/qgate/badmailfrom:3: invalid regular expression "regex:[unclosed": missing closing ]',
    });
  });
});

describe('mailbox', () => {
  const address = (local: string, domain: string, quoted = false): Address => ({
    local,
    domain,
    address: domain ? `${local}@${domain}` : local,
    quoted,
  });
  const cases: { address: Address; text: string; why: string }[] = [
    { address: address('user', 'example.com'), text: 'user@example.com', why: 'a dot-atom as written' },
    { address: address('"spam"', 'example.com', true), text: 'spam@example.com', why: 'quotes cannot hide a listed mailbox' },
    { address: address('"a\\"b"', 'example.com', true), text: 'a"b@example.com', why: 'quoted pairs are unescaped' },
    { address: address('postmaster', ''), text: 'postmaster', why: 'the bare postmaster recipient' },
  ];
  for (const c of cases) it(c.why, () => assert.equal(mailbox(c.address), c.text));
});
