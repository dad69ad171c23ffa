/*
 * ldap-users options: the server and how to reach it (pool, TLS, service bind,
 * timeouts), where users are and how to find them (a preset, or filters and
 * attribute names), how passwords are checked, and the answer cache. Filter
 * and attribute options left out take the preset's value (presets.ts).
 */
import { DirectoryCache, Duration, Secret, type Static, Type } from '../../core/plugin-api/index.js';

const Attribute = (description: string) =>
  Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z][A-Za-z0-9-]*$',
      expected: 'an LDAP attribute name',
      description,
    }),
  );

const FilterTemplate = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description }));

export const LdapUsersOptions = Type.Object(
  {
    url: Type.String({
      pattern: '^ldaps?://[^/?#\\s]+/?$',
      expected: 'an LDAP URL like ldap://ldap.example.net or ldaps://ldap.example.net:636',
      description: 'The server: ldap://host[:port] (plain, or with starttls) or ldaps://host[:port] (TLS from the start).',
    }),
    starttls: Type.Boolean({
      default: false,
      description:
        'With an ldap:// URL: upgrade each connection with StartTLS before binding (RFC 4513 3); a failed upgrade is an unavailable directory, never a plaintext fallback.',
    }),
    ca_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'PEM file of the CA(s) that sign the server certificate (ldaps:// and starttls); default: the system CAs.',
      }),
    ),
    bind_dn: Type.Optional(
      Type.String({ minLength: 1, description: 'The service account searches bind as; anonymous without it.' }),
    ),
    bind_password: Type.Optional(
      Secret({
        description: "The service account's password: a string, { env: NAME } or { file: path } (relative to this config file).",
      }),
    ),
    base_dn: Type.String({
      minLength: 1,
      description: 'Where users (and aliases) are searched, e.g. ou=people,dc=example,dc=net.',
    }),
    scope: Type.Union([Type.Literal('sub'), Type.Literal('one')], {
      default: 'sub',
      description: 'sub: the whole subtree below base_dn; one: its direct children only.',
    }),
    preset: Type.Union([Type.Literal('generic'), Type.Literal('qmail-ldap')], {
      default: 'generic',
      description:
        'Defaults for the filters and attributes below. generic: inetOrgPerson (mail, mailLocalAddress aliases, uid logins). qmail-ldap: qmailUser (mail, mailAlternateAddress, mailMessageStore, mailForwardingAddress, deliveryMode, accountStatus, mailQuotaSize).',
    }),
    user_filter: FilterTemplate(
      'Finds the user an address belongs to; %s the address, %u its local part, %d its domain (each escaped per RFC 4515). Default from the preset.',
    ),
    login_filter: FilterTemplate('Finds the user a login (AUTH, POP3) names; same expansions. Default from the preset.'),
    alias_filter: FilterTemplate(
      'Asked when user_filter finds nothing: an alias entry whose alias_members_attribute values get the mail, e.g. (&(objectClass=nisMailAlias)(cn=%s)). Default: none.',
    ),
    alias_members_attribute: Attribute('Members of an alias entry (default rfc822MailMember).'),
    address_attribute: Attribute('The canonical address of a user (default mail): an alias address delivers to its Maildir.'),
    mailbox_attribute: Attribute(
      'The Maildir (qmail-ldap: mailMessageStore). Default (generic): none, the Maildir is named after the address under maildir_root.',
    ),
    mailbox_prefix: Type.Optional(
      Type.String({
        minLength: 1,
        description: "Relative mailbox values are below this directory (qmail-ldap's ldapmessagestore).",
      }),
    ),
    forwards_attribute: Attribute('Addresses that get a copy (qmail-ldap: mailForwardingAddress).'),
    delivery_mode_attribute: Attribute(
      'Delivery flags (qmail-ldap: deliveryMode); "nolocal" with forwards keeps no copy in the Maildir.',
    ),
    quota_attribute: Attribute('Mailbox size limit in octets (qmail-ldap: mailQuotaSize).'),
    status_attribute: Attribute('Account state (qmail-ldap: accountStatus; generic: none). Absent on an entry: active.'),
    disabled_values: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'status_attribute values of a disabled account: RCPT 550 5.1.1, AUTH 535 (qmail-ldap: disabled, deleted).',
      }),
    ),
    login_denied_values: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'status_attribute values that receive mail but may not log in (qmail-ldap: noaccess).',
      }),
    ),
    password_check: Type.Union([Type.Literal('bind'), Type.Literal('compare')], {
      default: 'bind',
      description:
        "bind: a login is checked by binding as the user's DN (the server checks the password). compare: the service account reads password_attribute and qgate verifies the hash ({SSHA}, {SHA}, {SSHA512}, {CRYPT}, ...; cleartext values too).",
    }),
    password_attribute: Type.String({
      default: 'userPassword',
      minLength: 1,
      description: 'The hashed password, with password_check: compare.',
    }),
    domains: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Domains this directory is the authority for (an address there that it does not know does not exist); empty: every domain it is asked about (delivery.local_domains).',
    }),
    pool_size: Type.Integer({
      default: 4,
      minimum: 1,
      maximum: 64,
      description: 'Connections for searches, and again at most as many for password binds.',
    }),
    connect_timeout: Duration({
      default: '5s',
      description: 'Time limit for connecting (and TLS, and the service bind); past it the directory is unavailable.',
    }),
    timeout: Duration({
      default: '5s',
      description: 'Time limit for one search or bind; past it the directory is unavailable (451 4.3.0 at RCPT, 454 at AUTH).',
    }),
    cache: DirectoryCache(),
  },
  { additionalProperties: false },
);

export type LdapUsersOptions = Static<typeof LdapUsersOptions>;
