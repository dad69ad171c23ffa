/*
 * auth and file-users in a running gateway: swaks and Python's smtplib log in
 * with PLAIN, LOGIN and CRAM-MD5 over STARTTLS and implicit TLS; every reply
 * code of RFC 4954 this plugin gives; relaying after AUTH and not before; the
 * failed-login throttle; the users file re-read on SIGHUP.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hash as argon2 } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { swaks } from '../harness/clients.js';
import { type Gateway, REPO, run, startGateway } from '../harness/gateway.js';
import { readQueued } from '../harness/queue.js';
import { RawSmtp } from '../harness/smtp.js';
import { IMPLICIT_TLS_LISTENER, makeCertificate, type TestCertificate } from '../harness/tls.js';

const TLS_CLIENT = join(REPO, 'test', 'clients', 'smtplib_tls.py');
const AUTH_BURST = join(REPO, 'test', 'clients', 'smtplib_auth_burst.py');
const SLOW_DIRECTORY = join(REPO, 'test', 'fixtures', 'plugins', 'slow-directory.js');
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('auth plugin with file-users', () => {
  let dir: string;
  let gw: Gateway;
  let cert: TestCertificate;
  let implicitPort: number;
  let usersFile: string;

  const users = async (extra = '') => `domains: [example.test]
users:
  alice@example.test:
    password: "${await argon2('alice-pw')}"
    cram_md5: alice-pw
  bob@example.test:
    password: "${bcrypt.hashSync('bob-pw', 4).replace(/^\$2b\$/, '$2y$')}"
${extra}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-auth-'));
    cert = await makeCertificate(dir, 'localhost');
    usersFile = join(dir, 'users.yaml');
    writeFileSync(usersFile, await users());
    gw = await startGateway({
      dir,
      plugins: `
      - use: starttls
        with: { cert: ${cert.cert}, key: ${cert.key}, implicit_listeners: [smtps] }
      - use: file-users
        with: { file: users.yaml }
      - use: auth
        with:
          mechanisms: [PLAIN, LOGIN, CRAM-MD5]
          max_failures: 20
          failure_delay: 10ms
      - use: rcpthosts
        with: { domains: [example.test] }`,
      extraListeners: IMPLICIT_TLS_LISTENER,
    });
    implicitPort = await gw.portOf('smtps');
  });

  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  /** A session in TLS, after EHLO. */
  const secureSession = async (): Promise<RawSmtp> => {
    const { smtp } = await RawSmtp.session(gw.port);
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command('STARTTLS')).code, 220);
    await smtp.startTls();
    await smtp.command('EHLO client.test');
    return smtp;
  };

  for (const mechanism of ['PLAIN', 'LOGIN', 'CRAM-MD5']) {
    it(`swaks logs in with ${mechanism} over STARTTLS and may relay`, async () => {
      const r = await swaks(gw.port, [
        '--tls',
        '--auth',
        mechanism,
        '--auth-user',
        'alice@example.test',
        '--auth-password',
        'alice-pw',
        '--from',
        'alice@example.test',
        '--to',
        'someone@elsewhere.test',
      ]);
      assert.equal(r.code, 0, r.transcript);
      assert.match(r.transcript, /<~ {2}235 2\.7\.0 Authentication successful/);
      const id = /queued as (\S+)/.exec(r.transcript)![1]!;
      const queued = readQueued(gw.queueDir, id);
      assert.equal(queued.envelope.authenticatedUser, 'alice@example.test');
      assert.match(queued.received, /with ESMTPSA \(using TLSv1\.3/);
      assert.ok(!JSON.stringify(gw.logs).includes('alice-pw'), 'the password is never logged');
    });
  }

  it('bcrypt ($2y$) users log in too', async () => {
    const r = await swaks(gw.port, [
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      'bob@example.test',
      '--auth-password',
      'bob-pw',
      '--to',
      'b@example.test',
    ]);
    assert.equal(r.code, 0, r.transcript);
  });

  it('Python smtplib logs in over implicit TLS and STARTTLS, verifying the certificate', async () => {
    for (const [mode, port, mechanism] of [
      ['implicit', implicitPort, 'PLAIN'],
      ['starttls', gw.port, 'LOGIN'],
      ['implicit', implicitPort, 'CRAM-MD5'],
    ] as const) {
      const r = await run('python3', [
        TLS_CLIENT,
        '--port',
        String(port),
        '--mode',
        mode,
        '--cafile',
        cert.cert,
        '--user',
        'alice@example.test',
        '--password',
        'alice-pw',
        '--mechanism',
        mechanism,
        '--to',
        'far@elsewhere.test',
      ]);
      const out = JSON.parse(r.stdout) as { auth?: number; code?: number };
      assert.equal(out.auth, 235, `${mode} ${mechanism}: ${r.stdout}${r.stderr}`);
      assert.equal(out.code, 250, r.stdout);
    }
  });

  it('offers AUTH only inside TLS: 538 before STARTTLS', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    const ehlo = await smtp.command('EHLO client.test');
    assert.ok(!ehlo.text.includes('AUTH'), ehlo.text);
    assert.equal(
      (await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).text,
      '538 5.7.11 Encryption required for requested authentication mechanism',
    );
    smtp.close();
  });

  it('answers each RFC 4954 case with its code', async () => {
    const smtp = await secureSession();
    const cases: [string, string][] = [
      ['AUTH', '501 5.5.4 Syntax: AUTH mechanism [initial-response]'],
      ['AUTH GSSAPI', '504 5.5.4 Unrecognized authentication type'],
      ['AUTH PLAIN %%%', '501 5.5.2 Error: cannot decode response'],
      ['AUTH PLAIN *', '501 5.0.0 Authentication cancelled'],
    ];
    for (const [command, reply] of cases) assert.equal((await smtp.command(command)).text, reply, command);
    // The server's challenge, then the client cancels.
    assert.equal((await smtp.command('AUTH LOGIN')).text, `334 ${b64('Username:')}`);
    assert.equal((await smtp.command('*')).text, '501 5.0.0 Authentication cancelled');
    // AUTH inside a transaction.
    assert.equal((await smtp.command('MAIL FROM:<x@example.test>')).code, 250);
    assert.equal((await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).code, 503);
    assert.equal((await smtp.command('RSET')).code, 250);
    // An empty 334, then the response; lower-case mechanism names are fine.
    assert.equal((await smtp.command('auth plain')).text, '334 ');
    assert.equal((await smtp.command(b64('\0alice@example.test\0alice-pw'))).text, '235 2.7.0 Authentication successful');
    assert.equal(
      (await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).text,
      '503 5.5.1 Error: already authenticated',
    );
    // RFC 4954 5: MAIL FROM may carry AUTH=.
    assert.equal((await smtp.command('MAIL FROM:<alice@example.test> AUTH=<>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<anyone@elsewhere.test>')).code, 250);
    smtp.close();
  });

  it('takes an AUTH line longer than 512 octets (RFC 4954: up to 12,288)', async () => {
    const smtp = await secureSession();
    const long = b64(`\0alice@example.test\0${'x'.repeat(1000)}`);
    assert.equal((await smtp.command(`AUTH PLAIN ${long}`)).code, 535);
    assert.equal((await smtp.command(`NOOP ${'y'.repeat(600)}`)).text, '500 5.5.2 Error: line too long');
    assert.equal((await smtp.command('AUTH LOGIN')).code, 334);
    assert.equal((await smtp.command('x'.repeat(13_000))).text, '500 5.5.6 Authentication Exchange line is too long');
    assert.equal((await smtp.command('NOOP')).code, 250, 'the session goes on');
    smtp.close();
  });

  it('refuses relaying before AUTH, with 535 for bad credentials', async () => {
    const smtp = await secureSession();
    assert.equal(
      (await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0wrong')}`)).text,
      '535 5.7.8 Error: authentication failed',
    );
    assert.equal((await smtp.command('MAIL FROM:<alice@example.test>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<anyone@elsewhere.test>')).code, 554);
    assert.equal((await smtp.command('RCPT TO:<local@example.test>')).code, 250);
    smtp.close();
    const failed = await gw.waitForLog((l) => l.msg === 'authentication failed' && l.user === 'alice@example.test');
    assert.equal(failed.password, undefined);
  });

  it('throttles a guesser: 421 after max_failures, also on the next connection', async () => {
    const throttled = await startGateway({
      plugins: `
      - use: file-users
        with: { file: ${usersFile} }
      - use: auth
        with: { require_tls: false, max_failures: 3, failure_delay: 10ms }`,
    });
    try {
      const { smtp } = await RawSmtp.session(throttled.port);
      await smtp.command('EHLO client.test');
      for (let i = 0; i < 2; i++) {
        assert.equal((await smtp.command(`AUTH PLAIN ${b64(`\0alice@example.test\0guess${i}`)}`)).code, 535);
      }
      assert.equal(
        (await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0guess3')}`)).text,
        '421 4.7.0 Error: too many authentication failures',
      );
      await smtp.waitClosed();
      const { smtp: again } = await RawSmtp.session(throttled.port);
      await again.command('EHLO client.test');
      assert.equal((await again.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).code, 421);
      await again.waitClosed();
    } finally {
      await throttled.stop();
      throttled.cleanup();
    }
  });

  it('requires AUTH before MAIL when asked (submission)', async () => {
    const submission = await startGateway({
      plugins: `
      - use: file-users
        with: { file: ${usersFile} }
      - use: auth
        with: { require_tls: false, required: true }`,
    });
    try {
      const { smtp } = await RawSmtp.session(submission.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('MAIL FROM:<alice@example.test>')).text, '530 5.7.0 Authentication required');
      assert.equal((await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).code, 235);
      assert.equal((await smtp.command('MAIL FROM:<alice@example.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<x@anywhere.test>')).code, 250);
      smtp.close();
    } finally {
      await submission.stop();
      submission.cleanup();
    }
  });

  it('re-reads the users file on SIGHUP', async () => {
    const carol = `  carol@example.test:\n    password: "{PLAIN}carol-pw"\n`;
    const login = () =>
      swaks(gw.port, [
        '--tls',
        '--auth',
        'PLAIN',
        '--auth-user',
        'carol@example.test',
        '--auth-password',
        'carol-pw',
        '--to',
        'b@example.test',
      ]);
    assert.notEqual((await login()).code, 0);
    writeFileSync(usersFile, await users(carol));
    gw.process.kill('SIGHUP');
    await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.changed));
    const r = await login();
    assert.equal(r.code, 0, r.transcript);
    writeFileSync(usersFile, 'users:\n  carol@example.test: { password: nohash }\n');
    gw.process.kill('SIGHUP');
    await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.problems));
    assert.equal((await login()).code, 0, 'a broken file keeps the previous users');
  });

  it('answers 454 when the directory is down, and the client may try again', async () => {
    const down = await startGateway({
      plugins: `
      - use: ${join(REPO, 'test', 'fixtures', 'plugins', 'down-directory.js')}
      - use: auth
        with: { require_tls: false, max_failures: 1 }`,
    });
    try {
      const { smtp } = await RawSmtp.session(down.port);
      await smtp.command('EHLO client.test');
      for (let i = 0; i < 2; i++) {
        assert.equal(
          (await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).text,
          '454 4.7.0 Temporary authentication failure',
          'not counted as a failed login',
        );
      }
      smtp.close();
      await down.waitForLog((l) => l.level === 'error' && /down-directory failed in authenticate/.test(l.msg));
    } finally {
      await down.stop();
      down.cleanup();
    }
  });
});

describe('auth throttle against a slow directory', () => {
  /** A gateway whose directory takes 300 ms per password check and logs each one. */
  const throttledGateway = () =>
    startGateway({
      plugins: `
      - use: ${SLOW_DIRECTORY}
        with:
          delay_ms: 300
          users: { alice@example.test: alice-pw, bob@example.test: bob-pw }
      - use: auth
        with: { require_tls: false, max_failures: 5, failure_delay: 10ms }`,
    });
  const checks = (gw: Gateway, user: string) => gw.logs.filter((l) => l.event === 'password-check' && l.username === user).length;

  it('20 parallel connections from one address get at most max_failures password checks', async () => {
    const gw = await throttledGateway();
    try {
      const r = await run('python3', [
        AUTH_BURST,
        '--port',
        String(gw.port),
        '--connections',
        '20',
        '--user',
        'alice@example.test',
        '--password',
        'guess',
      ]);
      const results = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { auth?: number; text?: string; error?: string });
      assert.equal(results.length, 20, r.stdout + r.stderr);
      assert.deepEqual(
        results.filter((x) => x.auth !== 535 && x.auth !== 421),
        [],
        'every session got 535 or 421',
      );
      assert.equal(checks(gw, 'alice@example.test'), 5, 'five passwords checked, not twenty');
      assert.ok(results.filter((x) => x.auth === 421).length >= 15);
      // And the address stays shut for the window, even with the right password.
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal(
        (await smtp.command(`AUTH PLAIN ${b64('\0alice@example.test\0alice-pw')}`)).text,
        '421 4.7.0 Error: too many authentication failures',
      );
      await smtp.waitClosed();
      assert.equal(checks(gw, 'alice@example.test'), 5);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('a valid login between guesses does not reset the count', async () => {
    const gw = await throttledGateway();
    try {
      const replies: number[] = [];
      for (let round = 0; round < 8; round++) {
        const { smtp } = await RawSmtp.session(gw.port);
        await smtp.command('EHLO client.test');
        const guess = await smtp.command(`AUTH PLAIN ${b64(`\0alice@example.test\0guess${round}`)}`);
        replies.push(guess.code);
        if (guess.code === 421) {
          await smtp.waitClosed();
          break;
        }
        // The attacker's own account, valid: logging in with it must not wash out the guesses.
        assert.equal((await smtp.command(`AUTH PLAIN ${b64('\0bob@example.test\0bob-pw')}`)).code, 235);
        smtp.close();
      }
      assert.deepEqual(replies, [535, 535, 535, 535, 421]);
      assert.equal(checks(gw, 'alice@example.test'), 5);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
