/*
 * sql-users against a real PostgreSQL (test/services/start-postgres.sh), one
 * database per layout: qgate's schema.sql, vpopmail's and Dovecot's. Python's
 * smtplib and swaks as clients: known/unknown/disabled recipients at RCPT,
 * aliases, catch-alls and forwards reaching the right Maildirs, AUTH good, bad
 * and disabled, SQL injection attempts that change nothing, the server killed
 * mid-run (451/454, logged once, then recovery), and secrets from a file or an
 * environment variable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hash as argon2 } from '@node-rs/argon2';
import pg from 'pg';
import { swaks } from '../harness/clients.js';
import { send, waitDone } from '../harness/delivery.js';
import { type Gateway, REPO, run, runCli, startGateway } from '../harness/gateway.js';
import { type PostgresService, startService } from '../harness/services.js';

const RCPT_PROBE = join(REPO, 'test', 'clients', 'rcpt_probe.py');
const AUTH_PROBE = join(REPO, 'test', 'clients', 'auth_probe.py');
const SCHEMA = join(REPO, 'plugins', 'sql-users', 'schema.sql');
const FIXTURES = join(REPO, 'test', 'fixtures', 'sql-users');
const PASSWORD = 'Tr0ub4dor&3';
/** doveadm pw -s SHA512-CRYPT -p 'Tr0ub4dor&3' */
const SHA512_CRYPT =
  '{SHA512-CRYPT}$6$CGqUV/q0gfy5gSLc$rBMyILW4i8j9Il42d7jWzmDeDZgPHpP/cCKgxq1iVbeh6i..1xYlyHcPm7hRySv6oWSyFEhobalQTuAFKurIU/';

interface Rcpt {
  readonly address: string;
  readonly code: number;
  readonly text: string;
}

/** One smtplib transaction: the reply to each RCPT. */
async function rcpts(gw: Gateway, ...addresses: string[]): Promise<Rcpt[]> {
  const r = await run('python3', [RCPT_PROBE, '--port', String(gw.port), '--from', 'sender@far.test', ...addresses]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { rcpt: Rcpt[] }).rcpt;
}

async function rcptReplies(gw: Gateway, ...addresses: string[]): Promise<string[]> {
  return (await rcpts(gw, ...addresses)).map((r) => `${r.code} ${r.text}`);
}

/** AUTH PLAIN with Python's smtplib: the reply code. */
async function smtplibLogin(gw: Gateway, user: string, password: string): Promise<{ code: number; text: string }> {
  const r = await run('python3', [AUTH_PROBE, '--port', String(gw.port), '--user', user, '--password', password]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { code: number; text: string };
}

/** AUTH LOGIN with swaks: the server's last reply before QUIT. */
async function swaksLogin(gw: Gateway, user: string, password: string): Promise<string> {
  const r = await swaks(gw.port, ['--auth', 'LOGIN', '--auth-user', user, '--auth-password', password, '--quit-after', 'AUTH']);
  const replies = r.transcript
    .split('\n')
    .map((line) => /^<[-~*]+\s+(\d{3} .*)$/.exec(line)?.[1])
    .filter((reply): reply is string => reply !== undefined && !reply.startsWith('221 '));
  return replies.at(-1) ?? r.transcript;
}

const UNKNOWN = (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in local recipient table`;
const TEMPORARY = (a: string) => `451 4.3.0 <${a}>: Temporary lookup failure`;

/** A new database owned by the test role, made over the unix socket as the superuser. */
async function createDatabase(svc: PostgresService, name: string): Promise<string> {
  const admin = new pg.Client({ host: svc.socketDir, port: svc.port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER ${svc.user}`);
  } finally {
    await admin.end();
  }
  return `postgres://${svc.user}:${svc.password}@127.0.0.1:${svc.port}/${name}`;
}

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

function mailIn(maildir: string): number {
  try {
    return readdirSync(join(maildir, 'new')).length;
  } catch {
    return 0;
  }
}

function gatewayConfig(entry: string, domains: string[]) {
  return {
    plugins: `${entry}
      - use: auth
        with: { require_tls: false, max_failures: 1000, failure_delay: 0 }
      - use: rcpthosts`,
    extraPipelines: `
  delivery:
    plugins:${entry}`,
    delivery: `
  pipeline: delivery
  local_domains: ${JSON.stringify(domains)}
  maildir_root: ./mail`,
  };
}

let svc: PostgresService;
before(async () => {
  svc = await startService('postgres');
});
after(async () => {
  await svc?.close();
});

describe('sql-users with the qgate schema', () => {
  let gw: Gateway;
  let url: string;
  let dir: string;
  before(async () => {
    url = await createDatabase(svc, 'qgate_layout');
    await sql(url, readFileSync(SCHEMA, 'utf8'));
    dir = mkdtempSync(join(tmpdir(), 'qgate-sql-users-'));
    const bobHash = await argon2('bob-pw');
    await sql(url, "INSERT INTO domains VALUES ('example.test'), ('catchall.test')");
    await sql(
      url,
      `INSERT INTO users (address, password, maildir, forwards, deliver_locally, enabled) VALUES
        ('alice@example.test', $1, $3, '{}', true, true),
        ('bob@example.test', $2, NULL, '{}', true, true),
        ('off@example.test', $1, NULL, '{}', true, false),
        ('fwd@example.test', NULL, NULL, '{alice@example.test}', false, true),
        ('plain@example.test', '{PLAIN}plain-pw', NULL, '{}', true, true)`,
      [SHA512_CRYPT, bobHash, join(dir, 'boxes', 'alice')],
    );
    await sql(
      url,
      `INSERT INTO aliases VALUES ('sales@example.test', 'alice@example.test'), ('sales@example.test', 'bob@example.test'),
        ('@catchall.test', 'bob@example.test')`,
    );
    // The URL is a secret: it comes from a file next to the configuration.
    writeFileSync(join(dir, 'database.url'), `${url}\n`, { mode: 0o600 });
    gw = await startGateway({
      dir,
      ...gatewayConfig(
        `
      - use: sql-users
        with: { url: { file: database.url } }`,
        ['example.test', 'catchall.test'],
      ),
    });
  });
  after(async () => {
    await gw?.stop();
  });

  it('answers known, unknown and disabled recipients, aliases and catch-alls at RCPT', async () => {
    assert.deepEqual(
      await rcptReplies(
        gw,
        'alice@example.test',
        'Alice@Example.TEST',
        'nobody@example.test',
        'off@example.test',
        'sales@example.test',
        'fwd@example.test',
        'anything@catchall.test',
      ),
      [
        '250 2.1.5 Ok',
        '250 2.1.5 Ok',
        UNKNOWN('nobody@example.test'),
        UNKNOWN('off@example.test'),
        '250 2.1.5 Ok',
        '250 2.1.5 Ok',
        '250 2.1.5 Ok',
      ],
    );
  });

  it('delivers aliases, forwards and catch-alls into the Maildirs the database names', async () => {
    const alice = join(dir, 'boxes', 'alice');
    const bob = join(dir, 'mail', 'example.test', 'bob', 'Maildir');
    await waitDone(gw, await send(gw, 'sender@far.test', ['sales@example.test']));
    assert.deepEqual([mailIn(alice), mailIn(bob)], [1, 1], 'the alias reached both users');
    await waitDone(gw, await send(gw, 'sender@far.test', ['fwd@example.test', 'someone@catchall.test']));
    assert.deepEqual([mailIn(alice), mailIn(bob)], [2, 2], 'the forward reached alice, the catch-all bob');
    assert.equal(mailIn(join(dir, 'mail', 'example.test', 'fwd', 'Maildir')), 0, 'fwd keeps no copy (deliver_locally false)');
  });

  it('checks SMTP AUTH passwords: good, bad, disabled, cleartext not allowed', async () => {
    assert.equal((await smtplibLogin(gw, 'alice@example.test', PASSWORD)).code, 235, '{SHA512-CRYPT}');
    assert.equal((await smtplibLogin(gw, 'bob@example.test', 'bob-pw')).code, 235, 'argon2id');
    assert.equal((await smtplibLogin(gw, 'alice@example.test', 'wrong')).code, 535);
    assert.equal((await smtplibLogin(gw, 'off@example.test', PASSWORD)).code, 535, 'a disabled account');
    assert.equal((await smtplibLogin(gw, 'plain@example.test', 'plain-pw')).code, 535, '{PLAIN} needs plaintext: true');
    assert.match(await swaksLogin(gw, 'alice@example.test', PASSWORD), /^235 2\.7\.0/);
    assert.match(await swaksLogin(gw, 'bob@example.test', 'wrong'), /^535 5\.7\.8/);
  });

  it('SQL injection in addresses and logins finds nothing and changes nothing', async () => {
    const addresses = [
      "'or'1'='1@example.test",
      "alice'--@example.test",
      "alice'||'@example.test",
      '_lice@example.test',
      '*@example.test',
    ];
    const replies = await rcpts(gw, ...addresses);
    for (const r of replies) assert.equal(`${r.code} ${r.text}`, UNKNOWN(r.address), r.address);
    for (const [user, password] of [
      ["alice@example.test' --", PASSWORD],
      ["' OR '1'='1' --@example.test", 'x'],
      ['alice@example.test', "' OR '1'='1"],
      ['%@example.test', PASSWORD],
      ["alice@example.test'; DROP TABLE users; --", PASSWORD],
    ]) {
      assert.equal((await smtplibLogin(gw, user!, password!)).code, 535, `${user} / ${password}`);
    }
    const { rows } = await sql(url, 'SELECT count(*)::int AS n FROM users');
    assert.equal(rows[0].n, 5, 'the users table is whole');
    assert.ok(!gw.logs.some((l) => /is unavailable/.test(l.msg)), 'no query failed: nothing reached the SQL text');
  });

  it('answers 451 and 454 while PostgreSQL is down, logs it once, and recovers by itself', async () => {
    await rcpts(gw, 'alice@example.test');
    await svc.kill();
    try {
      assert.deepEqual(await rcptReplies(gw, 'alice@example.test', 'new1@example.test', 'new2@example.test'), [
        '250 2.1.5 Ok',
        TEMPORARY('new1@example.test'),
        TEMPORARY('new2@example.test'),
      ]);
      assert.deepEqual(await rcptReplies(gw, 'new3@example.test'), [TEMPORARY('new3@example.test')]);
      const auth = await smtplibLogin(gw, 'alice@example.test', PASSWORD);
      assert.equal(auth.code, 454, auth.text);
      const outages = gw.logs.filter((l) => /is unavailable/.test(l.msg));
      assert.deepEqual(
        outages.map((l) => l.pipeline).sort(),
        ['delivery', 'inbound'],
        'one line per directory instance, not one per question',
      );
      assert.ok(!outages.some((l) => l.msg.includes(svc.password)), 'the password in the URL is never logged');
    } finally {
      await svc.restart();
    }
    assert.deepEqual(await rcptReplies(gw, 'new1@example.test', 'bob@example.test'), [
      UNKNOWN('new1@example.test'),
      '250 2.1.5 Ok',
    ]);
    await gw.waitForLog((l) => /answers again/.test(l.msg), 5000);
    assert.equal((await smtplibLogin(gw, 'alice@example.test', PASSWORD)).code, 235);
  });
});

describe('sql-users presets', () => {
  it('vpopmail: crypt(3) passwords, flags, valias and pw_dir/Maildir, URL from the environment', async () => {
    const url = await createDatabase(svc, 'vpopmail_layout');
    const dir = mkdtempSync(join(tmpdir(), 'qgate-sql-vpopmail-'));
    await sql(url, readFileSync(join(FIXTURES, 'vpopmail.sql'), 'utf8').replaceAll('@ROOT@', join(dir, 'domains')));
    process.env.QGATE_TEST_VPOPMAIL_URL = url;
    const gw = await startGateway({
      dir,
      ...gatewayConfig(
        `
      - use: sql-users
        with: { url: { env: QGATE_TEST_VPOPMAIL_URL }, preset: vpopmail, plaintext: true }`,
        ['example.test'],
      ),
    });
    try {
      assert.deepEqual(
        await rcptReplies(
          gw,
          'alice@example.test',
          'olddes@example.test',
          'nosmtp@example.test',
          'bounced@example.test',
          'nobody@example.test',
          'sales@example.test',
        ),
        [
          '250 2.1.5 Ok',
          '250 2.1.5 Ok',
          '250 2.1.5 Ok',
          UNKNOWN('bounced@example.test'),
          UNKNOWN('nobody@example.test'),
          '250 2.1.5 Ok',
        ],
      );
      assert.equal((await smtplibLogin(gw, 'alice@example.test', PASSWORD)).code, 235, 'MD5-crypt');
      assert.equal((await smtplibLogin(gw, 'olddes@example.test', PASSWORD)).code, 235, 'DES crypt');
      assert.equal((await smtplibLogin(gw, 'clear@example.test', PASSWORD)).code, 235, 'pw_clear_passwd, plaintext: true');
      assert.equal((await smtplibLogin(gw, 'alice@example.test', 'wrong')).code, 535);
      assert.equal((await smtplibLogin(gw, 'nosmtp@example.test', PASSWORD)).code, 535, 'NO_SMTP');
      assert.equal((await smtplibLogin(gw, 'bounced@example.test', PASSWORD)).code, 535, 'BOUNCE_MAIL');
      await waitDone(gw, await send(gw, 'sender@far.test', ['sales@example.test', 'olddes@example.test']));
      assert.equal(mailIn(join(dir, 'domains', 'example.test', 'alice', 'Maildir')), 1, 'valias &alice reached pw_dir/Maildir');
      assert.equal(mailIn(join(dir, 'domains', 'example.test', 'olddes', 'Maildir')), 1);
    } finally {
      await gw.stop();
      delete process.env.QGATE_TEST_VPOPMAIL_URL;
    }
  });

  it("dovecot: Dovecot's users table with {SCHEME} hashes and the active flag", async () => {
    const url = await createDatabase(svc, 'dovecot_layout');
    const dir = mkdtempSync(join(tmpdir(), 'qgate-sql-dovecot-'));
    await sql(url, readFileSync(join(FIXTURES, 'dovecot.sql'), 'utf8').replaceAll('@ROOT@', join(dir, 'home')));
    writeFileSync(join(dir, 'database.url'), url);
    const gw = await startGateway({
      dir,
      ...gatewayConfig(
        `
      - use: sql-users
        with: { url: { file: database.url }, preset: dovecot, cache: false }`,
        ['example.test'],
      ),
    });
    try {
      assert.deepEqual(await rcptReplies(gw, 'alice@example.test', 'gone@example.test', 'nobody@example.test'), [
        '250 2.1.5 Ok',
        UNKNOWN('gone@example.test'),
        UNKNOWN('nobody@example.test'),
      ]);
      for (const user of ['alice', 'bob', 'carol']) {
        assert.equal((await smtplibLogin(gw, `${user}@example.test`, PASSWORD)).code, 235, user);
      }
      assert.equal((await smtplibLogin(gw, 'carol@example.test', 'wrong')).code, 535);
      assert.equal((await smtplibLogin(gw, 'gone@example.test', PASSWORD)).code, 535, "active = 'N'");
      await waitDone(gw, await send(gw, 'sender@far.test', ['bob@example.test']));
      assert.equal(mailIn(join(dir, 'home', 'bob', 'Maildir')), 1, 'home/Maildir');
    } catch (err) {
      await gw.stop().catch(() => undefined);
      throw err;
    }
    assert.equal(await gw.stop(), 0, 'SIGTERM ends the gateway cleanly, its pools closed');
  });
});

describe('sql-users cache', () => {
  it('asks the database once for repeated RCPTs with the cache on, every time with it off', async () => {
    const url = await createDatabase(svc, 'cache_counts');
    await sql(url, readFileSync(SCHEMA, 'utf8'));
    // The domain query counts its runs in a sequence (nextval is not undone with the query).
    await sql(url, "INSERT INTO domains VALUES ('example.test'); CREATE SEQUENCE asked");
    const counted = "SELECT 1 FROM domains WHERE domain = $1 AND nextval('asked') > 0";
    const asked = async () => {
      const { rows } = await sql(url, 'SELECT last_value, is_called FROM asked');
      return rows[0].is_called ? Number(rows[0].last_value) : 0;
    };
    for (const [cache, expected] of [
      ['{ positive_ttl: 1m, negative_ttl: 1m }', 1],
      ['false', 5],
    ] as const) {
      const before = await asked();
      const gw = await startGateway(
        gatewayConfig(
          `
      - use: sql-users
        with: { url: ${url}, cache: ${cache}, queries: { domain: { sql: "${counted}", params: [domain] } } }`,
          ['example.test'],
        ),
      );
      try {
        const unknown = Array.from({ length: 5 }, () => 'nobody@example.test');
        assert.deepEqual(await rcptReplies(gw, ...unknown), unknown.map(UNKNOWN));
        // Start-up's check of the queries asks about example.invalid, which the filter never reaches.
        assert.equal((await asked()) - before, expected, `cache: ${cache}`);
      } finally {
        await gw.stop();
      }
    }
  });
});

describe('sql-users and reload', () => {
  it('a SIGHUP that changes its options takes the new settings and closes the old pool', async () => {
    const url = await createDatabase(svc, 'reloaded');
    await sql(url, readFileSync(SCHEMA, 'utf8'));
    await sql(url, "INSERT INTO domains VALUES ('example.test'); INSERT INTO users (address) VALUES ('alice@example.test')");
    const entry = (cache: string) => `
      - use: sql-users
        with: { url: ${url}, cache: ${cache} }`;
    const gw = await startGateway(gatewayConfig(entry('false'), ['example.test']));
    const connections = async (): Promise<number> =>
      Number(
        (
          await sql(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'qgate' AND datname = $1", [
            'reloaded',
          ])
        ).rows[0].n,
      );
    try {
      assert.deepEqual(await rcptReplies(gw, 'alice@example.test'), ['250 2.1.5 Ok']);
      const before = await connections();
      // Three instances (the listener's pipeline, and delivery's in the main thread and in the
      // delivery thread: README "Process model"), each pool holding a connection.
      assert.equal(before, 3, 'the first pools hold a connection each');
      const config = readFileSync(gw.configFile, 'utf8');
      writeFileSync(gw.configFile, config.replace('cache: false', 'cache: { negative_ttl: 1m }'));
      gw.process.kill('SIGHUP');
      await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.changed), 30_000);
      assert.deepEqual(await rcptReplies(gw, 'alice@example.test', 'nobody@example.test'), [
        '250 2.1.5 Ok',
        UNKNOWN('nobody@example.test'),
      ]);
      // The old instances' pools are ended once nothing uses them: only the new pools' connections remain.
      const deadline = Date.now() + 10_000;
      let now = await connections();
      while (now > 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        now = await connections();
      }
      assert.equal(now, 3, 'the new pools only: the old ones were closed');
    } finally {
      await gw.stop();
    }
  });
});

describe('sql-users time limits', () => {
  it('a query slower than query_timeout is a temporary failure, and the gateway keeps answering', async () => {
    const url = await createDatabase(svc, 'slow_query');
    await sql(url, readFileSync(SCHEMA, 'utf8'));
    await sql(url, "INSERT INTO domains VALUES ('example.test'); INSERT INTO users (address) VALUES ('slow@example.test')");
    // The user query sleeps 10 s for slow@ only: the database answers, just too late. The
    // bound below sits far from both ends, so a loaded machine does not blur them.
    const slow = `SELECT address FROM users WHERE address = $1 AND (address <> 'slow@example.test' OR pg_sleep(10) IS NOT NULL)`;
    const gw = await startGateway(
      gatewayConfig(
        `
      - use: sql-users
        with:
          url: ${url}
          query_timeout: 300ms
          cache: false
          queries: { user: { sql: "${slow}", params: [address] } }`,
        ['example.test'],
      ),
    );
    try {
      const started = Date.now();
      assert.deepEqual(await rcptReplies(gw, 'slow@example.test', 'nobody@example.test'), [
        TEMPORARY('slow@example.test'),
        UNKNOWN('nobody@example.test'),
      ]);
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 5000, `answered at the time limit, not when the query ended (${elapsed} ms)`);
    } finally {
      await gw.stop();
    }
  });
});

describe('sql-users configuration errors', () => {
  it("check config refuses a query that pastes values ('%u') or misses a parameter, naming the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-sql-config-'));
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      `listeners:
  - { name: smtp, port: 0, pipeline: smtp }
pipelines:
  smtp:
    plugins:
      - use: sql-users
        with:
          url: postgres://u:p@127.0.0.1:1/db
          queries:
            user: { sql: "SELECT password FROM users WHERE userid = '%u'", params: [address] }
            domain: { sql: "SELECT 1 FROM d WHERE a = $1 AND b = $2", params: [domain] }
`,
    );
    const r = await runCli(['check', 'config', '--config', config]);
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.match(r.stderr, /queries\.user\.sql.*'%u' is pasted/);
    assert.match(r.stderr, /queries\.domain\.sql.*\$2 has no parameter/);
  });

  it('start-up stops on a query PostgreSQL refuses (an unknown column)', async () => {
    const url = await createDatabase(svc, 'broken_query');
    await sql(url, readFileSync(SCHEMA, 'utf8'));
    await assert.rejects(
      startGateway({
        plugins: `
      - use: sql-users
        with:
          url: ${url}
          queries:
            user: { sql: "SELECT addres FROM users WHERE address = $1", params: [address] }`,
      }),
      /queries\.user is refused by PostgreSQL mail@127\.0\.0\.1:\d+\/broken_query: column "addres" does not exist/,
    );
  });
});
