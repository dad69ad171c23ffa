/*
 * The POP3 server in a running gateway, against mail the SMTP side delivered:
 * Python's poplib (STLS and POP3 over TLS), curl (pop3:// with STLS, pop3s://)
 * and fetchmail fetch it; a raw client checks the replies of the state
 * machine (DELE then RSET, DELE then QUIT, a session that ends without QUIT),
 * the sizes in CRLF form, dot-stuffing, TOP, one session per mailbox
 * (-ERR [IN-USE]), plaintext refused before TLS, bad passwords and the
 * failed-login throttle.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { maildirFiles, send, waitDone } from '../harness/delivery.js';
import { type Gateway, REPO, run, startGateway } from '../harness/gateway.js';
import { ALICE, PASSWORD, POP3_LISTENERS, pop3Pipeline, RawPop3, usersFile } from '../harness/pop3.js';
import { makeCertificate, type TestCertificate } from '../harness/tls.js';

const POPLIB = join(REPO, 'test', 'clients', 'poplib_client.py');

interface StepResult {
  readonly ok: boolean;
  readonly resp?: string;
  readonly error?: string;
  readonly lines?: string[];
  readonly count?: number;
  readonly size?: number;
  readonly crlf_size?: number;
}

describe('POP3 server', () => {
  let dir: string;
  let gw: Gateway;
  let cert: TestCertificate;
  let popPort: number;
  let popsPort: number;
  const mailRoot = () => join(dir, 'mail');

  const poplib = async (mode: 'plain' | 'stls' | 'ssl', steps: string[]): Promise<StepResult[]> => {
    const r = await run('python3', [POPLIB, String(mode === 'ssl' ? popsPort : popPort), mode, cert.cert, JSON.stringify(steps)]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as StepResult[];
  };

  /** A raw session after STLS and login. */
  const loggedIn = async (): Promise<RawPop3> => {
    const { pop } = await RawPop3.open(popPort);
    await pop.stls();
    assert.match(await pop.login(ALICE, PASSWORD), /^\+OK/);
    return pop;
  };

  const gatewayOptions = () => ({
    plugins: `
      - use: rcpthosts
        with: { domains: [example.test] }`,
    delivery: `
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`,
    extraListeners: `${POP3_LISTENERS}
  - name: pop3-plain
    address: 127.0.0.1
    port: 0
    pipeline: pop3
    protocol: pop3
    plaintext_login: true
    timeout: 1s`,
    extraPipelines: pop3Pipeline(cert),
  });

  const bigBody = Array.from({ length: 4000 }, (_, i) => `line ${i} ${'x'.repeat(60)}`).join('\r\n');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-pop3-'));
    cert = await makeCertificate(dir, 'localhost');
    usersFile(dir);
    gw = await startGateway({ ...gatewayOptions(), dir });
    popPort = await gw.portOf('pop3');
    popsPort = await gw.portOf('pop3s');
    const bodies = [
      'Subject: one\r\n\r\nhello one\r\n',
      // SMTP dot-stuffing: the Maildir gets ".dotted line", POP3 must stuff it again.
      'Subject: two\r\n\r\n..dotted line\r\n..\r\nend\r\n',
      `Subject: three\r\n\r\n${bigBody}\r\n`,
    ];
    for (const body of bodies) await waitDone(gw, await send(gw, 'sender@client.test', [ALICE], body));
  });

  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('refuses plaintext logins before STLS and does not offer them in CAPA', async () => {
    const { pop, greeting } = await RawPop3.open(popPort);
    assert.match(greeting, /^\+OK mx\.qgate\.test POP3 ready/);
    const capa = await pop.multi('CAPA');
    assert.match(capa.body, /^STLS$/m);
    assert.doesNotMatch(capa.body, /^USER$/m);
    assert.match(await pop.command(`USER ${ALICE}`), /^-ERR \[AUTH\] Plaintext authentication disallowed/);
    assert.match(await pop.command(`AUTH PLAIN ${Buffer.from(`\0${ALICE}\0${PASSWORD}`).toString('base64')}`), /^-ERR \[AUTH\]/);
    assert.match(await pop.command('STAT'), /^-ERR Command not valid in this state/);
    assert.match(await pop.command('QUIT'), /^\+OK/);
    pop.close();
  });

  it('serves the delivered mail to poplib over STLS: STAT, LIST in CRLF octets, UIDL, RETR', async () => {
    const r = await poplib('stls', [
      'capa',
      `user ${ALICE}`,
      `pass ${PASSWORD}`,
      'stat',
      'list',
      'uidl',
      'retr 1',
      'retr 2',
      'retr 3',
      'quit',
    ]);
    assert.ok(
      r.every((s) => s.ok),
      JSON.stringify(r),
    );
    assert.ok(r[2]!.lines!.includes('USER') && r[2]!.lines!.includes('UIDL'), JSON.stringify(r[2]));
    assert.equal(r[5]!.count, 3);
    const sizes = r[6]!.lines!.map((l) => Number(l.split(' ')[1]));
    const [one, two, three] = [r[8]!, r[9]!, r[10]!];
    assert.ok(one.lines!.includes('hello one'));
    assert.ok(
      one.lines!.some((l) => l.startsWith('Delivered-To:')),
      'delivered as local delivery writes it',
    );
    assert.deepEqual(two.lines!.slice(-3), ['.dotted line', '.', 'end']);
    assert.equal(three.lines!.length > 4000, true);
    assert.deepEqual(sizes, [one.crlf_size, two.crlf_size, three.crlf_size], 'LIST gives each size in CRLF form');
    assert.equal(r[5]!.size, sizes[0]! + sizes[1]! + sizes[2]!);
    // Accessed: new/ moved to cur/, the CRLF size cached in the name.
    assert.equal(maildirFiles(mailRoot(), 'example.test', 'alice', 'new').length, 0);
    const cur = maildirFiles(mailRoot(), 'example.test', 'alice', 'cur');
    assert.equal(cur.length, 3);
    for (const f of cur) assert.match(f, /,W=\d+:2,$/);
  });

  it('keeps UIDs across sessions and over POP3-over-TLS (995 style)', async () => {
    const first = await poplib('stls', [`user ${ALICE}`, `pass ${PASSWORD}`, 'uidl', 'quit']);
    const second = await poplib('ssl', [`user ${ALICE}`, `pass ${PASSWORD}`, 'uidl', 'quit']);
    assert.ok(first[2]!.ok && second[1]!.ok, JSON.stringify({ first, second }));
    assert.deepEqual(second[3]!.lines, first[4]!.lines);
    assert.equal(second[3]!.lines!.length, 3);
  });

  it('answers AUTH PLAIN (RFC 5034) inside TLS', async () => {
    const r = await poplib('ssl', [`plain ${ALICE} ${PASSWORD}`, 'stat', 'quit']);
    assert.ok(r[1]!.ok, JSON.stringify(r));
    assert.equal(r[2]!.count, 3);
  });

  it('serves curl over pop3s:// and pop3:// with STLS', async () => {
    const auth = ['--user', `${ALICE}:${PASSWORD}`, '--cacert', cert.cert, '--silent', '--show-error', '--max-time', '30'];
    const list = await run('curl', [...auth, `pop3s://localhost:${popsPort}/`]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^1 \d+\r\n2 \d+\r\n3 \d+\r\n$/);
    const message = await run('curl', [...auth, '--ssl-reqd', `pop3://localhost:${popPort}/1`]);
    assert.equal(message.code, 0, message.stderr);
    assert.match(message.stdout, /Subject: one/);
    assert.match(message.stdout, /hello one/);
    // Without TLS curl's login is refused.
    const plain = await run('curl', ['--user', `${ALICE}:${PASSWORD}`, '--silent', `pop3://localhost:${popPort}/1`]);
    assert.notEqual(plain.code, 0);
  });

  it('fetches with fetchmail over POP3-over-TLS, keeping the mail', async () => {
    const rc = join(dir, 'fetchmailrc');
    const out = join(dir, 'fetched.mbox');
    writeFileSync(
      rc,
      `poll localhost service ${popsPort} protocol pop3 uidl
  user "${ALICE}" there with password "${PASSWORD}" is "local" here
  options ssl sslcertck sslcertfile "${cert.cert}" keep fetchall
  mda "/bin/sh -c 'cat >> ${out}'"
`,
    );
    chmodSync(rc, 0o600);
    const r = await run('fetchmail', ['--nosyslog', '--nodetach', '-f', rc, '-i', join(dir, 'fetchids')], undefined, 60_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const mbox = readFileSync(out, 'utf8');
    for (const marker of ['hello one', '.dotted line', 'line 3999']) assert.ok(mbox.includes(marker), marker);
    assert.equal(maildirFiles(mailRoot(), 'example.test', 'alice', 'cur').length, 3, 'keep: nothing deleted');
  });

  it('stuffs dots in RETR, and TOP sends the header and n body lines', async () => {
    const pop = await loggedIn();
    const retr = await pop.multi('RETR 2');
    assert.match(retr.status, /^\+OK \d+ octets$/);
    assert.match(retr.body, /\r\n\r\n\.\.dotted line\r\n\.\.\r\nend\r\n$/);
    const top0 = await pop.multi('TOP 3 0');
    assert.match(top0.body, /Subject: three\r\n\r\n$/);
    const top2 = await pop.multi('TOP 3 2');
    assert.match(top2.body, /Subject: three\r\n\r\nline 0 x+\r\nline 1 x+\r\n$/);
    assert.match(await pop.command('TOP 3'), /^-ERR Syntax/);
    assert.match(await pop.command('RETR 9'), /^-ERR No such message/);
    assert.match(await pop.command('RETR 0'), /^-ERR Invalid message number/);
    assert.match(await pop.command('LIST 2'), /^\+OK 2 \d+$/);
    assert.match(await pop.command('NOOP'), /^\+OK/);
    assert.match(await pop.command('USER x'), /^-ERR Command not valid in this state/);
    assert.match(await pop.command('XYZZY'), /^-ERR Unknown command/);
    assert.match(await pop.command('QUIT'), /^\+OK/);
    pop.close();
  });

  it('DELE then RSET keeps every message; a session that ends without QUIT deletes nothing', async () => {
    const pop = await loggedIn();
    assert.match(await pop.command('DELE 1'), /^\+OK/);
    assert.match(await pop.command('DELE 1'), /^-ERR Message is deleted/);
    assert.match(await pop.command('STAT'), /^\+OK 2 /);
    assert.match(await pop.command('RETR 1'), /^-ERR Message is deleted/);
    const list = await pop.multi('LIST');
    assert.doesNotMatch(list.body, /^1 /m);
    assert.match(await pop.command('RSET'), /^\+OK 3 messages/);
    assert.match(await pop.command('STAT'), /^\+OK 3 /);
    assert.match(await pop.command('DELE 2'), /^\+OK/);
    pop.close(); // no QUIT: no UPDATE state
    await gw.waitForLog((l) => l.event === 'disconnect' && l.protocol === 'pop3' && l.user === ALICE && l.reason !== 'quit');
    const again = await loggedIn();
    assert.match(await again.command('STAT'), /^\+OK 3 /);
    assert.match(await again.command('QUIT'), /^\+OK/);
    again.close();
    assert.equal(maildirFiles(mailRoot(), 'example.test', 'alice', 'cur').length, 3);
  });

  it('allows one session per mailbox: a second gets -ERR [IN-USE] until the first quits', async () => {
    const first = await loggedIn();
    const { pop: second } = await RawPop3.open(popPort);
    await second.stls();
    assert.match(await second.login(ALICE, PASSWORD), /^-ERR \[IN-USE\]/);
    // Another user's mailbox is not locked by alice's session.
    assert.match(await second.login('bob@example.test', 'bob-pw'), /^\+OK Logged in, 0 messages/);
    assert.match(await second.command('QUIT'), /^\+OK/);
    assert.match(await first.command('QUIT'), /^\+OK/);
    const third = await loggedIn();
    assert.match(await third.command('QUIT'), /^\+OK/);
    third.close();
    first.close();
    second.close();
  });

  it('DELE then QUIT removes the message; the others keep their UIDs', async () => {
    const before = await poplib('stls', [`user ${ALICE}`, `pass ${PASSWORD}`, 'uidl', 'dele 2', 'quit']);
    assert.ok(
      before.every((s) => s.ok),
      JSON.stringify(before),
    );
    const uids = before[4]!.lines!.map((l) => l.split(' ')[1]);
    assert.equal(maildirFiles(mailRoot(), 'example.test', 'alice', 'cur').length, 2);
    const afterwards = await poplib('stls', [`user ${ALICE}`, `pass ${PASSWORD}`, 'uidl', 'retr 2', 'quit']);
    assert.deepEqual(
      afterwards[4]!.lines!.map((l) => l.split(' ')[1]),
      [uids[0], uids[2]],
    );
    assert.ok(afterwards[5]!.lines!.includes('Subject: three'));
    await gw.waitForLog((l) => l.event === 'pop3-quit' && l.deleted === 1);
  });

  it('refuses bad passwords with -ERR [AUTH], logs them, and keeps the session in AUTHORIZATION', async () => {
    const { pop } = await RawPop3.open(popPort);
    await pop.stls();
    assert.match(await pop.login(ALICE, 'wrong'), /^-ERR \[AUTH\] Authentication failed/);
    assert.match(await pop.login('nobody@example.test', 'x'), /^-ERR \[AUTH\] Authentication failed/);
    assert.match(await pop.command('PASS alone'), /^-ERR USER first/);
    assert.match(await pop.login(ALICE, PASSWORD), /^\+OK Logged in/);
    assert.match(await pop.command('QUIT'), /^\+OK/);
    pop.close();
    await gw.waitForLog((l) => l.event === 'pop3-login' && l.result === 'failed' && l.reason === 'bad credentials');
  });

  it('pipelined commands are answered in order, and STLS discards what was pipelined after it', async () => {
    const pop = await loggedIn();
    pop.write('NOOP\r\nSTAT\r\nLIST 1\r\n');
    assert.match(await pop.line(), /^\+OK$/);
    assert.match(await pop.line(), /^\+OK 2 \d+$/);
    assert.match(await pop.line(), /^\+OK 1 \d+$/);
    assert.match(await pop.command('QUIT'), /^\+OK/);
    pop.close();
    const { pop: plain } = await RawPop3.open(popPort);
    plain.write('STLS\r\nQUIT\r\n');
    assert.match(await plain.line(), /^\+OK Begin TLS/);
    plain.close();
  });

  it('throttles failed logins per client address (max_login_failures)', async () => {
    // From 127.0.0.2: another client, whose failures are its own.
    const { pop } = await RawPop3.open(popsPort, true, '127.0.0.2');
    for (let i = 0; i < 5; i++) {
      assert.match(await pop.login('mallory@example.test', `guess${i}`), /^-ERR \[AUTH\] Authentication failed/);
    }
    // Even the right password is not checked now.
    assert.match(await pop.login(ALICE, PASSWORD), /^-ERR \[AUTH\] Too many failed logins/);
    pop.close();
    await gw.waitForLog((l) => l.event === 'pop3-login' && l.reason === 'throttled');
    // 127.0.0.1 is not 127.0.0.2.
    const other = await loggedIn();
    assert.match(await other.command('QUIT'), /^\+OK/);
    other.close();
  });

  it('closes after max_errors protocol errors, without deleting anything', async () => {
    const pop = await loggedIn();
    assert.match(await pop.command('DELE 1'), /^\+OK/);
    let last = '';
    for (let i = 0; i < 20 && !pop.closed; i++) last = await pop.command('BOGUS').catch(() => last);
    assert.match(last, /too many errors, closing/);
    await pop.waitClosed();
    await gw.waitForLog((l) => l.event === 'disconnect' && l.protocol === 'pop3' && l.reason === 'too many errors');
    assert.equal(maildirFiles(mailRoot(), 'example.test', 'alice', 'cur').length, 2);
  });

  it('after a crash (SIGKILL) mid-session nothing is deleted and the mailbox is not left locked', async () => {
    const pop = await loggedIn();
    assert.match(await pop.command('DELE 1'), /^\+OK/);
    await gw.kill();
    pop.close();
    gw = await startGateway({ ...gatewayOptions(), dir });
    popPort = await gw.portOf('pop3');
    popsPort = await gw.portOf('pop3s');
    const again = await loggedIn();
    assert.match(await again.command('STAT'), /^\+OK 2 /);
    assert.match(await again.command('QUIT'), /^\+OK/);
    again.close();
  });

  it('with plaintext_login, USER/PASS work before TLS; an idle session is logged out, deleting nothing', async () => {
    const { pop } = await RawPop3.open(await gw.portOf('pop3-plain'));
    const capa = await pop.multi('CAPA');
    assert.match(capa.body, /^USER$/m);
    assert.match(capa.body, /^SASL PLAIN$/m);
    assert.match(await pop.login(ALICE, PASSWORD), /^\+OK Logged in/);
    assert.match(await pop.command('DELE 1'), /^\+OK/);
    // timeout: 1s on this listener.
    assert.match(await pop.line(), /^-ERR Autologout/);
    await pop.waitClosed();
    assert.equal(maildirFiles(mailRoot(), 'example.test', 'alice', 'cur').length, 2);
  });

  it('a reload (SIGHUP) keeps the POP3 listeners on their ports, and a session open across it carries on', async () => {
    const open = await loggedIn();
    gw.process.kill('SIGHUP');
    await gw.waitForLog((l) => l.event === 'reload' && /^configuration reloaded/.test(l.msg));
    assert.match(await open.command('STAT'), /^\+OK 2 /);
    assert.match(await open.command('QUIT'), /^\+OK/);
    open.close();
    const after = await loggedIn();
    assert.match(await after.command('QUIT'), /^\+OK/);
    after.close();
  });
});
