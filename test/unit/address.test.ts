import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Address } from '../../core/model/index.js';
import { isDomain, type PathOptions, type PathParse, parsePath } from '../../core/smtp/address.js';

/** A valid domain of exactly `length` characters, in labels of at most 63. */
function domainOfLength(length: number): string {
  const labels: string[] = [];
  let left = length;
  while (left > 0) {
    const take = Math.min(63, left === 64 ? 61 : left);
    labels.push('d'.repeat(take));
    left -= take;
    if (left > 0) left -= 1; // the dot before the next label
  }
  const domain = labels.join('.');
  assert.equal(domain.length, length);
  return domain;
}

const ok = (address: Address | null, rest = ''): PathParse => ({ ok: true, address, rest });
const mailbox = (local: string, domain: string, extra: Partial<Address> = {}): Address => ({
  local,
  domain,
  address: `${local}@${domain}`,
  quoted: local.startsWith('"'),
  ...extra,
});
const syntax = (rest = ''): PathParse => ({ ok: false, error: 'syntax', rest });
const utf8 = (rest = ''): PathParse => ({ ok: false, error: 'utf8', rest });

interface Row {
  why: string;
  input: string;
  opts?: PathOptions;
  expected: PathParse;
  todo?: string;
}

const LOCAL64 = 'l'.repeat(64);

const ROWS: Row[] = [
  // Ordinary mailboxes
  { why: 'plain address', input: '<user@example.com>', expected: ok(mailbox('user', 'example.com')) },
  {
    why: 'domain lower-cased, local part kept as written',
    input: '<John.Doe@Mail.Example.COM>',
    expected: ok(mailbox('John.Doe', 'mail.example.com')),
  },
  {
    why: 'dotted local part',
    input: '<first.last@sub.example.co.uk>',
    expected: ok(mailbox('first.last', 'sub.example.co.uk')),
  },
  {
    why: 'every atext special in the local part',
    input: "<a!#$%&'*+-/=?^_`{|}~z@example.org>",
    expected: ok(mailbox("a!#$%&'*+-/=?^_`{|}~z", 'example.org')),
  },
  { why: 'single-label domain', input: '<root@localhost>', expected: ok(mailbox('root', 'localhost')) },
  {
    why: 'hyphens and digits in labels',
    input: '<u@mx-1.0day.example>',
    expected: ok(mailbox('u', 'mx-1.0day.example')),
  },
  {
    why: 'parameters after the path are returned as rest',
    input: '<a@b.example> SIZE=100',
    expected: ok(mailbox('a', 'b.example'), ' SIZE=100'),
  },

  // Null path and postmaster
  { why: 'null path with allowNull', input: '<>', opts: { allowNull: true }, expected: ok(null) },
  {
    why: 'null path with allowNull keeps the rest',
    input: '<> SIZE=0',
    opts: { allowNull: true },
    expected: ok(null, ' SIZE=0'),
  },
  { why: 'null path refused without allowNull', input: '<>', expected: syntax() },
  {
    why: 'null path refused with only allowPostmaster',
    input: '<>',
    opts: { allowPostmaster: true },
    expected: syntax(),
  },
  {
    why: '<postmaster> with allowPostmaster',
    input: '<postmaster>',
    opts: { allowPostmaster: true },
    expected: ok({ local: 'postmaster', domain: '', address: 'postmaster', quoted: false }),
  },
  {
    why: '<Postmaster> is case-insensitive and kept as written',
    input: '<PostMaster>',
    opts: { allowPostmaster: true },
    expected: ok({ local: 'PostMaster', domain: '', address: 'PostMaster', quoted: false }),
  },
  { why: '<postmaster> refused without allowPostmaster', input: '<postmaster>', expected: syntax() },
  {
    why: '<postmaster> refused with only allowNull',
    input: '<postmaster>',
    opts: { allowNull: true },
    expected: syntax(),
  },
  {
    why: 'postmaster@domain is an ordinary mailbox',
    input: '<Postmaster@Example.com>',
    opts: { allowPostmaster: true },
    expected: ok(mailbox('Postmaster', 'example.com')),
  },

  // Quoted local parts
  {
    why: 'quoted local part with a space',
    input: '<"john doe"@example.com>',
    expected: ok(mailbox('"john doe"', 'example.com')),
  },
  { why: 'quoted "@" in the local part: split at the last @', input: '<"a@b"@c>', expected: ok(mailbox('"a@b"', 'c')) },
  { why: 'quoted pair \\" in the local part', input: '<"a\\"b"@c>', expected: ok(mailbox('"a\\"b"', 'c')) },
  {
    why: 'quoted ">" does not close the path',
    input: '<"a>b"@c> SIZE=1',
    expected: ok(mailbox('"a>b"', 'c'), ' SIZE=1'),
  },
  { why: 'empty quoted string', input: '<""@c>', expected: ok(mailbox('""', 'c')) },
  { why: 'text after the closing quote', input: '<"a"b@c>', expected: syntax() },
  { why: 'quoted string as one dot-atom only', input: '<a."b"@c>', expected: syntax() },
  { why: 'unterminated quote', input: '<"a@c>', expected: syntax() },
  { why: 'escaped closing quote leaves the quote open', input: '<"a\\"@c>', expected: syntax() },

  // Source routes
  {
    why: 'source route kept in sourceRoute',
    input: '<@a,@b:u@c>',
    expected: ok(mailbox('u', 'c', { sourceRoute: ['@a', '@b'] })),
  },
  {
    why: 'single-hop source route',
    input: '<@relay.example:u@c.example>',
    expected: ok(mailbox('u', 'c.example', { sourceRoute: ['@relay.example'] })),
  },
  { why: 'source route without a colon', input: '<@a u@c>', expected: syntax() },
  { why: 'source route hop without @', input: '<@a,b:u@c>', expected: syntax() },
  { why: 'source route with an empty mailbox', input: '<@a:>', expected: syntax() },
  { why: 'source route hop with a bad domain', input: '<@-a:u@c>', expected: syntax() },

  // Address literals
  { why: 'IPv4 address literal', input: '<u@[1.2.3.4]>', expected: ok(mailbox('u', '[1.2.3.4]')) },
  {
    why: 'IPv4 literal at the upper bound',
    input: '<u@[255.255.255.255]>',
    expected: ok(mailbox('u', '[255.255.255.255]')),
  },
  {
    why: 'IPv6 loopback literal (lower-cased like any domain)',
    input: '<u@[IPv6:::1]>',
    expected: ok(mailbox('u', '[ipv6:::1]')),
  },
  { why: 'IPv6 literal', input: '<u@[IPv6:2001:db8::1]>', expected: ok(mailbox('u', '[ipv6:2001:db8::1]')) },
  { why: 'IPv4 literal octet over 255', input: '<u@[300.1.1.1]>', expected: syntax() },
  { why: 'IPv4 literal with three parts', input: '<u@[1.2.3]>', expected: syntax() },
  {
    why: 'IPv6 literal with non-hex text',
    input: '<u@[IPv6:xyz]>',
    expected: syntax(),
  },
  { why: 'over-long IPv6 literal', input: `<u@[IPv6:${'1:'.repeat(30)}1]>`, expected: syntax() },
  { why: 'unclosed address literal', input: '<u@[1.2.3.4>', expected: syntax() },

  // UTF-8 (RFC 6531)
  { why: 'UTF-8 local part without utf8', input: '<jürgen@example.com>', expected: utf8() },
  { why: 'UTF-8 domain without utf8', input: '<u@bücher.de>', expected: utf8() },
  { why: 'UTF-8 address without utf8 keeps the rest', input: '<用户@例子.广告> SIZE=1', expected: utf8(' SIZE=1') },
  {
    why: 'UTF-8 local part with utf8',
    input: '<jürgen@example.com>',
    opts: { utf8: true },
    expected: ok(mailbox('jürgen', 'example.com')),
  },
  {
    why: 'UTF-8 address with utf8',
    input: '<用户@例子.广告>',
    opts: { utf8: true },
    expected: ok(mailbox('用户', '例子.广告')),
  },
  {
    why: 'UTF-8 domain lower-cased with utf8',
    input: '<u@BÜCHER.de>',
    opts: { utf8: true },
    expected: ok(mailbox('u', 'bücher.de')),
  },
  {
    why: 'UTF-8 in a quoted local part with utf8',
    input: '<"jü rgen"@c>',
    opts: { utf8: true },
    expected: ok(mailbox('"jü rgen"', 'c')),
  },

  // Lengths
  { why: 'local part of 64 octets', input: `<${LOCAL64}@example.com>`, expected: ok(mailbox(LOCAL64, 'example.com')) },
  { why: 'local part of 65 octets', input: `<${LOCAL64}l@example.com>`, expected: syntax() },
  // Found by fuzzing: the limits counted UTF-16 units, so 40 "é" (80 octets) passed for 40.
  {
    why: 'UTF-8 local part of 64 octets',
    input: `<${'é'.repeat(32)}@example.com>`,
    opts: { utf8: true },
    expected: ok(mailbox('é'.repeat(32), 'example.com')),
  },
  { why: 'UTF-8 local part of 66 octets', input: `<${'é'.repeat(33)}@example.com>`, opts: { utf8: true }, expected: syntax() },
  {
    why: 'UTF-8 path over 256 octets',
    input: `<${'é'.repeat(30)}@${'ü'.repeat(60)}.${'ü'.repeat(60)}.example>`,
    opts: { utf8: true },
    expected: syntax(),
  },
  {
    why: 'path of 256 octets with its brackets',
    input: `<${LOCAL64}@${domainOfLength(254 - 65)}>`,
    expected: ok(mailbox(LOCAL64, domainOfLength(254 - 65))),
  },
  { why: 'path of 300 octets', input: `<${LOCAL64}@${domainOfLength(298 - 65)}>`, expected: syntax() },
  {
    why: 'domain label of 63 octets',
    input: `<u@${'x'.repeat(63)}.com>`,
    expected: ok(mailbox('u', `${'x'.repeat(63)}.com`)),
  },
  { why: 'domain label of 64 octets', input: `<u@${'x'.repeat(64)}.com>`, expected: syntax() },

  // Missing brackets (accepted like Postfix does)
  { why: 'bare u@d', input: 'u@d', expected: ok(mailbox('u', 'd')) },
  {
    why: 'bare address then parameters',
    input: 'User@Example.com SIZE=1',
    expected: ok(mailbox('User', 'example.com'), ' SIZE=1'),
  },
  { why: 'bare garbage', input: 'hello', expected: syntax() },

  // Garbage
  { why: 'unclosed path', input: '<a@b', expected: syntax() },
  { why: 'text glued to the closing bracket', input: '<a@b>x', expected: syntax('x') },
  { why: 'double brackets', input: '<<a@b>>', expected: syntax('>') },
  { why: 'no @', input: '<ab>', expected: syntax() },
  { why: 'empty local part', input: '<@b>', expected: syntax() },
  { why: 'empty domain', input: '<a@>', expected: syntax() },
  { why: 'two unquoted @', input: '<a@b@c>', expected: syntax() },
  { why: 'empty domain label', input: '<a@b..c>', expected: syntax() },
  { why: 'trailing dot in the domain', input: '<a@b.c.>', expected: syntax() },
  { why: 'label starting with a hyphen', input: '<a@-b.c>', expected: syntax() },
  { why: 'label ending with a hyphen', input: '<a@b-.c>', expected: syntax() },
  { why: 'underscore in the domain', input: '<a@b_c.d>', expected: syntax() },
  { why: 'double dot in the local part', input: '<a..b@c>', expected: syntax() },
  { why: 'leading dot in the local part', input: '<.a@c>', expected: syntax() },
  { why: 'trailing dot in the local part', input: '<a.@c>', expected: syntax() },
  { why: 'unquoted space in the local part', input: '<a b@c>', expected: syntax() },
  { why: 'space in the domain', input: '<a@b c>', expected: syntax() },
  { why: 'control character in the local part', input: '<a\u0001b@c>', expected: syntax() },
  { why: 'comment syntax is not a path', input: '<(comment)a@b>', expected: syntax() },
  { why: 'display name form', input: 'Joe <a@b>', expected: syntax(' <a@b>') },
];

describe('parsePath', () => {
  for (const row of ROWS) {
    test(row.why, row.todo ? { todo: row.todo } : {}, () => {
      assert.deepEqual(parsePath(row.input, row.opts), row.expected);
    });
  }

  test('no sourceRoute key on an address without a route', () => {
    const r = parsePath('<a@b>');
    assert.equal(r.ok, true);
    assert.ok(r.ok && r.address && !('sourceRoute' in r.address));
  });
});

describe('isDomain', () => {
  const rows: Array<{ why: string; text: string; utf8?: boolean; expected: boolean }> = [
    { why: 'ordinary domain', text: 'example.com', expected: true },
    { why: 'single label', text: 'localhost', expected: true },
    { why: 'empty', text: '', expected: false },
    { why: 'empty label', text: 'a..b', expected: false },
    { why: 'domain of 255 octets', text: domainOfLength(255), expected: true },
    { why: 'domain of 256 octets', text: domainOfLength(256), expected: false },
    { why: 'UTF-8 label without utf8', text: 'bücher.de', expected: false },
    { why: 'UTF-8 label with utf8', text: 'bücher.de', utf8: true, expected: true },
    { why: 'UTF-8 label may not start with a hyphen', text: '-bücher.de', utf8: true, expected: false },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.equal(isDomain(row.text, row.utf8), row.expected);
    });
  }
});
