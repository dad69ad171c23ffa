/*
 * Directory entries as user records, for both presets: canonical address,
 * Maildir (absolute, or below mailbox_prefix), forwards and "nolocal",
 * quota, disabled and login-denied states, alias entries. Pure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LdapUsersOptions } from '../../../plugins/ldap-users/options.js';
import { layoutOf, userAttributes } from '../../../plugins/ldap-users/presets.js';
import { aliasRecord, type DirectoryEntry, mayLogIn, userRecord } from '../../../plugins/ldap-users/record.js';

const base = { url: 'ldap://x', base_dn: 'dc=x', preset: 'generic' } as unknown as LdapUsersOptions;
const generic = layoutOf(base);
const qmail = layoutOf({ ...base, preset: 'qmail-ldap' });
const genericDisabled = layoutOf({ ...base, status_attribute: 'employeeType', disabled_values: ['Disabled'] });

describe('userRecord', () => {
  const rows: { why: string; layout: typeof generic; entry: DirectoryEntry; prefix?: string; expected: object }[] = [
    {
      why: 'generic: an alias address has the canonical mail address',
      layout: generic,
      entry: { dn: 'uid=alice', mail: 'alice@example.test', mailLocalAddress: ['a@example.test'] },
      expected: { address: 'alice@example.test', attributes: { dn: 'uid=alice' } },
    },
    {
      why: 'generic with a status attribute: disabled (case-insensitive)',
      layout: genericDisabled,
      entry: { dn: 'uid=dave', mail: 'dave@example.test', employeeType: 'DISABLED' },
      expected: { address: 'dave@example.test', enabled: false, attributes: { dn: 'uid=dave' } },
    },
    {
      why: 'qmail-ldap: absolute mailMessageStore, attribute names in any case',
      layout: qmail,
      entry: { dn: 'uid=erin', mail: 'erin@example.test', mailmessagestore: '/var/mail/erin/', accountStatus: 'active' },
      expected: { address: 'erin@example.test', mailbox: '/var/mail/erin/', attributes: { dn: 'uid=erin' } },
    },
    {
      why: 'qmail-ldap: a relative store is below mailbox_prefix',
      layout: qmail,
      prefix: '/srv/mail',
      entry: { dn: 'uid=judy', mail: 'judy@example.test', mailMessageStore: 'example.test/judy/' },
      expected: { address: 'judy@example.test', mailbox: '/srv/mail/example.test/judy/', attributes: { dn: 'uid=judy' } },
    },
    {
      why: 'qmail-ldap: forwards with nolocal keep no local copy; quota in octets',
      layout: qmail,
      entry: {
        dn: 'uid=frank',
        mail: 'frank@example.test',
        mailForwardingAddress: ['frank@remote.test', 'frank.backup@remote.test'],
        deliveryMode: 'nolocal',
        mailQuotaSize: '1048576',
      },
      expected: {
        address: 'frank@example.test',
        forwards: ['frank@remote.test', 'frank.backup@remote.test'],
        deliverLocally: false,
        quota: 1048576,
        attributes: { dn: 'uid=frank' },
      },
    },
    {
      why: 'qmail-ldap: disabled and deleted are disabled',
      layout: qmail,
      entry: { dn: 'uid=grace', mail: 'grace@example.test', accountStatus: 'deleted' },
      expected: { address: 'grace@example.test', enabled: false, attributes: { dn: 'uid=grace' } },
    },
    {
      why: 'qmail-ldap: a quota that is no number is ignored',
      layout: qmail,
      entry: { dn: 'uid=x', mail: 'x@example.test', mailQuotaSize: '10MB' },
      expected: { address: 'x@example.test', attributes: { dn: 'uid=x' } },
    },
    {
      why: 'no mail attribute: the address asked',
      layout: generic,
      entry: { dn: 'uid=y' },
      expected: { address: 'asked@example.test', attributes: { dn: 'uid=y' } },
    },
  ];
  for (const row of rows) {
    test(row.why, () => assert.deepEqual(userRecord(row.entry, row.layout, 'asked@example.test', row.prefix), row.expected));
  }
});

describe('mayLogIn', () => {
  const rows: { status: string | undefined; expected: boolean }[] = [
    { status: undefined, expected: true },
    { status: 'active', expected: true },
    { status: 'noaccess', expected: false },
    { status: 'disabled', expected: false },
    { status: 'Deleted', expected: false },
  ];
  for (const row of rows) {
    test(`qmail-ldap accountStatus ${row.status}`, () => {
      const entry: DirectoryEntry = { dn: 'uid=z', ...(row.status ? { accountStatus: row.status } : {}) };
      assert.equal(mayLogIn(entry, qmail), row.expected);
    });
  }
});

describe('aliasRecord and layouts', () => {
  test('an alias entry forwards to its members only', () => {
    assert.deepEqual(aliasRecord({ dn: 'cn=team', rfc822MailMember: ['a@x', 'b@x'] }, generic, 'team@x'), {
      address: 'team@x',
      forwards: ['a@x', 'b@x'],
      deliverLocally: false,
      attributes: { dn: 'cn=team' },
    });
    assert.equal(aliasRecord({ dn: 'cn=empty' }, generic, 'e@x'), null);
  });
  test('options written win over the preset', () => {
    const layout = layoutOf({ ...base, preset: 'qmail-ldap', mailbox_attribute: 'homeDirectory', disabled_values: [] });
    assert.equal(layout.mailboxAttribute, 'homeDirectory');
    assert.deepEqual(layout.disabledValues, []);
    assert.equal(layout.statusAttribute, 'accountStatus');
  });
  test('a search asks for each attribute once', () => {
    assert.deepEqual(userAttributes(qmail, ['userPassword', 'mail']), [
      'mail',
      'mailMessageStore',
      'mailForwardingAddress',
      'deliveryMode',
      'mailQuotaSize',
      'accountStatus',
      'userPassword',
    ]);
  });
});
