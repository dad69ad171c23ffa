/*
 * starttls in a running gateway: STARTTLS (RFC 3207) and implicit TLS
 * (RFC 8314) with real clients (openssl s_client, swaks, Python's ssl), the
 * plaintext-injection defence, SNI, the self-signed default, and certificate
 * reload on SIGHUP while TLS sessions run.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { swaks } from '../harness/clients.js';
import { type Gateway, REPO, run, startGateway } from '../harness/gateway.js';
import { queuedIds, readQueued } from '../harness/queue.js';
import { RawSmtp } from '../harness/smtp.js';
import { IMPLICIT_TLS_LISTENER, makeCertificate, makeChain, type TestCertificate, type TestChain } from '../harness/tls.js';

const TLS_CLIENT = join(REPO, 'test', 'clients', 'smtplib_tls.py');

function peerName(socket: TLSSocket): string {
  return String(socket.getPeerCertificate().subject?.CN ?? '');
}

async function startTlsSession(port: number): Promise<{ smtp: RawSmtp; secure: TLSSocket }> {
  const { smtp } = await RawSmtp.session(port);
  await smtp.command('EHLO client.test');
  assert.equal((await smtp.command('STARTTLS')).code, 220);
  const secure = await smtp.startTls({ servername: 'localhost' });
  return { smtp, secure };
}

/** One handshake by openssl s_client after STARTTLS, offering only `cipher` (or TLS 1.3 when undefined). */
async function handshake(port: number, cipher?: string): Promise<{ protocol?: string; cipher?: string; code: number | null }> {
  const offer = cipher === undefined ? ['-tls1_3'] : ['-tls1_2', '-cipher', cipher];
  const r = await run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-starttls', 'smtp', '-brief', ...offer],
    'QUIT\r\n',
  );
  return {
    code: r.code,
    protocol: /^Protocol version: (\S+)$/m.exec(r.stderr)?.[1],
    cipher: /^Ciphersuite: (\S+)$/m.exec(r.stderr)?.[1],
  };
}

describe('starttls plugin', () => {
  let dir: string;
  let gw: Gateway;
  let main: TestCertificate;
  let sni: TestCertificate;
  let implicitPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-tls-'));
    main = await makeCertificate(dir, 'localhost');
    sni = await makeCertificate(dir, 'mail.sni.test');
    gw = await startGateway({
      dir,
      plugins: `
      - use: starttls
        with:
          cert: ${main.cert}
          key: ${main.key}
          implicit_listeners: [smtps]
          sni:
            mail.sni.test: { cert: ${sni.cert}, key: ${sni.key} }
      - use: rcpthosts
        with:
          domains: [example.test]`,
      extraListeners: IMPLICIT_TLS_LISTENER,
    });
    implicitPort = await gw.portOf('smtps');
  });

  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('TLS 1.2 by default: forward-secret AEAD suites only, no CBC (openssl s_client); TLS 1.3 as well', async () => {
    const cases: { cipher?: string; accepted: boolean; why: string }[] = [
      { cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256', accepted: true, why: 'ECDHE, AES-GCM' },
      { cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384', accepted: true, why: 'ECDHE, AES-GCM' },
      { cipher: 'ECDHE-ECDSA-CHACHA20-POLY1305', accepted: true, why: 'ECDHE, ChaCha20-Poly1305' },
      { cipher: 'ECDHE-ECDSA-AES128-SHA256', accepted: false, why: 'CBC (LUCKY13)' },
      { cipher: 'ECDHE-ECDSA-AES256-SHA384', accepted: false, why: 'CBC (LUCKY13)' },
      { cipher: 'ECDHE-ECDSA-AES128-SHA', accepted: false, why: 'CBC with SHA-1' },
      { cipher: 'ECDHE-ECDSA-AES256-SHA', accepted: false, why: 'CBC with SHA-1' },
      { accepted: true, why: 'TLS 1.3' },
    ];
    for (const c of cases) {
      const got = await handshake(gw.port, c.cipher);
      if (c.accepted) {
        assert.equal(got.protocol, c.cipher ? 'TLSv1.2' : 'TLSv1.3', `${c.why}: ${JSON.stringify(got)}`);
        if (c.cipher) assert.equal(got.cipher, c.cipher, c.why);
      } else {
        assert.equal(got.protocol, undefined, `${c.cipher} (${c.why}) must be refused: ${JSON.stringify(got)}`);
        assert.notEqual(got.code, 0);
      }
    }
  });

  it('offers STARTTLS, refuses an argument, and switches to TLS after 220', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    const ehlo = await smtp.command('EHLO client.test');
    assert.ok(
      ehlo.lines.some((l) => l.slice(4) === 'STARTTLS'),
      ehlo.text,
    );
    assert.equal((await smtp.command('STARTTLS now')).code, 501);
    assert.equal((await smtp.command('STARTTLS')).text, '220 2.0.0 Ready to start TLS');
    const secure = await smtp.startTls({ servername: 'localhost' });
    assert.match(secure.getProtocol() ?? '', /^TLSv1\.[23]$/);
    // RFC 3207 4.2: the server forgot the EHLO; the client must say it again.
    assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 503);
    const again = await smtp.command('EHLO client.test');
    assert.ok(!again.lines.some((l) => l.includes('STARTTLS')), 'STARTTLS is not offered inside TLS');
    assert.equal((await smtp.command('STARTTLS')).text, '503 5.5.1 Error: TLS already active');
    assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<b@example.test>')).code, 250);
    assert.equal((await smtp.command('DATA')).code, 354);
    const done = await smtp.command('Subject: tls\r\n\r\nover TLS\r\n.');
    assert.equal(done.code, 250);
    const id = /queued as (\S+)/.exec(done.text)![1]!;
    const queued = readQueued(gw.queueDir, id);
    assert.match(queued.received, /with ESMTPS \(using TLSv1\.[23] with cipher TLS_[A-Z0-9_]+\) id /);
    assert.deepEqual((queued.envelope.tls as { protocol: string }).protocol, secure.getProtocol());
    smtp.close();
    const log = await gw.waitForLog((l) => l.event === 'tls' && l.msg === 'TLS established');
    assert.match(String(log.cipher), /^TLS_/);
  });

  it('discards plaintext pipelined after STARTTLS (CVE-2011-0411)', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    await smtp.command('EHLO client.test');
    // The injected commands ride in the same packet as STARTTLS.
    smtp.write('STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRCPT TO:<victim@example.test>\r\n');
    assert.equal((await smtp.reply()).code, 220);
    await smtp.startTls({ servername: 'localhost' });
    const ehlo = await smtp.command('EHLO client.test');
    assert.equal(ehlo.lines[0], '250-mx.qgate.test', 'the first reply inside TLS answers our EHLO');
    // Had the injected MAIL been kept, this would be a nested MAIL (503).
    assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 250);
    assert.equal((await smtp.command('NOOP')).code, 250);
    assert.equal(smtp.pending, false);
    smtp.close();
  });

  it('openssl s_client through a proxy that injects plaintext after STARTTLS gets no reply to it', async () => {
    // A man in the middle appends a command to the client's STARTTLS packet (CVE-2011-0411).
    let injected = false;
    const proxy: Server = createServer((client) => {
      const upstream = connect(gw.port, '127.0.0.1');
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.pipe(client);
      client.on('data', (chunk: Buffer) => {
        if (!injected && /STARTTLS\r\n$/i.test(chunk.toString('latin1'))) {
          injected = true;
          upstream.write(Buffer.concat([chunk, Buffer.from('MAIL FROM:<injected@evil.test>\r\n')]));
        } else upstream.write(chunk);
      });
      client.on('end', () => upstream.end());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as { port: number }).port;
    try {
      const r = await run(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${proxyPort}`, '-starttls', 'smtp', '-quiet', '-ign_eof'],
        'EHLO client.test\r\nMAIL FROM:<a@example.test>\r\nQUIT\r\n',
      );
      assert.ok(injected, 'the proxy injected its command');
      const replies = r.stdout.split('\r\n').filter((l) => /^\d{3}[ -]/.test(l));
      assert.deepEqual(
        replies.filter((l) => !l.startsWith('250-')),
        ['250 SMTPUTF8', '250 2.1.0 Ok', '221 2.0.0 Bye'],
        'replies to our EHLO, MAIL and QUIT only: the injected MAIL was never read',
      );
    } finally {
      proxy.close();
    }
  });

  it('works with openssl s_client -starttls smtp', async () => {
    const r = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${gw.port}`, '-starttls', 'smtp', '-servername', 'localhost', '-quiet', '-ign_eof'],
      'EHLO client.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nQUIT\r\n',
    );
    assert.match(r.stdout, /250 2\.1\.0 Ok/);
    assert.match(r.stdout, /250 2\.1\.5 Ok/);
    assert.match(r.stdout, /221 2\.0\.0 Bye/);
    assert.match(r.stderr, /CN ?= ?localhost/);
  });

  it('speaks TLS from the first byte on an implicit listener (swaks --tls-on-connect)', async () => {
    const r = await swaks(implicitPort, ['--tls-on-connect', '--from', 'a@example.test', '--to', 'b@example.test']);
    assert.equal(r.code, 0, r.transcript);
    assert.match(r.transcript, /^<~ {2}220 /m, 'the greeting came over TLS');
    assert.match(r.transcript, /<~ {2}250 2\.0\.0 Ok: queued as/);
    const smtp = await RawSmtp.openTls(implicitPort, { servername: 'localhost' });
    assert.equal((await smtp.reply()).code, 220);
    const ehlo = await smtp.command('EHLO client.test');
    assert.ok(!ehlo.text.includes('STARTTLS'));
    assert.equal((await smtp.command('STARTTLS')).code, 503);
    smtp.close();
  });

  it('verifies with Python ssl, STARTTLS and implicit', async () => {
    for (const [mode, port] of [
      ['starttls', gw.port],
      ['implicit', implicitPort],
    ] as const) {
      const r = await run('python3', [TLS_CLIENT, '--port', String(port), '--mode', mode, '--cafile', main.cert]);
      const out = JSON.parse(r.stdout) as { tls?: string; code?: number; error?: string };
      assert.equal(out.code, 250, `${mode}: ${r.stdout}${r.stderr}`);
      assert.match(out.tls ?? '', /^TLSv1\.[23]$/);
    }
  });

  it('picks the certificate by SNI, the default for other names', async () => {
    const one = await RawSmtp.openTls(implicitPort, { servername: 'mail.sni.test' });
    assert.equal(peerName(one.socket as TLSSocket), 'mail.sni.test');
    assert.equal((await one.reply()).code, 220);
    one.close();
    const other = await RawSmtp.openTls(implicitPort, { servername: 'other.test' });
    assert.equal(peerName(other.socket as TLSSocket), 'localhost');
    other.close();
    await gw.waitForLog((l) => l.event === 'tls' && l.servername === 'mail.sni.test');
  });

  it('survives failed handshakes (plaintext after 220), and frees their connection slots', async () => {
    // More failures than max_connections_per_ip (20): a slot that leaked would refuse the last session.
    for (let i = 0; i < 25; i++) {
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('STARTTLS')).code, 220);
      smtp.write('this is not a TLS ClientHello\r\n');
      await smtp.waitClosed();
    }
    // A plaintext client on the implicit-TLS port never gets a greeting, and its slot is freed too.
    for (let i = 0; i < 25; i++) {
      const plain = await RawSmtp.open(implicitPort);
      plain.write('EHLO client.test\r\n');
      await plain.waitClosed();
    }
    const secure = await RawSmtp.openTls(implicitPort);
    assert.equal((await secure.reply()).code, 220);
    secure.close();
    await gw.waitForLog((l) => l.event === 'tls' && l.msg === 'TLS handshake failed');
    const { greeting, smtp: next } = await RawSmtp.session(gw.port);
    assert.equal(greeting.code, 220);
    next.close();
  });

  it('reloads certificates on SIGHUP without failing a session', async () => {
    // Sessions keep sending in TLS before, during and after the certificate is replaced
    // and SIGHUP arrives twice.
    let reloaded = false;
    const running = Array.from({ length: 12 }, async (_, i) => {
      const { smtp } = await startTlsSession(gw.port);
      await smtp.command('EHLO client.test');
      for (let n = 0; n < 3 || !reloaded; n++) {
        assert.equal((await smtp.command(`MAIL FROM:<s${i}@example.test>`)).code, 250);
        assert.equal((await smtp.command('RCPT TO:<b@example.test>')).code, 250);
        assert.equal((await smtp.command('DATA')).code, 354);
        assert.equal((await smtp.command(`Subject: ${i}.${n}\r\n\r\nbody\r\n.`)).code, 250);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await smtp.command('QUIT')).code, 221);
    });
    const renewed = await makeCertificate(dir, 'localhost', 'renewed');
    writeFileSync(main.cert, readFileSync(renewed.cert));
    writeFileSync(main.key, readFileSync(renewed.key));
    let reloads = 0;
    const twice = gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.changed) && ++reloads === 2);
    gw.process.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 50));
    gw.process.kill('SIGHUP');
    await twice;
    reloaded = true;
    await Promise.all(running);
    const { smtp, secure } = await startTlsSession(gw.port);
    const expected = await run('openssl', ['x509', '-in', main.cert, '-noout', '-fingerprint', '-sha256']);
    assert.equal(
      secure.getPeerCertificate().fingerprint256,
      expected.stdout.trim().split('=')[1],
      'new sessions get the new certificate',
    );
    smtp.close();
    assert.ok(queuedIds(gw.queueDir).length >= 36);
  });
});

describe('starttls defaults', () => {
  it('generates a self-signed certificate once, and can require TLS before MAIL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-tls-self-'));
    const plugins = `
      - use: starttls
        with:
          generate: var/tls/selfsigned.pem
          required: true
      - use: rcpthosts
        with:
          domains: [example.test]`;
    let gw = await startGateway({ dir, plugins });
    try {
      const file = join(dir, 'var', 'tls', 'selfsigned.pem');
      await gw.waitForLog((l) => /generated a self-signed TLS certificate/.test(l.msg) && l.file === file);
      assert.ok(existsSync(file));
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the key is readable by the gateway only');
      // The generated certificate is RSA: the same rule for the ECDHE-RSA suites.
      for (const [cipher, protocol] of [
        ['ECDHE-RSA-AES128-GCM-SHA256', 'TLSv1.2'],
        ['ECDHE-RSA-CHACHA20-POLY1305', 'TLSv1.2'],
        ['ECDHE-RSA-AES128-SHA256', undefined],
        ['ECDHE-RSA-AES256-SHA', undefined],
        ['DHE-RSA-AES128-GCM-SHA256', undefined],
      ] as const) {
        assert.equal((await handshake(gw.port, cipher)).protocol, protocol, cipher);
      }
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).text, '530 5.7.0 Must issue a STARTTLS command first');
      assert.equal((await smtp.command('STARTTLS')).code, 220);
      await smtp.startTls();
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 250);
      smtp.close();
      await gw.stop();
      const before = readFileSync(file);
      gw = await startGateway({ dir, plugins });
      assert.ok(!gw.logs.some((l) => /generated a self-signed/.test(l.msg)));
      assert.deepEqual(readFileSync(file), before, 'generated once, then reused');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

describe('starttls certificates and versions', () => {
  let gw: Gateway;
  let chain: TestChain;
  let implicitPort: number;
  let strictPort: number;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-tls-chain-'));
    chain = await makeChain(dir, 'localhost');
    gw = await startGateway({
      dir,
      plugins: `
      - use: starttls
        with:
          cert: ${chain.cert}
          key: ${chain.key}
          ciphers: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256
          implicit_listeners: [smtps]
      - use: rcpthosts
        with: { domains: [example.test] }`,
      extraListeners: `${IMPLICIT_TLS_LISTENER}
  - name: strict
    address: 127.0.0.1
    port: 0
    pipeline: strict`,
      extraPipelines: `
  strict:
    plugins:
      - use: starttls
        with: { cert: ${chain.cert}, key: ${chain.key}, min_version: TLSv1.3, implicit_listeners: [strict] }
      - use: rcpthosts
        with: { domains: [example.test] }`,
    });
    implicitPort = await gw.portOf('smtps');
    strictPort = await gw.portOf('strict');
  });

  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('sends the chain: a client that trusts only the root verifies the leaf', async () => {
    const r = await run('python3', [TLS_CLIENT, '--port', String(implicitPort), '--mode', 'implicit', '--cafile', chain.root]);
    assert.equal((JSON.parse(r.stdout) as { code?: number }).code, 250, r.stdout + r.stderr);
    const shown = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${gw.port}`, '-starttls', 'smtp', '-showcerts'],
      'QUIT\r\n',
    );
    assert.equal(shown.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2, 'leaf and intermediate');
  });

  it('uses the configured TLS 1.2 ciphers and refuses what min_version excludes', async () => {
    const tls12 = await RawSmtp.openTls(implicitPort, { maxVersion: 'TLSv1.2' });
    const secure = tls12.socket as TLSSocket;
    assert.equal(secure.getProtocol(), 'TLSv1.2');
    assert.equal(secure.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.equal((await tls12.reply()).code, 220);
    tls12.close();
    // The admin's list is the whole TLS 1.2 list: a CBC suite it names is offered, others are not,
    // and TLS 1.3 stays on.
    assert.equal((await handshake(gw.port, 'ECDHE-ECDSA-AES128-SHA256')).cipher, 'ECDHE-ECDSA-AES128-SHA256');
    assert.equal((await handshake(gw.port, 'ECDHE-ECDSA-CHACHA20-POLY1305')).protocol, undefined);
    assert.equal((await handshake(gw.port)).protocol, 'TLSv1.3');
    await assert.rejects(RawSmtp.openTls(strictPort, { maxVersion: 'TLSv1.2' }), /protocol version|alert/i);
    const tls13 = await RawSmtp.openTls(strictPort);
    assert.equal((tls13.socket as TLSSocket).getProtocol(), 'TLSv1.3');
    assert.equal((await tls13.reply()).code, 220);
    tls13.close();
  });
});

describe('startTls from the wrong place', () => {
  it('is void unless a command handler accepts: the session stays in plaintext', async () => {
    const gw = await startGateway({
      plugins: `
      - use: ${join(REPO, 'test', 'fixtures', 'plugins', 'tls-misuse.js')}
      - use: rcpthosts
        with: { domains: [example.test] }`,
    });
    try {
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('XTLSNO')).text, '454 4.7.0 TLS not available');
      assert.equal((await smtp.command('MAIL FROM:<tls@example.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<b@example.test>')).code, 250, 'still plaintext after the MAIL hook asked');
      assert.equal((await smtp.command('NOOP')).code, 250);
      smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
