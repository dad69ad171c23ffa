/*
 * POP3 logins through the user directories, against a real slapd and a real
 * PostgreSQL: mail the SMTP side delivered to a directory user (directly and
 * through an alias) is fetched with Python's poplib, by USER/PASS and AUTH
 * PLAIN, for ldap-users (binding as the user, comparing hashes) and sql-users
 * (qgate's schema, the vpopmail preset). A bad password and a disabled account
 * get -ERR [AUTH]; a directory stopped mid-run gets -ERR [SYS/TEMP], never
 * "authentication failed", and logins work again once it is back. Per service:
 * vpopmail's NO_POP and NO_SMTP refuse one protocol and not the other, and
 * qmail-ldap's accountStatus noaccess receives mail but logs in to neither.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client as LdapClient } from 'ldapts';
import pg from 'pg';
import { send, waitDone } from '../harness/delivery.js';
import { type Gateway, REPO, run, startGateway } from '../harness/gateway.js';
import { type PostgresService, type SlapdService, startService } from '../harness/services.js';

const POPLIB = join(REPO, 'test', 'clients', 'poplib_client.py');
const AUTH_PROBE = join(REPO, 'test', 'clients', 'auth_probe.py');
const SCHEMA = join(REPO, 'plugins', 'sql-users', 'schema.sql');
const FIXTURES = join(REPO, 'test', 'fixtures', 'sql-users');
/** doveadm pw -s SHA512-CRYPT -p 'Tr0ub4dor&3'; the vpopmail fixture's passwords are the same. */
const SQL_PASSWORD = 'Tr0ub4dor&3';
const SHA512_CRYPT =
  '{SHA512-CRYPT}$6$CGqUV/q0gfy5gSLc$rBMyILW4i8j9Il42d7jWzmDeDZgPHpP/cCKgxq1iVbeh6i..1xYlyHcPm7hRySv6oWSyFEhobalQTuAFKurIU/';
const AUTH_FAILED = '-ERR [AUTH] Authentication failed';
const SYS_TEMP = /^-ERR \[SYS\/TEMP\] /;

interface StepResult {
  readonly ok: boolean;
  readonly resp?: string;
  readonly error?: string;
  readonly lines?: string[];
  readonly count?: number;
}

type Method = 'user' | 'plain';

/** One poplib session on the plaintext POP3 listener: the result of each step after the greeting. */
async function poplib(port: number, steps: string[]): Promise<StepResult[]> {
  const r = await run('python3', [POPLIB, String(port), 'plain', '-', JSON.stringify(steps)]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as StepResult[]).slice(1);
}

/** Logs in by USER/PASS or AUTH PLAIN: the login's reply (resp or error). */
async function login(port: number, method: Method, user: string, password: string, then: string[] = []): Promise<StepResult[]> {
  const steps = method === 'user' ? [`user ${user}`, `pass ${password}`] : [`plain ${user} ${password}`];
  const results = await poplib(port, [...steps, ...then, 'quit']);
  return results.slice(steps.length - 1);
}

const replyOf = (r: StepResult | undefined) => (r?.ok ? r.resp : r?.error) ?? '';

/** Logs in and fetches every message: the Subject lines, in order. */
async function fetchSubjects(port: number, method: Method, user: string, password: string): Promise<string[]> {
  const [greeting, stat] = await login(port, method, user, password, ['stat']);
  assert.match(replyOf(greeting), /^\+OK Logged in/, `${method} ${user}`);
  const count = stat?.count ?? 0;
  const retrs = Array.from({ length: count }, (_, i) => `retr ${i + 1}`);
  const results = await login(port, method, user, password, retrs);
  return results
    .slice(1, 1 + count)
    .map((r) => (r.lines ?? []).find((l) => l.startsWith('Subject: '))?.slice(9) ?? '(none)')
    .sort();
}

/** SMTP AUTH PLAIN with Python's smtplib: the reply code. */
async function smtpAuth(gw: Gateway, user: string, password: string): Promise<number> {
  const r = await run('python3', [AUTH_PROBE, '--port', String(gw.port), '--user', user, '--password', password]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { code: number }).code;
}

/** The SMTP listener (recipients, AUTH), delivery and POP3 ask the same directory. */
async function directoryGateway(dir: string, entry: string, domains: string[]): Promise<{ gw: Gateway; pop: number }> {
  const gw = await startGateway({
    dir,
    plugins: `${entry}
      - use: auth
        with: { require_tls: false, max_failures: 1000, failure_delay: 0 }
      - use: rcpthosts`,
    extraListeners: `
  - name: pop3
    address: 127.0.0.1
    port: 0
    pipeline: pop3
    protocol: pop3
    plaintext_login: true
    max_login_failures: 1000`,
    extraPipelines: `
  delivery:
    plugins:${entry}
  pop3:
    plugins:${entry}`,
    delivery: `
  pipeline: delivery
  local_domains: ${JSON.stringify(domains)}
  maildir_root: ./mail
  create_mailboxes: true`,
  });
  return { gw, pop: await gw.portOf('pop3') };
}

async function deliver(gw: Gateway, rcpts: string[], subject: string): Promise<void> {
  await waitDone(gw, await send(gw, 'sender@far.test', rcpts, `Subject: ${subject}\r\n\r\nhello\r\n`));
}

/** The reply to a login that should fail. */
async function refused(port: number, method: Method, user: string, password: string): Promise<string> {
  const [reply] = await login(port, method, user, password);
  return replyOf(reply);
}

/**
 * The directory stopped: -ERR [SYS/TEMP] by either method, never an authentication
 * failure; restarted: the login works again without restarting the gateway.
 */
async function outageAndRecovery(
  port: number,
  service: { kill(): Promise<void>; restart(): Promise<void> },
  user: string,
  password: string,
): Promise<void> {
  await service.kill();
  try {
    for (const method of ['user', 'plain'] as const) {
      const reply = await refused(port, method, user, password);
      assert.match(reply, SYS_TEMP, `${method} while the directory is down`);
    }
  } finally {
    await service.restart();
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [reply] = await login(port, 'user', user, password);
    if (reply?.ok || Date.now() > deadline) {
      assert.match(replyOf(reply), /^\+OK Logged in/, 'a login works again once the directory is back');
      break;
    }
    assert.match(replyOf(reply), SYS_TEMP, 'while the directory comes back: temporary, never a bad password');
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.match(replyOf((await login(port, 'plain', user, password))[0]), /^\+OK Logged in/);
}

describe('POP3 through ldap-users', () => {
  let slapd: SlapdService;
  before(async () => {
    slapd = await startService('slapd');
  });
  after(async () => {
    await slapd?.close();
  });

  const ldap = (options: Record<string, unknown>) => `
      - use: ldap-users
        with: ${JSON.stringify({
          url: slapd.url,
          status_attribute: 'employeeType',
          disabled_values: ['disabled'],
          timeout: '2s',
          connect_timeout: '2s',
          cache: false,
          ...options,
        })}`;

  for (const mode of ['bind', 'compare'] as const) {
    describe(`checking passwords by ${mode}`, () => {
      let gw: Gateway;
      let pop: number;
      before(async () => {
        const options =
          mode === 'bind'
            ? { base_dn: slapd.baseDn, bind_dn: slapd.bindDn, bind_password: slapd.bindPassword }
            : { base_dn: slapd.peopleDn, bind_dn: slapd.adminDn, bind_password: slapd.adminPassword, password_check: 'compare' };
        ({ gw, pop } = await directoryGateway(mkdtempSync(join(tmpdir(), `qgate-pop3-ldap-${mode}-`)), ldap(options), [
          'example.test',
        ]));
      });
      after(async () => {
        await gw?.stop();
        gw?.cleanup();
      });

      it('fetches mail delivered to the user and to an alias, by USER/PASS and AUTH PLAIN', async () => {
        await deliver(gw, ['alice@example.test'], 'direct');
        await deliver(gw, ['alice.alias@example.test'], 'via alias');
        for (const method of ['user', 'plain'] as const) {
          assert.deepEqual(await fetchSubjects(pop, method, 'alice@example.test', 'alice-secret'), ['direct', 'via alias']);
        }
        // uid login, cleartext-stored password (carol): the same Maildir as the address.
        assert.deepEqual(await fetchSubjects(pop, 'user', 'alice', 'alice-secret'), ['direct', 'via alias']);
        assert.deepEqual(await fetchSubjects(pop, 'plain', 'carol@example.test', 'carol-secret'), []);
      });

      it('a bad password, an unknown user and a disabled account get -ERR [AUTH]', async () => {
        for (const method of ['user', 'plain'] as const) {
          assert.equal(await refused(pop, method, 'alice@example.test', 'alice-secreT'), AUTH_FAILED);
          assert.equal(await refused(pop, method, 'nobody@example.test', 'x'), AUTH_FAILED);
          assert.equal(await refused(pop, method, 'dave@example.test', 'dave-secret'), AUTH_FAILED, 'disabled');
        }
      });

      it('slapd stopped: -ERR [SYS/TEMP], then logins work again when it is back', async () => {
        await outageAndRecovery(pop, slapd, 'alice@example.test', 'alice-secret');
      });
    });
  }

  describe('the qmail-ldap preset', () => {
    let gw: Gateway;
    let pop: number;
    let dir: string;
    before(async () => {
      // A noaccess account whose mailMessageStore is below mailbox_prefix (ivan's in the
      // shared directory is an absolute /var/mail path, not for a test to write to).
      const admin = new LdapClient({ url: slapd.url });
      await admin.bind(slapd.adminDn, slapd.adminPassword);
      try {
        await admin.add(`uid=nina,${slapd.qmailDn}`, {
          objectClass: ['inetOrgPerson', 'qmailUser'],
          uid: 'nina',
          cn: 'Nina Example',
          sn: 'Example',
          mail: 'nina@example.test',
          mailAlternateAddress: 'nina.alias@example.test',
          mailMessageStore: 'example.test/nina/',
          accountStatus: 'noaccess',
          userPassword: 'nina-secret',
        });
      } finally {
        await admin.unbind();
      }
      dir = mkdtempSync(join(tmpdir(), 'qgate-pop3-qmail-ldap-'));
      const entry = `
      - use: ldap-users
        with: ${JSON.stringify({
          url: slapd.url,
          base_dn: slapd.qmailDn,
          bind_dn: slapd.bindDn,
          bind_password: slapd.bindPassword,
          preset: 'qmail-ldap',
          mailbox_prefix: join(dir, 'store'),
          cache: false,
        })}`;
      ({ gw, pop } = await directoryGateway(dir, entry, ['example.test']));
    });
    after(async () => {
      await gw?.stop();
      gw?.cleanup();
    });

    it('an active account reads its mailMessageStore; noaccess receives mail but logs in to neither service', async () => {
      await deliver(gw, ['judy.alias@example.test', 'nina.alias@example.test'], 'qmail-ldap');
      for (const method of ['user', 'plain'] as const) {
        assert.deepEqual(await fetchSubjects(pop, method, 'judy', 'judy-secret'), ['qmail-ldap']);
        assert.equal(await refused(pop, method, 'nina@example.test', 'nina-secret'), AUTH_FAILED, 'noaccess');
        assert.equal(await refused(pop, method, 'grace@example.test', 'grace-secret'), AUTH_FAILED, 'disabled');
      }
      const nina = join(dir, 'store', 'example.test', 'nina', 'new');
      assert.equal(readdirSync(nina).length, 1, 'noaccess still receives mail');
      assert.equal(await smtpAuth(gw, 'nina@example.test', 'nina-secret'), 535, 'noaccess: no SMTP AUTH either');
      assert.equal(await smtpAuth(gw, 'judy@example.test', 'judy-secret'), 235);
    });
  });
});

describe('POP3 through sql-users', () => {
  let svc: PostgresService;
  before(async () => {
    svc = await startService('postgres');
  });
  after(async () => {
    await svc?.close();
  });

  async function database(name: string): Promise<string> {
    const admin = new pg.Client({ host: svc.socketDir, port: svc.port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name} OWNER ${svc.user}`);
    } finally {
      await admin.end();
    }
    return `postgres://${svc.user}:${svc.password}@127.0.0.1:${svc.port}/${name}`;
  }

  async function sql(url: string, text: string, values: unknown[] = []): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(text, values);
    } finally {
      await client.end();
    }
  }

  const entry = (url: string, extra = '') => `
      - use: sql-users
        with: { url: "${url}", cache: false, connect_timeout: 2s${extra} }`;

  describe('the qgate schema', () => {
    let gw: Gateway;
    let pop: number;
    let dir: string;
    before(async () => {
      const url = await database('pop3_qgate');
      await sql(url, readFileSync(SCHEMA, 'utf8'));
      dir = mkdtempSync(join(tmpdir(), 'qgate-pop3-sql-'));
      await sql(url, "INSERT INTO domains VALUES ('example.test')");
      await sql(
        url,
        `INSERT INTO users (address, password, maildir, enabled) VALUES
          ('alice@example.test', $1, $2, true),
          ('bob@example.test', $1, NULL, true),
          ('off@example.test', $1, NULL, false)`,
        [SHA512_CRYPT, join(dir, 'boxes', 'alice')],
      );
      await sql(
        url,
        "INSERT INTO aliases VALUES ('sales@example.test', 'alice@example.test'), ('sales@example.test', 'bob@example.test')",
      );
      ({ gw, pop } = await directoryGateway(dir, entry(url), ['example.test']));
    });
    after(async () => {
      await gw?.stop();
      gw?.cleanup();
    });

    it('fetches mail delivered to the user and to an alias, by USER/PASS and AUTH PLAIN', async () => {
      await deliver(gw, ['alice@example.test'], 'direct');
      await deliver(gw, ['sales@example.test'], 'via alias');
      for (const method of ['user', 'plain'] as const) {
        // alice's Maildir is the one the database names, bob's the default layout.
        assert.deepEqual(await fetchSubjects(pop, method, 'alice@example.test', SQL_PASSWORD), ['direct', 'via alias']);
        assert.deepEqual(await fetchSubjects(pop, method, 'Bob@Example.TEST', SQL_PASSWORD), ['via alias']);
      }
    });

    it('a bad password, an unknown user and a disabled account get -ERR [AUTH]', async () => {
      for (const method of ['user', 'plain'] as const) {
        assert.equal(await refused(pop, method, 'alice@example.test', 'wrong'), AUTH_FAILED);
        assert.equal(await refused(pop, method, 'nobody@example.test', SQL_PASSWORD), AUTH_FAILED);
        assert.equal(await refused(pop, method, 'off@example.test', SQL_PASSWORD), AUTH_FAILED, 'disabled');
        assert.equal(await refused(pop, method, "alice@example.test' --", SQL_PASSWORD), AUTH_FAILED);
      }
    });

    it('PostgreSQL stopped: -ERR [SYS/TEMP], then logins work again when it is back', async () => {
      await outageAndRecovery(pop, svc, 'alice@example.test', SQL_PASSWORD);
    });
  });

  describe('the vpopmail preset', () => {
    let gw: Gateway;
    let pop: number;
    let dir: string;
    before(async () => {
      const url = await database('pop3_vpopmail');
      dir = mkdtempSync(join(tmpdir(), 'qgate-pop3-vpopmail-'));
      await sql(url, readFileSync(join(FIXTURES, 'vpopmail.sql'), 'utf8').replaceAll('@ROOT@', join(dir, 'domains')));
      // NO_POP (0x02 in vpopmail.h): receives mail and may use SMTP AUTH, but not POP3.
      await sql(
        url,
        `INSERT INTO vpopmail SELECT 'nopop', pw_domain, pw_passwd, pw_uid, 2, 'No POP', $1, pw_shell, ''
           FROM vpopmail WHERE pw_name = 'alice'`,
        [join(dir, 'domains', 'example.test', 'nopop')],
      );
      ({ gw, pop } = await directoryGateway(dir, entry(url, ', preset: vpopmail'), ['example.test']));
    });
    after(async () => {
      await gw?.stop();
      gw?.cleanup();
    });

    it('fetches mail from pw_dir/Maildir, delivered directly and through valias, MD5-crypt and DES', async () => {
      await deliver(gw, ['alice@example.test', 'olddes@example.test'], 'direct');
      await deliver(gw, ['sales@example.test'], 'via valias');
      for (const method of ['user', 'plain'] as const) {
        assert.deepEqual(await fetchSubjects(pop, method, 'alice@example.test', SQL_PASSWORD), ['direct', 'via valias']);
        assert.deepEqual(await fetchSubjects(pop, method, 'olddes@example.test', SQL_PASSWORD), ['direct']);
      }
    });

    it('a bad password and a BOUNCE_MAIL account get -ERR [AUTH]', async () => {
      for (const method of ['user', 'plain'] as const) {
        assert.equal(await refused(pop, method, 'alice@example.test', 'wrong'), AUTH_FAILED);
        assert.equal(await refused(pop, method, 'bounced@example.test', SQL_PASSWORD), AUTH_FAILED);
      }
    });

    it('NO_POP refuses POP3 and not SMTP AUTH; NO_SMTP refuses SMTP AUTH and not POP3; both receive mail', async () => {
      await deliver(gw, ['nopop@example.test', 'nosmtp@example.test'], 'flags');
      for (const method of ['user', 'plain'] as const) {
        assert.equal(await refused(pop, method, 'nopop@example.test', SQL_PASSWORD), AUTH_FAILED, 'NO_POP');
        assert.deepEqual(await fetchSubjects(pop, method, 'nosmtp@example.test', SQL_PASSWORD), ['flags'], 'NO_SMTP');
      }
      assert.equal(await smtpAuth(gw, 'nopop@example.test', SQL_PASSWORD), 235, 'NO_POP');
      assert.equal(await smtpAuth(gw, 'nosmtp@example.test', SQL_PASSWORD), 535, 'NO_SMTP');
      const nopop = join(dir, 'domains', 'example.test', 'nopop', 'Maildir', 'new');
      assert.equal(readdirSync(nopop).length, 1, 'NO_POP still receives mail');
    });

    it('PostgreSQL stopped: -ERR [SYS/TEMP], then logins work again when it is back', async () => {
      await outageAndRecovery(pop, svc, 'alice@example.test', SQL_PASSWORD);
    });
  });
});
