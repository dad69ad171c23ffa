/*
 * The backing services of the tests, through test/harness/services.ts: each one starts and
 * answers its own protocol with real clients (ldapts, pg, clamd's INSTREAM and spamd's SPAMC
 * spoken on raw sockets), a SIGKILL leaves no process of its group behind and a restart brings
 * it back on the same port with its data, and instances are cleaned up when a test process
 * exits, or by the next start when it was SIGKILLed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidCredentialsError, Client as LdapClient } from 'ldapts';
import { Client as PgClient } from 'pg';
import { REPO } from '../harness/gateway.js';
import {
  type ClamdService,
  type PostgresService,
  type Service,
  type SlapdService,
  type SpamdService,
  startService,
} from '../harness/services.js';

let slapd: SlapdService;
let postgres: PostgresService;
let clamd: ClamdService;
let spamd: SpamdService;

before(async () => {
  // In parallel: PostgreSQL's initdb and spamd's rule compilation take the longest.
  [slapd, postgres, clamd, spamd] = await Promise.all([
    startService('slapd'),
    startService('postgres'),
    startService('clamd'),
    startService('spamd'),
  ]);
});

after(async () => {
  await Promise.all([slapd, postgres, clamd, spamd].filter(Boolean).map((s) => s.close()));
});

describe('slapd', () => {
  it('binds as the service account and finds aliases, skipping the disabled user', async () => {
    await withLdap(slapd, slapd.bindDn, slapd.bindPassword, async (ldap) => {
      const byAlias = await ldap.search(slapd.peopleDn, {
        filter: '(&(|(mail=postmaster@example.test)(mailLocalAddress=postmaster@example.test))(!(employeeType=disabled)))',
        attributes: ['uid', 'mail'],
      });
      assert.deepEqual(
        byAlias.searchEntries.map((e) => [e.dn, e.mail]),
        [[`uid=alice,${slapd.peopleDn}`, 'alice@example.test']],
      );
      const disabled = await ldap.search(slapd.peopleDn, { filter: '(mail=dave@example.test)', attributes: ['employeeType'] });
      assert.equal(disabled.searchEntries[0]?.employeeType, 'disabled');
      const active = await ldap.search(slapd.peopleDn, { filter: '(&(mail=dave@example.test)(!(employeeType=disabled)))' });
      assert.equal(active.searchEntries.length, 0);
    });
  });

  it('serves the qmail-ldap tree: mailAlternateAddress, mailMessageStore, forwarding, accountStatus', async () => {
    await withLdap(slapd, slapd.bindDn, slapd.bindPassword, async (ldap) => {
      const attributes = [
        'mail',
        'mailAlternateAddress',
        'mailMessageStore',
        'mailForwardingAddress',
        'deliveryMode',
        'accountStatus',
      ];
      const sales = await ldap.search(slapd.qmailDn, {
        filter: '(&(objectClass=qmailUser)(|(mail=sales@example.test)(mailAlternateAddress=sales@example.test)))',
        attributes,
      });
      assert.equal(sales.searchEntries.length, 1);
      assert.equal(sales.searchEntries[0]!.dn, `uid=erin,${slapd.qmailDn}`);
      assert.equal(sales.searchEntries[0]!.mailMessageStore, '/var/mail/example.test/erin/');
      assert.equal(sales.searchEntries[0]!.accountStatus, 'active');
      // Attribute names and matching follow the schema: mailAlternateAddress compares case-insensitively.
      const upper = await ldap.search(slapd.qmailDn, { filter: '(mailAlternateAddress=ERIN.ALIAS@EXAMPLE.TEST)' });
      assert.equal(upper.searchEntries.length, 1);
      const frank = await ldap.search(slapd.qmailDn, { filter: '(mail=frank@example.test)', attributes });
      assert.deepEqual(frank.searchEntries[0]!.mailForwardingAddress, ['frank@remote.test', 'frank.backup@remote.test']);
      assert.equal(frank.searchEntries[0]!.deliveryMode, 'nolocal');
      const states = await ldap.search(slapd.qmailDn, {
        filter: '(objectClass=qmailUser)',
        attributes: ['uid', 'accountStatus'],
      });
      assert.deepEqual(Object.fromEntries(states.searchEntries.map((e) => [e.uid, present(e.accountStatus)])), {
        erin: 'active',
        frank: 'active',
        grace: 'disabled',
        heidi: null,
        ivan: 'noaccess',
        judy: 'active',
      });
    });
  });

  it('checks passwords: {SSHA} and cleartext accepted, a wrong one refused, userPassword never read', async () => {
    for (const dn of [
      `uid=alice,${slapd.peopleDn}`,
      `uid=carol,${slapd.peopleDn}`,
      `uid=erin,${slapd.qmailDn}`,
      `uid=frank,${slapd.qmailDn}`,
    ]) {
      const user = /^uid=([a-z]+),/.exec(dn)![1]!;
      await withLdap(slapd, dn, `${user}-secret`, async () => {});
    }
    await assert.rejects(
      withLdap(slapd, `uid=alice,${slapd.peopleDn}`, 'wrong', async () => {}),
      InvalidCredentialsError,
    );
    await withLdap(slapd, slapd.bindDn, slapd.bindPassword, async (ldap) => {
      const entry = await ldap.search(slapd.peopleDn, { filter: '(uid=alice)', attributes: ['userPassword'] });
      assert.equal(present(entry.searchEntries[0]!.userPassword), null);
    });
  });
});

describe('postgres', () => {
  it('logs in as mail with the password, and refuses a wrong one', async () => {
    await withPg(postgres.url, async (pg) => {
      const { rows } = await pg.query('select current_user as who, current_database() as db');
      assert.deepEqual(rows, [{ who: 'mail', db: 'mail' }]);
      await pg.query('create table recipients (address text primary key)');
      await pg.query('insert into recipients values ($1)', ['alice@example.test']);
    });
    await assert.rejects(
      withPg(`postgres://mail:wrong@127.0.0.1:${postgres.port}/mail`, async () => {}),
      (err: Error & { code?: string }) => err.code === '28P01', // invalid_password
    );
  });
});

describe('clamd', () => {
  it('finds EICAR, plain and in a base64 MIME attachment, and the marker; passes the clean message', async () => {
    for (const target of [{ port: clamd.port, host: clamd.host }, { path: clamd.socket }]) {
      assert.match(await clamdInstream(target, clamd.samples.eicar), /^stream: \S*eicar\S* FOUND$/i);
      assert.match(await clamdInstream(target, clamd.samples.eicarAttachment), /^stream: \S*eicar\S* FOUND$/i);
      assert.equal(await clamdInstream(target, clamd.samples.marker), 'stream: QGate.Test.Marker-1.UNOFFICIAL FOUND');
      assert.equal(await clamdInstream(target, clamd.samples.clean), 'stream: OK');
    }
  });
});

describe('spamd', () => {
  it('CHECK scores GTUBE as spam and the ham message as not spam', async () => {
    const gtube = await spamdRequest(spamd, 'CHECK', spamd.samples.gtube);
    assert.equal(gtube, 'SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n');
    const ham = await spamdRequest(spamd, 'CHECK', spamd.samples.ham);
    const score = /^SPAMD\/1\.1 0 EX_OK\r\nSpam: False ; (-?[\d.]+) \/ 5\.0\r\n\r\n$/.exec(ham);
    assert.ok(score, `ham: ${JSON.stringify(ham)}`);
    assert.ok(Number(score[1]) < 5);
  });
});

describe('kill and restart', () => {
  it('SIGKILL takes every process of the service; restart answers on the same port with the data', async () => {
    const services: Service[] = [slapd, postgres, clamd, spamd];
    const before = services.map((s) => ({ name: s.name, pid: s.pid, processes: runningIn(s.dir) }));
    for (const b of before) assert.ok(b.processes.includes(b.pid), `${b.name}: pid ${b.pid} runs in its directory`);
    // spamd's parent has a child; PostgreSQL's backends have left the postmaster's process group.
    assert.ok(before[3]!.processes.length >= 2 && before[1]!.processes.length >= 4, JSON.stringify(before));
    await Promise.all(services.map((s) => s.kill()));
    for (const s of services) assert.deepEqual(runningIn(s.dir), [], `${s.name}: processes survived the SIGKILL`);
    await assert.rejects(clamdInstream({ port: clamd.port, host: clamd.host }, clamd.samples.clean), /ECONNREFUSED/);

    await Promise.all(services.map((s) => s.restart()));
    for (const [i, s] of services.entries()) assert.notEqual(s.pid, before[i]!.pid, `${s.name} has a new pid`);
    await withLdap(slapd, `uid=bob,${slapd.peopleDn}`, 'bob-secret', async () => {});
    await withPg(postgres.url, async (pg) => {
      const { rows } = await pg.query('select address from recipients');
      assert.deepEqual(rows, [{ address: 'alice@example.test' }], 'a committed row survives the SIGKILL');
    });
    assert.equal(
      await clamdInstream({ path: clamd.socket }, clamd.samples.marker),
      'stream: QGate.Test.Marker-1.UNOFFICIAL FOUND',
    );
    assert.match(await spamdRequest(spamd, 'CHECK', spamd.samples.gtube), /Spam: True ; 1000\.0/);
  });

  it('stop() ends it gracefully and restart() starts it again', async () => {
    await clamd.stop();
    assert.deepEqual(runningIn(clamd.dir), []);
    await clamd.restart();
    assert.equal(await clamdInstream({ port: clamd.port, host: clamd.host }, clamd.samples.clean), 'stream: OK');
  });
});

describe('cleanup', () => {
  it('a test process that exits takes its services and directories with it', async () => {
    const child = await startChildWithClamd();
    assert.ok(runningIn(child.dir).includes(child.pid));
    child.process.stdin!.end();
    assert.equal((await exitOf(child.process)).code, 0);
    assert.deepEqual(runningIn(child.dir), [], 'clamd outlived its test process');
    assert.equal(existsSync(child.dir), false);
  });

  it('services of a SIGKILLed test process are swept by the next start', async () => {
    const killed = await startChildWithClamd();
    killed.process.kill('SIGKILL');
    await exitOf(killed.process);
    assert.ok(runningIn(killed.dir).includes(killed.pid), 'no exit hook runs on SIGKILL: the orphan is still there');
    const next = await startChildWithClamd();
    next.process.stdin!.end();
    await exitOf(next.process);
    assert.deepEqual(runningIn(killed.dir), []);
    assert.equal(existsSync(killed.dir), false);
  });
});

// ---- clients: real libraries where the plugins will use them, raw sockets for the daemon protocols ----

async function withLdap(
  service: SlapdService,
  dn: string,
  password: string,
  work: (ldap: LdapClient) => Promise<void>,
): Promise<void> {
  const ldap = new LdapClient({ url: service.url, timeout: 5000, connectTimeout: 5000 });
  try {
    await ldap.bind(dn, password);
    await work(ldap);
  } finally {
    await ldap.unbind();
  }
}

async function withPg(url: string, work: (pg: PgClient) => Promise<void>): Promise<void> {
  const pg = new PgClient({ connectionString: url, connectionTimeoutMillis: 5000 });
  await pg.connect();
  try {
    await work(pg);
  } finally {
    await pg.end();
  }
}

/** ldapts gives an attribute that was asked for but is absent (or not readable) as []. */
function present(value: unknown): unknown {
  return value === undefined || (Array.isArray(value) && value.length === 0) ? null : value;
}

type Target = { port: number; host: string } | { path: string };

/**
 * clamd's INSTREAM (clamd(8)): "zINSTREAM\0", then chunks of <uint32 big-endian length><bytes>, then
 * a zero length; one NUL-terminated reply, then clamd closes.
 */
function clamdInstream(target: Target, file: string): Promise<string> {
  const body = readFileSync(file);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return exchange(target, [Buffer.from('zINSTREAM\0'), length, body, Buffer.alloc(4)]).then((reply) =>
    reply.toString('utf8').replace(/\0$/, ''),
  );
}

/** spamd's SPAMC/1.5 protocol: request line, Content-length, blank line, message; spamd answers and closes. */
function spamdRequest(service: SpamdService, command: string, file: string): Promise<string> {
  const message = readFileSync(file);
  const head = `${command} SPAMC/1.5\r\nContent-length: ${message.length}\r\n\r\n`;
  return exchange({ host: service.host, port: service.port }, [Buffer.from(head), message]).then((reply) =>
    reply.toString('utf8'),
  );
}

/** Writes the parts, half-closes, and collects everything until the server closes (10 s at most). */
function exchange(target: Target, parts: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(target);
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('connect', () => {
      for (const part of parts) socket.write(part);
      socket.end();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks));
    });
  });
}

// ---- processes ----

/** Pids of the processes whose working directory is `dir` or below, zombies excepted (they are gone, waiting to be reaped). */
function runningIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // proc(5): the state follows the command name in parentheses.
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if ((cwd === dir || cwd.startsWith(`${dir}/`)) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

interface ChildWithClamd {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly dir: string;
}

/** A separate node process that starts clamd through the harness, reports it, and exits when its stdin ends. */
async function startChildWithClamd(): Promise<ChildWithClamd> {
  const harness = join(REPO, 'dist', 'test', 'harness', 'services.js');
  const script = `
    const { startService } = await import(${JSON.stringify(harness)});
    const clamd = await startService('clamd');
    console.log(JSON.stringify({ pid: clamd.pid, dir: clamd.dir }));
    process.stdin.resume().on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  const report = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
    child.stdout!.on('data', (text: string) => {
      out += text;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as { pid: number; dir: string });
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting: ${out}`)));
  });
  return { process: child, ...report };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
