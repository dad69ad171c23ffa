import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AliasTable,
  type LocalResolutionOptions,
  type LocalTarget,
  mailboxPath,
  parseAliasesYaml,
  resolveLocal,
  UnsafeMailboxError,
} from '../../core/delivery/local-address.js';

const LOCAL_DOMAINS = new Set(['example.com', 'example.org']);
const isLocalDomain = (domain: string): boolean => LOCAL_DOMAINS.has(domain);

/** Users with a mailbox, per domain; lookups are case-sensitive, as a file system would be. */
const USERS: Readonly<Record<string, readonly string[]>> = {
  'example.com': ['alice', 'bob', 'carol', 'foo-bar', 'root'],
  'example.org': ['alice', 'hostmaster'],
};
const userExists = (local: string, domain: string): boolean => USERS[domain]?.includes(local) ?? false;

const ALIASES: AliasTable = {
  team: ['alice', 'carol', 'alice@example.com', 'alice@EXAMPLE.COM', 'alice@example.org'],
  'sales@example.com': ['carol'],
  sales: ['alice'],
  remote: ['someone@elsewhere.net'],
  mixed: ['alice', 'someone@elsewhere.net', 'ghost'],
  first: ['second'],
  second: ['third@example.org'],
  third: ['bob@example.com'],
  ping: ['pong'],
  pong: ['ping'],
  'postmaster@example.org': ['hostmaster'],
  bob: ['bob', 'bob@backup.example.net'],
  nobody: ['nobody'],
  deep0: ['deep1'],
  deep1: ['deep2'],
  deep2: ['deep3'],
  deep3: ['alice'],
  Webmaster: ['carol'],
};

const OPTIONS: LocalResolutionOptions = {
  aliases: ALIASES,
  delimiters: '-+',
  postmaster: 'root@example.com',
  userExists,
};

const mailbox = (local: string, domain: string, extension?: string): LocalTarget =>
  extension === undefined ? { kind: 'mailbox', local, domain } : { kind: 'mailbox', local, domain, extension };
const forward = (address: string): LocalTarget => ({ kind: 'forward', address });
const unknown = (address: string): LocalTarget => ({ kind: 'unknown', address });
const loop = (address: string): LocalTarget => ({ kind: 'loop', address });

interface ResolveRow {
  why: string;
  address: string;
  options?: Partial<LocalResolutionOptions>;
  expected: LocalTarget[];
}

const RESOLVE_ROWS: ResolveRow[] = [
  // Plain users
  { why: 'plain user', address: 'alice@example.com', expected: [mailbox('alice', 'example.com')] },
  {
    why: 'the same name in another local domain is another mailbox',
    address: 'alice@example.org',
    expected: [mailbox('alice', 'example.org')],
  },
  { why: 'no such user', address: 'ghost@example.com', expected: [unknown('ghost@example.com')] },
  {
    why: 'a domain that is not local is handed back to be routed',
    address: 'x@elsewhere.net',
    expected: [forward('x@elsewhere.net')],
  },
  { why: 'no domain at all is not a mailbox', address: 'alice', expected: [unknown('alice')] },

  // Extensions
  {
    why: "qmail's '-' extension falls back to the user",
    address: 'alice-lists@example.com',
    expected: [mailbox('alice', 'example.com', 'lists')],
  },
  {
    why: "Postfix's '+' extension falls back to the user",
    address: 'alice+lists@example.com',
    expected: [mailbox('alice', 'example.com', 'lists')],
  },
  {
    why: 'both delimiters in one name: the user is what precedes the first, the rest is the extension',
    address: 'alice-a+b@example.com',
    expected: [mailbox('alice', 'example.com', 'a+b')],
  },
  {
    why: 'a user whose name contains the delimiter wins over splitting',
    address: 'foo-bar@example.com',
    expected: [mailbox('foo-bar', 'example.com')],
  },
  {
    why: 'the longest existing user takes the rest as extension',
    address: 'foo-bar-baz@example.com',
    expected: [mailbox('foo-bar', 'example.com', 'baz')],
  },
  {
    why: 'an extension of an unknown user is unknown, reported as written',
    address: 'ghost-x@example.com',
    expected: [unknown('ghost-x@example.com')],
  },
  {
    why: 'a delimiter not in the list is part of the name',
    address: 'alice+lists@example.com',
    options: { delimiters: '-' },
    expected: [unknown('alice+lists@example.com')],
  },
  {
    why: 'an empty delimiter list disables extensions',
    address: 'alice-lists@example.com',
    options: { delimiters: '' },
    expected: [unknown('alice-lists@example.com')],
  },
  {
    why: 'a leading delimiter does not make an empty user',
    address: '-alice@example.com',
    expected: [unknown('-alice@example.com')],
  },
  {
    why: 'an extension falls back to an alias too',
    address: 'sales+q3@example.com',
    expected: [mailbox('carol', 'example.com')],
  },

  // Aliases
  {
    why: 'alias to several targets; the same mailbox reached twice is delivered once',
    address: 'team@example.com',
    expected: [mailbox('alice', 'example.com'), mailbox('carol', 'example.com'), mailbox('alice', 'example.org')],
  },
  {
    why: 'an alias to a remote address becomes a forward',
    address: 'remote@example.com',
    expected: [forward('someone@elsewhere.net')],
  },
  {
    why: 'each target of an alias resolves on its own: mailbox, forward and unknown together',
    address: 'mixed@example.com',
    expected: [mailbox('alice', 'example.com'), forward('someone@elsewhere.net'), unknown('ghost@example.com')],
  },
  {
    why: 'a chain of aliases across local domains',
    address: 'first@example.com',
    expected: [mailbox('bob', 'example.com'), forward('bob@backup.example.net')],
  },
  { why: 'an alias cycle is a loop, and terminates', address: 'ping@example.com', expected: [loop('ping@example.com')] },
  {
    why: 'an alias naming itself delivers to that mailbox (sendmail idiom), plus the copy',
    address: 'bob@example.com',
    expected: [mailbox('bob', 'example.com'), forward('bob@backup.example.net')],
  },
  {
    why: 'an alias naming itself with no such user is unknown, not a loop',
    address: 'nobody@example.com',
    expected: [unknown('nobody@example.com')],
  },
  {
    why: '"local@domain" beats "local" for that domain',
    address: 'sales@example.com',
    expected: [mailbox('carol', 'example.com')],
  },
  {
    why: '"local" applies to every other local domain, and its bare-name target stays in that domain',
    address: 'sales@example.org',
    expected: [mailbox('alice', 'example.org')],
  },
  { why: 'a chain within the depth limit resolves', address: 'deep0@example.com', expected: [mailbox('alice', 'example.com')] },
  {
    why: 'a chain deeper than maxDepth is a loop',
    address: 'deep0@example.com',
    options: { maxDepth: 2 },
    expected: [loop('deep3@example.com')],
  },
  {
    why: 'maxDepth counts hops: exactly maxDepth hops still resolve',
    address: 'deep0@example.com',
    options: { maxDepth: 4 },
    expected: [mailbox('alice', 'example.com')],
  },

  // postmaster and abuse (RFC 5321 4.5.1, RFC 2142)
  {
    why: 'postmaster goes to the configured address',
    address: 'postmaster@example.com',
    expected: [mailbox('root', 'example.com')],
  },
  { why: 'abuse goes to the configured address', address: 'abuse@example.com', expected: [mailbox('root', 'example.com')] },
  {
    why: 'postmaster is case-insensitive (RFC 5321 4.5.1)',
    address: 'PostMaster@example.com',
    expected: [mailbox('root', 'example.com')],
  },
  { why: 'every local domain has a postmaster', address: 'abuse@example.org', expected: [mailbox('root', 'example.com')] },
  {
    why: 'an explicit postmaster alias wins over the default',
    address: 'postmaster@example.org',
    expected: [mailbox('hostmaster', 'example.org')],
  },
  {
    why: 'a remote postmaster address is a forward',
    address: 'postmaster@example.com',
    options: { postmaster: 'noc@provider.example.net' },
    expected: [forward('noc@provider.example.net')],
  },
  {
    why: 'a postmaster address that is itself postmaster without a mailbox is a loop, not a hang',
    address: 'postmaster@example.com',
    options: { postmaster: 'postmaster@example.com' },
    expected: [loop('postmaster@example.com')],
  },

  // Case
  { why: 'the domain is case-insensitive', address: 'alice@EXAMPLE.Com', expected: [mailbox('alice', 'example.com')] },
  { why: 'alias names are case-insensitive', address: 'SALES@Example.com', expected: [mailbox('carol', 'example.com')] },
  { why: 'alias keys are case-insensitive too', address: 'webmaster@example.com', expected: [mailbox('carol', 'example.com')] },
  {
    why: 'mailbox names are as the caller decides (here case-sensitive)',
    address: 'Alice@example.com',
    expected: [unknown('Alice@example.com')],
  },
];

describe('resolveLocal', () => {
  for (const row of RESOLVE_ROWS) {
    test(row.why, () => {
      assert.deepEqual(resolveLocal(row.address, isLocalDomain, { ...OPTIONS, ...row.options }), row.expected);
    });
  }

  test('a dense alias graph resolves without exponential work', () => {
    // Every level lists every name of the next: 20 levels of 20 would be 20^20 paths.
    const aliases: Record<string, string[]> = {};
    const names = (level: number) => Array.from({ length: 20 }, (_, i) => `l${level}n${i}`);
    for (let level = 0; level < 20; level++) for (const name of names(level)) aliases[name] = names(level + 1);
    let domainChecks = 0;
    const counting = (domain: string) => {
      domainChecks++;
      return isLocalDomain(domain);
    };
    const users = (local: string, domain: string) => userExists(local, domain) || local.startsWith('l20');
    const result = resolveLocal('l0n0@example.com', counting, { ...OPTIONS, aliases, userExists: users, maxDepth: 25 });
    assert.deepEqual(
      result,
      names(20).map((name) => mailbox(name, 'example.com')),
    );
    assert.ok(domainChecks <= 1 + 20 * 20 * 20, `${domainChecks} addresses visited`);
  });
});

interface PathRow {
  why: string;
  local: string;
  domain?: string;
  expected: string | RegExp;
}

const PATH_ROWS: PathRow[] = [
  { why: 'ordinary user', local: 'alice', expected: '/var/mail/example.com/alice/Maildir' },
  { why: 'domain lower-cased', local: 'alice', domain: 'EXAMPLE.Com', expected: '/var/mail/example.com/alice/Maildir' },
  { why: 'local part case kept', local: 'Alice', expected: '/var/mail/example.com/Alice/Maildir' },
  { why: 'a dot inside the name is fine', local: 'first.last', expected: '/var/mail/example.com/first.last/Maildir' },
  { why: 'a name that merely contains ".." is not a path step', local: 'a..b', expected: '/var/mail/example.com/a..b/Maildir' },
  { why: 'parent directory', local: '..', expected: /local part/ },
  { why: 'current directory', local: '.', expected: /local part/ },
  { why: 'hidden entry', local: '.ssh', expected: /local part/ },
  { why: 'slash escapes downwards', local: 'a/b', expected: /local part/ },
  { why: 'slash and parent escape upwards', local: '../../etc', expected: /local part/ },
  { why: 'absolute path', local: '/etc/passwd', expected: /local part/ },
  { why: 'trailing parent step', local: 'alice/..', expected: /local part/ },
  { why: 'NUL truncates a path in C', local: 'alice\0', expected: /local part/ },
  { why: 'empty local part would deliver into the domain directory', local: '', expected: /local part/ },
  { why: 'domain with a slash', local: 'alice', domain: 'example.com/../x', expected: /domain/ },
  { why: 'domain that is a parent step', local: 'alice', domain: '..', expected: /domain/ },
  { why: 'domain with NUL', local: 'alice', domain: 'example.com\0', expected: /domain/ },
];

describe('mailboxPath', () => {
  for (const row of PATH_ROWS) {
    test(row.why, () => {
      const run = () => mailboxPath('/var/mail', row.local, row.domain ?? 'example.com');
      if (typeof row.expected === 'string') assert.equal(run(), row.expected);
      else {
        assert.throws(run, row.expected);
        assert.throws(run, UnsafeMailboxError, 'a permanent kind of error, so delivery fails it with 5.1.3');
      }
    });
  }
});

interface YamlRow {
  why: string;
  text: string;
  expected: AliasTable | RegExp;
}

const YAML_ROWS: YamlRow[] = [
  {
    why: 'string and list values',
    text: 'postmaster: root\nteam:\n  - alice\n  - bob@example.com\n"sales@example.com": [carol]\n',
    expected: { postmaster: ['root'], team: ['alice', 'bob@example.com'], 'sales@example.com': ['carol'] },
  },
  { why: 'an empty file has no aliases', text: '', expected: {} },
  { why: 'a comment-only file has no aliases', text: '# none yet\n', expected: {} },
  {
    why: '"__proto__" is an ordinary name',
    text: '__proto__: root\n',
    expected: JSON.parse('{"__proto__":["root"]}') as AliasTable,
  },
  { why: 'top level must be a mapping, not a list', text: '- alice\n', expected: /mapping/ },
  { why: 'top level must be a mapping, not a scalar', text: 'alice\n', expected: /mapping/ },
  { why: 'a missing value names the key', text: 'team:\n', expected: /"team".*not a string/ },
  { why: 'a number is not an address', text: 'team: 42\n', expected: /"team".*not a string/ },
  { why: 'a nested mapping is not an address', text: 'team:\n  a: b\n', expected: /"team".*not a string/ },
  { why: 'a list item that is not a string names the key', text: 'team: [alice, 7]\n', expected: /"team".*7/ },
  {
    // Found by fuzzing: the message was JSON.stringify's own TypeError about the circle.
    why: 'a mapping that holds itself (a YAML anchor) names the key',
    text: 'team: &t\n  x: *t\n',
    expected: /^Error: aliases: "team": target a mapping is not a string$/,
  },
  { why: 'an empty list would drop mail', text: 'team: []\n', expected: /"team".*no targets/ },
  { why: 'an empty string', text: 'team: ""\n', expected: /"team".*not one address/ },
  { why: 'a comma list in one string is a mistake (use a list)', text: 'team: alice, bob\n', expected: /"team".*use a list/ },
  { why: 'spaces inside one target', text: 'team: alice bob\n', expected: /"team".*use a list/ },
  { why: 'program delivery is not supported', text: 'team: "|/usr/bin/procmail"\n', expected: /"team".*program/ },
  { why: 'file delivery is not supported', text: 'team: /var/spool/archive\n', expected: /"team".*file/ },
  { why: 'a target with no local part', text: 'team: "@example.com"\n', expected: /"team".*not an address/ },
  { why: 'a key with no domain after "@"', text: '"team@": alice\n', expected: /"team@".*name@domain/ },
  { why: 'a key with no name before "@"', text: '"@example.com": alice\n', expected: /"@example.com".*name@domain/ },
  { why: 'names differing only in case collide', text: 'Team: alice\nteam: bob\n', expected: /"team".*"Team"/ },
  { why: 'a repeated key is a YAML error', text: 'team: alice\nteam: bob\n', expected: /team/ },
  { why: 'broken YAML is an error', text: 'team: [alice\n', expected: /./ },
];

describe('parseAliasesYaml', () => {
  for (const row of YAML_ROWS) {
    test(row.why, () => {
      if (row.expected instanceof RegExp) assert.throws(() => parseAliasesYaml(row.text), row.expected);
      else assert.deepEqual(parseAliasesYaml(row.text), row.expected);
    });
  }

  test('a parsed table resolves', () => {
    const aliases = parseAliasesYaml('Team: [alice, bob@example.org]\n');
    assert.deepEqual(resolveLocal('team@example.com', isLocalDomain, { ...OPTIONS, aliases }), [
      mailbox('alice', 'example.com'),
      unknown('bob@example.org'),
    ]);
  });
});
