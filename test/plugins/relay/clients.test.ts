/*
 * Relay client matching: which entries parse, which addresses they cover
 * (IPv4, IPv6, IPv4-mapped IPv6), and errors that name where a bad entry is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClientListError,
  ClientTable,
  parseClientEntries,
  parseClientFile,
  parseClientRule,
} from '../../../plugins/relay/clients.js';
import { CLIENT_PATTERN } from '../../../plugins/relay/options.js';

describe('parseClientRule', () => {
  const cases: { entry: string; rule: { family: string; network: string; prefix: number } | undefined; why: string }[] = [
    { entry: '127.0.0.1', rule: { family: 'ipv4', network: '127.0.0.1', prefix: 32 }, why: 'IPv4 address' },
    { entry: '10.0.0.0/8', rule: { family: 'ipv4', network: '10.0.0.0', prefix: 8 }, why: 'IPv4 network' },
    { entry: ' 192.0.2.0/24 ', rule: { family: 'ipv4', network: '192.0.2.0', prefix: 24 }, why: 'white space trimmed' },
    { entry: '0.0.0.0/0', rule: { family: 'ipv4', network: '0.0.0.0', prefix: 0 }, why: 'every IPv4 client' },
    { entry: '::1', rule: { family: 'ipv6', network: '::1', prefix: 128 }, why: 'IPv6 address' },
    { entry: '2001:db8::/32', rule: { family: 'ipv6', network: '2001:db8::', prefix: 32 }, why: 'IPv6 network' },
    { entry: '::ffff:10.0.0.0/104', rule: { family: 'ipv6', network: '::ffff:10.0.0.0', prefix: 104 }, why: 'mapped network' },
    { entry: '10.0.0.0/33', rule: undefined, why: 'IPv4 prefix over 32' },
    { entry: '2001:db8::/129', rule: undefined, why: 'IPv6 prefix over 128' },
    { entry: '10.0.0.0/', rule: undefined, why: 'empty prefix' },
    { entry: '10.0.0.0/8x', rule: undefined, why: 'prefix not a number' },
    { entry: '256.1.1.1', rule: undefined, why: 'octet out of range' },
    { entry: '010.1.1.1', rule: undefined, why: 'leading zero (octal in some parsers) is ambiguous' },
    { entry: '10.', rule: undefined, why: 'qmail tcprules prefix syntax is not CIDR' },
    { entry: 'fe80::1%eth0', rule: undefined, why: 'zone id' },
    { entry: 'mail.example.net', rule: undefined, why: 'host names are not resolved' },
    { entry: ':::', rule: undefined, why: 'IPv6 shape but not an address' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.entry)}: ${c.why}`, () => {
      const rule = parseClientRule(c.entry);
      assert.deepEqual(rule && { family: rule.family, network: rule.network, prefix: rule.prefix }, c.rule);
    });
  }

  it('the schema pattern accepts every valid entry above and rejects the clearly wrong ones', () => {
    const pattern = new RegExp(CLIENT_PATTERN);
    for (const c of cases.filter((x) => x.rule)) assert.match(c.entry.trim(), pattern, c.entry);
    for (const bad of ['10.0.0.0/33', '256.1.1.1', '010.1.1.1', '10.', 'mail.example.net', 'fe80::1%eth0', '2001:db8::/129']) {
      assert.doesNotMatch(bad, pattern, bad);
    }
  });
});

describe('ClientTable', () => {
  const table = new ClientTable(
    parseClientEntries(['127.0.0.1', '10.0.0.0/8', '192.0.2.7/24', '::1', '2001:db8::/32', '::ffff:198.51.100.0/120'], String),
  );
  const cases: { address: string; match: boolean; why: string }[] = [
    { address: '127.0.0.1', match: true, why: 'listed address' },
    { address: '127.0.0.2', match: false, why: 'an address entry covers that address only' },
    { address: '10.255.1.2', match: true, why: 'inside 10.0.0.0/8' },
    { address: '11.0.0.1', match: false, why: 'outside every network' },
    { address: '192.0.2.200', match: true, why: 'host bits in a network entry are ignored' },
    { address: '::ffff:10.1.2.3', match: true, why: 'IPv4-mapped IPv6 matches the IPv4 rule' },
    { address: '::FFFF:10.1.2.3', match: true, why: 'mapped prefix in capitals' },
    { address: '::ffff:a01:203', match: true, why: 'mapped address written in hex' },
    { address: '::ffff:11.1.2.3', match: false, why: 'mapped address outside the IPv4 rules' },
    { address: '198.51.100.9', match: true, why: 'IPv4 client, mapped IPv6 rule' },
    { address: '::1', match: true, why: 'IPv6 loopback' },
    { address: '0:0:0:0:0:0:0:1', match: true, why: 'IPv6 written in full' },
    { address: '2001:db8:ffff::25', match: true, why: 'inside 2001:db8::/32' },
    { address: '2001:db9::25', match: false, why: 'outside 2001:db8::/32' },
    { address: 'fe80::1%eth0', match: false, why: 'zone id is dropped; fe80::1 is not listed' },
    { address: 'unknown', match: false, why: 'no address (the socket did not say)' },
    { address: '', match: false, why: 'empty' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.address)}: ${c.why}`, () => assert.equal(table.matches(c.address), c.match));
  }

  it('counts its rules', () => assert.equal(table.size, 6));

  it('an empty table matches nobody', () => {
    const empty = new ClientTable([]);
    assert.equal(empty.matches('127.0.0.1'), false);
    assert.equal(empty.matches('::1'), false);
  });
});

describe('parseClientEntries', () => {
  it('names the entry that is not an address', () => {
    assert.throws(
      () => parseClientEntries(['127.0.0.1', ':::'], (i) => `clients[${i}]`),
      (err: unknown) =>
        err instanceof ClientListError &&
        err.message === 'clients[1]: ":::" is not an IPv4 or IPv6 address or CIDR network (like 10.0.0.0/8 or 2001:db8::/32)',
    );
  });
});

describe('parseClientFile', () => {
  it('reads one entry per line, skipping comments and blank lines', () => {
    const rules = parseClientFile('# office\n192.0.2.0/24\n\n  ::1  # loopback\r\n#10.0.0.0/8\n', 'relay-clients');
    assert.deepEqual(
      rules.map((r) => r.entry),
      ['192.0.2.0/24', '::1'],
    );
  });

  it('names file and line of a bad entry', () => {
    assert.throws(
      () => parseClientFile('127.0.0.1\n# ok so far\n10.0.0.0/40\n', '/etc/qgate/relay-clients'),
      /^ClientListError: \/etc\/qgate\/relay-clients:3: "10\.0\.0\.0\/40" is not an IPv4 or IPv6 address/,
    );
  });
});
