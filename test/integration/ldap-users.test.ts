/*
 * ldap-users against a real slapd (test/services: people with {SSHA} and
 * cleartext passwords, aliases, an alias group, a disabled user, a qmail-ldap
 * tree). RCPT refuses unknown and disabled users (550 5.1.1); alias addresses
 * and groups reach the right Maildirs; SMTP AUTH (swaks, smtplib) by binding as
 * the user or by comparing hashes; `*`, `(`, `)` in addresses and logins reach
 * slapd escaped and widen nothing; slapd killed mid-run gives 451 / 454, one
 * log line per outage, and recovery when it is back; the qmail-ldap preset;
 * the cache saves searches; the bind password comes from a file or a variable.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { swaks } from '../harness/clients.js';
import { copiesOf, deliveryLines, send, waitDone } from '../harness/delivery.js';
import { type Gateway, REPO, run, runCli, startGateway } from '../harness/gateway.js';
import { type Peer, startPeer, storedMessages } from '../harness/peer.js';
import { type SlapdService, startService } from '../harness/services.js';

const RCPT_PROBE = join(REPO, 'test', 'clients', 'rcpt_probe.py');
const AUTH_PROBE = join(REPO, 'test', 'clients', 'auth_probe.py');
const UNKNOWN = (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in local recipient table`;
const TEMPFAIL = (a: string) => `451 4.3.0 <${a}>: Temporary lookup failure`;

let slapd: SlapdService;

async function rcpt(gw: Gateway, recipients: string[]): Promise<Record<string, string>> {
  const r = await run('python3', [RCPT_PROBE, '--port', String(gw.port), '--from', 'sender@far.test', '--', ...recipients]);
  assert.equal(r.code, 0, r.stderr);
  const replies = (JSON.parse(r.stdout) as { rcpt: { address: string; code: number; text: string }[] }).rcpt;
  return Object.fromEntries(replies.map((x) => [x.address, `${x.code} ${x.text}`]));
}

async function auth(gw: Gateway, user: string, password: string): Promise<string> {
  const r = await run('python3', [AUTH_PROBE, '--port', String(gw.port), '--user', user, '--password', password]);
  assert.equal(
    r.code,
    0,
    `${r.stderr}\n${gw.logs
      .slice(-8)
      .map((l) => JSON.stringify(l))
      .join('\n')}`,
  );
  const { code, text } = JSON.parse(r.stdout) as { code: number; text: string };
  return `${code} ${text}`;
}

/** slapd's search lines (log level stats) whose filter contains `text`. */
function searchesFor(text: string): string[] {
  return readFileSync(slapd.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes(' SRCH ') && l.includes(text));
}

/** slapd's log lines, for reading what happened from line `from` on. */
function slapdLog(): string[] {
  return readFileSync(slapd.logFile, 'utf8').split('\n');
}

/**
 * The binds slapd saw from log line `from` on, each with whether its connection had TLS
 * established before it (log level stats: "conn=N fd=M TLS established", "conn=N op=K BIND dn=...").
 */
function bindsSince(from: number): { dn: string; tls: boolean }[] {
  const tlsConns = new Set<string>();
  const binds: { dn: string; tls: boolean }[] = [];
  for (const line of slapdLog().slice(from)) {
    const conn = / (conn=\d+) /.exec(line)?.[1];
    if (!conn) continue;
    if (line.includes(' TLS established ')) tlsConns.add(conn);
    const bind = / BIND dn="([^"]*)"/.exec(line);
    if (bind) binds.push({ dn: bind[1]!, tls: tlsConns.has(conn) });
  }
  return binds;
}

function ldapBlock(options: Record<string, unknown>): string {
  return `
      - use: ldap-users
        with: ${JSON.stringify(options)}`;
}

async function ldapGateway(dir: string, options: Record<string, unknown>, delivery = ''): Promise<Gateway> {
  const block = ldapBlock(options);
  return startGateway({
    dir,
    plugins: `${block}
      - use: auth
        # Many failures on purpose from one address: no throttling, no delay.
        with: { require_tls: false, max_failures: 1000, failure_delay: 0 }
      - use: rcpthosts`,
    extraPipelines: `
  delivery:
    plugins:${block}`,
    delivery: `
  pipeline: delivery
  local_domains: [example.test]
  maildir_root: ./mail
  retry_base_local: 1h${delivery}`,
  });
}

before(async () => {
  slapd = await startService('slapd');
});
after(async () => {
  await slapd?.close();
});

describe('ldap-users (generic directory, binding as the user)', () => {
  let gw: Gateway;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-ldap-'));
    // The service password comes from a file next to the config, as an admin keeps it out of YAML.
    writeFileSync(join(dir, 'bind.pw'), `${slapd.bindPassword}\n`, { mode: 0o600 });
    gw = await ldapGateway(dir, {
      url: slapd.url,
      base_dn: slapd.baseDn,
      bind_dn: slapd.bindDn,
      bind_password: { file: 'bind.pw' },
      status_attribute: 'employeeType',
      disabled_values: ['disabled'],
      alias_filter: '(&(objectClass=nisMailAlias)(cn=%s))',
      timeout: '2s',
      connect_timeout: '2s',
      cache: false,
    });
  });
  after(async () => {
    await gw?.stop();
    gw?.cleanup();
  });

  it('RCPT: users, alias addresses and alias groups 250; unknown and disabled users 550 5.1.1', async () => {
    const replies = await rcpt(gw, [
      'alice@example.test',
      'Alice.Alias@example.test',
      'team@example.test',
      'carol@example.test',
      'dave@example.test',
      'dave.alias@example.test',
      'nobody@example.test',
    ]);
    assert.deepEqual(replies, {
      'alice@example.test': '250 2.1.5 Ok',
      'Alice.Alias@example.test': '250 2.1.5 Ok',
      'team@example.test': '250 2.1.5 Ok',
      'carol@example.test': '250 2.1.5 Ok',
      'dave@example.test': UNKNOWN('dave@example.test'),
      'dave.alias@example.test': UNKNOWN('dave.alias@example.test'),
      'nobody@example.test': UNKNOWN('nobody@example.test'),
    });
  });

  it('RCPT: *, ( and ) in an address reach slapd escaped and match nobody', async () => {
    const attempts = ['al*@example.test', '*@example.test', '"*)(mail=*"@example.test'];
    const replies = await rcpt(gw, attempts);
    for (const a of attempts) assert.equal(replies[a], UNKNOWN(a), a);
    // slapd saw the escaped values (RFC 4515): the star is a character, not a wildcard.
    assert.ok(searchesFor('(mail=al\\2A@example.test)').length > 0, 'the search for al*@ was escaped');
    assert.ok(searchesFor('(mail=\\2A@example.test)').length > 0, 'the search for *@ was escaped');
    assert.ok(searchesFor('\\2A\\29\\28mail=\\2A').length > 0, 'parentheses were escaped');
  });

  it('delivery: an alias address and an alias group reach the right Maildirs', async () => {
    const id = await send(
      gw,
      'sender@far.test',
      ['alice.alias@example.test', 'team@example.test'],
      'Subject: ldap aliases\r\n\r\nhi\r\n',
    );
    await waitDone(gw, id);
    const root = join(dir, 'mail');
    assert.ok(copiesOf(root, 'example.test', 'alice', 'Subject: ldap aliases') >= 1, "alice's Maildir");
    assert.equal(copiesOf(root, 'example.test', 'bob', 'Subject: ldap aliases'), 1, "bob's Maildir, through the group");
    for (const name of ['alice.alias', 'team']) assert.equal(existsSync(join(root, 'example.test', name)), false, name);
    assert.ok(!gw.logs.some((l) => l.event === 'bounce'), 'nothing bounced');
  });

  it('AUTH (smtplib): good, bad, disabled, cleartext-stored, uid login, empty password, wildcard logins', async () => {
    const ok = '235 2.7.0 Authentication successful';
    const failed = '535 5.7.8 Error: authentication failed';
    const cases: [string, string, string][] = [
      ['alice@example.test', 'alice-secret', ok],
      ['alice', 'alice-secret', ok],
      ['carol@example.test', 'carol-secret', ok],
      ['alice@example.test', 'bob-secret', failed],
      ['dave@example.test', 'dave-secret', failed],
      ['nobody@example.test', 'x', failed],
      ['alice@example.test', '', failed],
      ['al*', 'alice-secret', failed],
      ['*', 'alice-secret', failed],
      ['alice)(uid=*', 'alice-secret', failed],
    ];
    for (const [user, password, expected] of cases)
      assert.equal(await auth(gw, user, password), expected, `${user} / ${password}`);
    assert.ok(searchesFor('(uid=al\\2A)').length > 0, 'the login al* was searched escaped');
  });

  it('AUTH (swaks): PLAIN and LOGIN, good and bad', async () => {
    const good = await swaks(gw.port, [
      '--quit-after',
      'AUTH',
      '--auth',
      'PLAIN',
      '--auth-user',
      'bob@example.test',
      '--auth-password',
      'bob-secret',
    ]);
    assert.match(good.transcript, /^<- {2}235 2\.7\.0 Authentication successful$/m);
    const bad = await swaks(gw.port, [
      '--quit-after',
      'AUTH',
      '--auth',
      'LOGIN',
      '--auth-user',
      'bob@example.test',
      '--auth-password',
      'wrong',
    ]);
    assert.match(bad.transcript, /^<\*\* 535 5\.7\.8 /m);
    assert.doesNotMatch(bad.transcript, / 235 /);
  });

  it('slapd killed mid-run: 451 4.3.0 at RCPT, 454 at AUTH, one log line per outage, recovery when it is back', async () => {
    const before = gw.logs.length;
    await slapd.kill();
    try {
      const down = await rcpt(gw, ['alice@example.test', 'bob@example.test', 'nobody@example.test']);
      assert.deepEqual(down, {
        'alice@example.test': TEMPFAIL('alice@example.test'),
        'bob@example.test': TEMPFAIL('bob@example.test'),
        'nobody@example.test': TEMPFAIL('nobody@example.test'),
      });
      assert.equal(await auth(gw, 'alice@example.test', 'alice-secret'), '454 4.7.0 Temporary authentication failure');
      assert.equal(await auth(gw, 'bob@example.test', 'bob-secret'), '454 4.7.0 Temporary authentication failure');
      const outage = gw.logs.slice(before).filter((l) => /LDAP server .* is unavailable/.test(String(l.msg)));
      // One line per plugin instance (the inbound pipeline's for AUTH, the delivery pipeline's for RCPT).
      assert.deepEqual(
        outage.map((l) => `${l.pipeline} ${l.level}`).sort(),
        ['delivery error', 'inbound error'],
        JSON.stringify(outage),
      );
    } finally {
      await slapd.restart();
    }
    assert.deepEqual(await rcpt(gw, ['alice@example.test', 'nobody@example.test']), {
      'alice@example.test': '250 2.1.5 Ok',
      'nobody@example.test': UNKNOWN('nobody@example.test'),
    });
    assert.equal(await auth(gw, 'alice@example.test', 'alice-secret'), '235 2.7.0 Authentication successful');
    const recovered = gw.logs.slice(before).filter((l) => /answers again after/.test(String(l.msg)));
    assert.equal(recovered.length, 2, 'each instance logs the recovery once');
  });
});

describe('ldap-users failing safe', () => {
  it('a slapd that hangs (SIGSTOP) gives 451 4.3.0 within the timeout, and answers again once it runs', async () => {
    const gw = await ldapGateway(mkdtempSync(join(tmpdir(), 'qgate-ldap-hang-')), {
      url: slapd.url,
      base_dn: slapd.peopleDn,
      timeout: '1s',
      connect_timeout: '1s',
      cache: false,
    });
    try {
      assert.deepEqual(await rcpt(gw, ['alice@example.test']), { 'alice@example.test': '250 2.1.5 Ok' });
      process.kill(slapd.pid, 'SIGSTOP');
      let started: number;
      try {
        started = Date.now();
        assert.deepEqual(await rcpt(gw, ['bob@example.test']), { 'bob@example.test': TEMPFAIL('bob@example.test') });
        assert.ok(Date.now() - started < 5_000, `answered in ${Date.now() - started} ms`);
      } finally {
        process.kill(slapd.pid, 'SIGCONT');
      }
      assert.deepEqual(await rcpt(gw, ['bob@example.test']), { 'bob@example.test': '250 2.1.5 Ok' });
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('starttls without ca_file (the system CAs do not know the test CA): 451 and 454, never a plaintext fallback', async () => {
    const gw = await ldapGateway(mkdtempSync(join(tmpdir(), 'qgate-ldap-starttls-')), {
      url: slapd.url,
      starttls: true,
      base_dn: slapd.peopleDn,
      bind_dn: slapd.bindDn,
      bind_password: slapd.bindPassword,
      cache: false,
    });
    try {
      assert.deepEqual(await rcpt(gw, ['alice@example.test']), { 'alice@example.test': TEMPFAIL('alice@example.test') });
      assert.equal(await auth(gw, 'alice@example.test', 'alice-secret'), '454 4.7.0 Temporary authentication failure');
      const bindsAsGateway = readFileSync(slapd.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('BIND dn="cn=gateway,dc=example,dc=test"'));
      const before = bindsAsGateway.length;
      assert.deepEqual(await rcpt(gw, ['bob@example.test']), { 'bob@example.test': TEMPFAIL('bob@example.test') });
      const after = readFileSync(slapd.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('BIND dn="cn=gateway,dc=example,dc=test"')).length;
      assert.equal(after, before, 'no bind (and no password) went out without TLS');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('a reload (SIGHUP) reads the bind password file again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-ldap-reload-'));
    writeFileSync(join(dir, 'bind.pw'), 'not-the-password\n', { mode: 0o600 });
    const gw = await ldapGateway(dir, {
      url: slapd.url,
      base_dn: slapd.peopleDn,
      bind_dn: slapd.bindDn,
      bind_password: { file: 'bind.pw' },
      cache: false,
    });
    try {
      // A service bind the directory refuses is a directory that cannot answer: 451, not 550.
      assert.deepEqual(await rcpt(gw, ['alice@example.test']), { 'alice@example.test': TEMPFAIL('alice@example.test') });
      writeFileSync(join(dir, 'bind.pw'), `${slapd.bindPassword}\n`);
      const isOutcome = (l: { event?: unknown; changed?: unknown; problems?: unknown }) =>
        l.event === 'reload' && (Array.isArray(l.changed) || Array.isArray(l.problems));
      const seen = gw.logs.filter(isOutcome).length;
      gw.process.kill('SIGHUP');
      let n = 0;
      const outcome = await gw.waitForLog((l) => isOutcome(l) && ++n > seen, 30_000);
      assert.ok(Array.isArray(outcome.changed), JSON.stringify(outcome));
      assert.deepEqual(await rcpt(gw, ['alice@example.test']), { 'alice@example.test': '250 2.1.5 Ok' });
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('check config: an unset variable or a missing file for bind_password is an error at that key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-ldap-secret-'));
    const entry = (password: string) =>
      `      - use: ldap-users\n        with:\n          url: ${slapd.url}\n          base_dn: ${slapd.baseDn}\n          bind_dn: ${slapd.bindDn}\n          bind_password: ${password}\n`;
    for (const [password, message] of [
      ['{ env: QGATE_TEST_UNSET_LDAP_PW }', 'environment variable QGATE_TEST_UNSET_LDAP_PW is not set'],
      ['{ file: missing.pw }', `cannot read ${join(dir, 'missing.pw')}: no such file`],
    ]) {
      writeFileSync(
        join(dir, 'config.yaml'),
        `hostname: mx.example.test\nqueue: { path: ./queue }\nlisteners:\n  - { name: smtp, port: 0, pipeline: inbound }\npipelines:\n  inbound:\n    plugins:\n${entry(password!)}`,
      );
      const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
      assert.equal(r.code, 78, r.stdout + r.stderr);
      assert.ok(
        (r.stderr + r.stdout).includes(`config.yaml:13:26 pipelines.inbound.plugins[0].with.bind_password: ${message}`),
        r.stderr,
      );
    }
  });

  it('check config: ca_file on an ldap:// URL without starttls is an error at ca_file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-ldap-plain-ca-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      `hostname: mx.example.test\nqueue: { path: ./queue }\nlisteners:\n  - { name: smtp, port: 0, pipeline: inbound }\npipelines:\n  inbound:\n    plugins:\n      - use: ldap-users\n        with:\n          url: ${slapd.url}\n          base_dn: ${slapd.baseDn}\n          ca_file: ${slapd.caFile}\n`,
    );
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.match(r.stderr + r.stdout, /plugins\[0\]\.with\.ca_file: an ldap:\/\/ URL without starttls never uses TLS/, r.stderr);
  });
});

describe('ldap-users over TLS (the private CA of the test slapd)', () => {
  const ok = '235 2.7.0 Authentication successful';
  const failed = '535 5.7.8 Error: authentication failed';

  /** A gateway binding as the service account and as each user, over `tls`. */
  async function tlsGateway(name: string, tls: Record<string, unknown>): Promise<Gateway> {
    return ldapGateway(mkdtempSync(join(tmpdir(), `qgate-ldap-${name}-`)), {
      ...tls,
      base_dn: slapd.peopleDn,
      bind_dn: slapd.bindDn,
      bind_password: slapd.bindPassword,
      status_attribute: 'employeeType',
      disabled_values: ['disabled'],
      timeout: '2s',
      connect_timeout: '2s',
      cache: false,
    });
  }

  for (const [name, tls] of [
    ['StartTLS', () => ({ url: slapd.url, starttls: true, ca_file: slapd.caFile })],
    ['ldaps://', () => ({ url: slapd.tlsUrl, ca_file: slapd.caFile })],
  ] as const) {
    it(`${name} with ca_file: RCPT lookups and AUTH binds, every bind on a TLS connection`, async () => {
      const from = slapdLog().length;
      const gw = await tlsGateway(name === 'StartTLS' ? 'starttls' : 'ldaps', tls());
      try {
        assert.deepEqual(await rcpt(gw, ['alice@example.test', 'dave@example.test', 'nobody@example.test']), {
          'alice@example.test': '250 2.1.5 Ok',
          'dave@example.test': UNKNOWN('dave@example.test'),
          'nobody@example.test': UNKNOWN('nobody@example.test'),
        });
        assert.equal(await auth(gw, 'alice@example.test', 'alice-secret'), ok);
        assert.equal(await auth(gw, 'alice@example.test', 'bob-secret'), failed);
        const binds = bindsSince(from);
        assert.ok(
          binds.some((b) => b.dn === slapd.bindDn) && binds.some((b) => b.dn === `uid=alice,${slapd.peopleDn}`),
          JSON.stringify(binds),
        );
        assert.deepEqual(
          binds.filter((b) => !b.tls),
          [],
          'no bind went out without TLS',
        );
        if (name === 'StartTLS')
          assert.ok(
            slapdLog()
              .slice(from)
              .some((l) => l.includes(' STARTTLS')),
          );
      } finally {
        await gw.stop();
        gw.cleanup();
      }
    });
  }

  it('a CA that did not sign the server certificate: 451 4.3.0 at RCPT, 454 at AUTH, no bind at all', async (t) => {
    // A CA of the same name, made here, that signed nothing of slapd's: the chain does not verify.
    const dir = mkdtempSync(join(tmpdir(), 'qgate-ldap-strange-ca-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stranger = join(dir, 'stranger-ca.pem');
    const made = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=qgate test CA',
      '-keyout',
      join(dir, 'stranger-ca.key'),
      '-out',
      stranger,
    ]);
    assert.equal(made.code, 0, made.stderr);
    for (const [name, tls] of [
      ['starttls', { url: slapd.url, starttls: true, ca_file: stranger }],
      ['ldaps', { url: slapd.tlsUrl, ca_file: stranger }],
    ] as const) {
      const from = slapdLog().length;
      const gw = await tlsGateway(`strange-ca-${name}`, tls);
      try {
        assert.deepEqual(await rcpt(gw, ['alice@example.test']), { 'alice@example.test': TEMPFAIL('alice@example.test') }, name);
        assert.equal(await auth(gw, 'alice@example.test', 'alice-secret'), '454 4.7.0 Temporary authentication failure', name);
        assert.deepEqual(bindsSince(from), [], `${name}: no bind (and no password) reached slapd`);
      } finally {
        await gw.stop();
        gw.cleanup();
      }
    }
  });
});

describe('ldap-users comparing userPassword hashes', () => {
  let gw: Gateway;
  before(async () => {
    // Reading userPassword takes an account allowed to: here the directory's admin, from a variable.
    process.env.QGATE_TEST_LDAP_ADMIN_PW = slapd.adminPassword;
    gw = await ldapGateway(mkdtempSync(join(tmpdir(), 'qgate-ldap-compare-')), {
      url: slapd.url,
      base_dn: slapd.peopleDn,
      bind_dn: slapd.adminDn,
      bind_password: { env: 'QGATE_TEST_LDAP_ADMIN_PW' },
      password_check: 'compare',
      status_attribute: 'employeeType',
      disabled_values: ['disabled'],
    });
  });
  after(async () => {
    delete process.env.QGATE_TEST_LDAP_ADMIN_PW;
    await gw?.stop();
    gw?.cleanup();
  });

  it('{SSHA} and cleartext values, a disabled account, injection', async () => {
    const ok = '235 2.7.0 Authentication successful';
    const failed = '535 5.7.8 Error: authentication failed';
    assert.equal(await auth(gw, 'alice@example.test', 'alice-secret'), ok);
    assert.equal(await auth(gw, 'alice@example.test', 'alice-secreT'), failed);
    assert.equal(await auth(gw, 'carol@example.test', 'carol-secret'), ok);
    assert.equal(await auth(gw, 'carol@example.test', 'carol'), failed);
    assert.equal(await auth(gw, 'dave@example.test', 'dave-secret'), failed);
    assert.equal(await auth(gw, 'al*', 'alice-secret'), failed);
  });
});

describe('ldap-users with the qmail-ldap preset', () => {
  let gw: Gateway;
  let peer: Peer;
  let dir: string;
  before(async () => {
    peer = await startPeer('accept');
    dir = mkdtempSync(join(tmpdir(), 'qgate-ldap-qmail-'));
    gw = await ldapGateway(
      dir,
      {
        url: slapd.url,
        base_dn: slapd.qmailDn,
        bind_dn: slapd.bindDn,
        bind_password: slapd.bindPassword,
        preset: 'qmail-ldap',
        mailbox_prefix: join(dir, 'store'),
      },
      `
  create_mailboxes: true
  routes:
    - { domain: remote.test, host: 127.0.0.1, port: ${peer.port}, tls: none }`,
    );
  });
  after(async () => {
    await gw?.stop();
    gw?.cleanup();
    await peer?.stop();
  });

  it('RCPT: mail and mailAlternateAddress 250, accountStatus disabled 550, noaccess still receives', async () => {
    assert.deepEqual(
      await rcpt(gw, [
        'erin@example.test',
        'sales@example.test',
        'heidi@example.test',
        'ivan@example.test',
        'frank@example.test',
        'grace@example.test',
        'grace.alias@example.test',
        'alice@example.test',
      ]),
      {
        'erin@example.test': '250 2.1.5 Ok',
        'sales@example.test': '250 2.1.5 Ok',
        'heidi@example.test': '250 2.1.5 Ok',
        'ivan@example.test': '250 2.1.5 Ok',
        'frank@example.test': '250 2.1.5 Ok',
        'grace@example.test': UNKNOWN('grace@example.test'),
        'grace.alias@example.test': UNKNOWN('grace.alias@example.test'),
        'alice@example.test': UNKNOWN('alice@example.test'),
      },
    );
  });

  it('AUTH: active logs in, noaccess and disabled do not', async () => {
    assert.equal(await auth(gw, 'erin@example.test', 'erin-secret'), '235 2.7.0 Authentication successful');
    assert.equal(await auth(gw, 'erin', 'erin-secret'), '235 2.7.0 Authentication successful');
    assert.equal(await auth(gw, 'ivan@example.test', 'ivan-secret'), '535 5.7.8 Error: authentication failed');
    assert.equal(await auth(gw, 'grace@example.test', 'grace-secret'), '535 5.7.8 Error: authentication failed');
  });

  it('delivery: mailMessageStore below mailbox_prefix; mailForwardingAddress with deliveryMode nolocal', async () => {
    const id = await send(
      gw,
      'sender@far.test',
      ['judy.alias@example.test', 'frank@example.test'],
      'Subject: qmail-ldap\r\n\r\nhi\r\n',
    );
    await waitDone(gw, id);
    const judy = join(dir, 'store', 'example.test', 'judy', 'new');
    assert.equal(readdirSync(judy).length, 1, "judy's mailMessageStore");
    assert.equal(existsSync(join(dir, 'mail', 'example.test', 'frank')), false, 'nolocal: no Maildir for frank');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const stored = (await storedMessages(peer.store)).filter((m) => m.data.toString().includes('Subject: qmail-ldap'));
      const forwarded = stored.flatMap((m) => m.rcptTos).sort();
      if (forwarded.length >= 2 || Date.now() > deadline) {
        assert.deepEqual(forwarded, ['frank.backup@remote.test', 'frank@remote.test'], peer.log());
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('delivery: mailQuotaSize is the Maildir quota: a message that fits is delivered, one past it deferred 4.2.2', async () => {
    // judy's mailQuotaSize is 2000 octets: the small messages fit, the big one would pass the quota.
    const maildir = join(dir, 'store', 'example.test', 'judy');
    const copies = () => (existsSync(join(maildir, 'new')) ? readdirSync(join(maildir, 'new')).length : 0);
    const small = await send(gw, 'sender@far.test', ['judy@example.test'], 'Subject: quota small\r\n\r\nhi\r\n');
    await waitDone(gw, small);
    const delivered = deliveryLines(gw, small, 'judy@example.test');
    assert.equal(delivered[0]?.result, 'delivered', JSON.stringify(delivered));
    assert.ok(String(delivered[0]?.reply).includes(maildir), 'below mailbox_prefix');
    const before = copies();
    const big = await send(
      gw,
      'sender@far.test',
      ['judy@example.test'],
      `Subject: quota big\r\n\r\n${`${'x'.repeat(76)}\r\n`.repeat(30)}`,
    );
    const line = await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === big, 20_000);
    assert.equal(line.result, 'deferred', JSON.stringify(line));
    assert.match(
      String(line.reply),
      /^452 4\.2\.2 judy@example\.test: mailbox full: \d+ of 2000 octets used/,
      JSON.stringify(line),
    );
    assert.equal(copies(), before, 'nothing more reached the Maildir');
  });
});

describe('ldap-users answer cache', () => {
  it('a flood of RCPTs for one address is one search with the cache, one each without', async () => {
    const counts: Record<string, number> = {};
    for (const [name, cache] of [
      ['on', {}],
      ['off', false],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), `qgate-ldap-cache-${name}-`));
      const address = name === 'on' ? 'bob.alias@example.test' : 'carol@example.test';
      const gw = await ldapGateway(dir, { url: slapd.url, base_dn: slapd.peopleDn, cache });
      try {
        const before = searchesFor(`(mail=${address})`).length;
        const replies = await rcpt(
          gw,
          Array.from({ length: 20 }, () => address),
        );
        assert.ok(Object.values(replies).every((r) => r === '250 2.1.5 Ok'));
        counts[name] = searchesFor(`(mail=${address})`).length - before;
      } finally {
        await gw.stop();
        gw.cleanup();
      }
    }
    assert.deepEqual(counts, { on: 1, off: 20 });
  });
});
