/*
 * The SMTP dialogue against the real gateway process: replies and codes for
 * every command, sequence and syntax errors, pipelining, limits and timeouts.
 * Expected replies follow RFC 5321 and Postfix's wording.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

describe('SMTP dialogue', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ listener: { max_recipients: 3 } });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('greets with 220 and the host name, answers EHLO with the capabilities', async () => {
    const { smtp, greeting } = await RawSmtp.session(gw.port);
    assert.equal(greeting.code, 220);
    assert.match(greeting.text, /^220 mx\.qgate\.test ESMTP qgate$/);
    const ehlo = await smtp.command('EHLO client.test');
    assert.equal(ehlo.code, 250);
    assert.deepEqual(ehlo.lines, [
      '250-mx.qgate.test',
      '250-PIPELINING',
      '250-8BITMIME',
      '250-ENHANCEDSTATUSCODES',
      '250 SMTPUTF8',
    ]);
    assert.equal((await smtp.command('HELO client.test')).text, '250 mx.qgate.test');
    assert.equal((await smtp.command('QUIT')).text, '221 2.0.0 Bye');
    await smtp.waitClosed();
  });

  const cases: { why: string; commands: string[]; expect: RegExp }[] = [
    {
      why: 'MAIL before HELO/EHLO is a sequence error',
      commands: ['MAIL FROM:<a@example.test>'],
      expect: /^503 5\.5\.1 Error: send HELO\/EHLO first$/,
    },
    {
      why: 'RCPT before MAIL',
      commands: ['EHLO c', 'RCPT TO:<b@example.test>'],
      expect: /^503 5\.5\.1 Error: need MAIL command$/,
    },
    { why: 'DATA before MAIL', commands: ['EHLO c', 'DATA'], expect: /^503 5\.5\.1 Error: need MAIL command$/ },
    {
      why: 'DATA before RCPT',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'DATA'],
      expect: /^503 5\.5\.1 Error: need RCPT command$/,
    },
    {
      why: 'nested MAIL',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'MAIL FROM:<a@example.test>'],
      expect: /^503 5\.5\.1 Error: nested MAIL command$/,
    },
    { why: 'MAIL without a path', commands: ['EHLO c', 'MAIL FROM:'], expect: /^501 5\.5\.4 Syntax: MAIL FROM:<address>$/ },
    { why: 'MAIL without FROM:', commands: ['EHLO c', 'MAIL <a@example.test>'], expect: /^501 5\.5\.4 / },
    {
      why: 'bad sender address',
      commands: ['EHLO c', 'MAIL FROM:<a b@example.test>'],
      expect: /^501 5\.1\.7 Bad sender address syntax$/,
    },
    {
      why: 'bad recipient address',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RCPT TO:<@@>'],
      expect: /^501 5\.1\.3 Bad recipient address syntax$/,
    },
    {
      why: 'unknown MAIL parameter',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test> FOO=BAR'],
      expect: /^555 5\.5\.4 Unsupported option: FOO=BAR$/,
    },
    {
      why: 'unknown RCPT parameter',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RCPT TO:<b@example.test> NOTIFY=NEVER'],
      expect: /^555 5\.5\.4 Unsupported option: NOTIFY=NEVER$/,
    },
    {
      why: 'bad SIZE value',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test> SIZE=big'],
      expect: /^501 5\.5\.4 Bad message size syntax$/,
    },
    {
      why: 'BODY=BINARYMIME is not offered',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test> BODY=BINARYMIME'],
      expect: /^501 5\.5\.4 /,
    },
    { why: 'unicode address needs SMTPUTF8', commands: ['EHLO c', 'MAIL FROM:<jörg@example.test>'], expect: /^553 5\.6\.7 / },
    {
      why: 'unicode address with SMTPUTF8',
      commands: ['EHLO c', 'MAIL FROM:<jörg@example.test> SMTPUTF8'],
      expect: /^250 2\.1\.0 Ok$/,
    },
    { why: 'null sender', commands: ['EHLO c', 'MAIL FROM:<>'], expect: /^250 2\.1\.0 Ok$/ },
    {
      why: 'ESMTP parameters SIZE and BODY',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test> SIZE=1000 BODY=8BITMIME'],
      expect: /^250 2\.1\.0 Ok$/,
    },
    {
      why: 'space after the colon (Postfix accepts it)',
      commands: ['EHLO c', 'MAIL FROM: <a@example.test>'],
      expect: /^250 2\.1\.0 Ok$/,
    },
    {
      why: 'verbs are case-insensitive',
      commands: ['ehlo c', 'mail from:<a@example.test>', 'rcpt to:<b@example.test>'],
      expect: /^250 2\.1\.5 Ok$/,
    },
    {
      why: '<postmaster> without a domain is accepted (RFC 5321 4.5.1)',
      commands: ['EHLO c', 'MAIL FROM:<>', 'RCPT TO:<Postmaster>'],
      expect: /^250 2\.1\.5 Ok$/,
    },
    {
      why: 'a recipient outside our domains is refused: no open relay',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RCPT TO:<x@elsewhere.test>'],
      expect: /^554 5\.7\.1 <x@elsewhere\.test>: Relay access denied$/,
    },
    {
      why: 'sub-domains via ".example.test"',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RCPT TO:<x@sub.example.test>'],
      expect: /^250 2\.1\.5 Ok$/,
    },
    {
      why: 'DATA after only refused recipients',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RCPT TO:<x@elsewhere.test>', 'DATA'],
      expect: /^554 5\.5\.1 Error: no valid recipients$/,
    },
    {
      why: 'DATA with an argument',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RCPT TO:<b@example.test>', 'DATA now'],
      expect: /^501 5\.5\.4 Syntax: DATA$/,
    },
    { why: 'HELO without a name', commands: ['HELO'], expect: /^501 Syntax: HELO hostname$/ },
    { why: 'VRFY never reveals mailboxes (252)', commands: ['VRFY root'], expect: /^252 2\.0\.0 / },
    { why: 'VRFY without argument', commands: ['VRFY'], expect: /^501 5\.5\.4 / },
    { why: 'HELP', commands: ['HELP'], expect: /^214 2\.0\.0 See RFC 5321$/m },
    { why: 'NOOP', commands: ['NOOP'], expect: /^250 2\.0\.0 Ok$/ },
    { why: 'RSET', commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RSET'], expect: /^250 2\.0\.0 Ok$/ },
    {
      why: 'RSET ends the transaction',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'RSET', 'RCPT TO:<b@example.test>'],
      expect: /^503 5\.5\.1 Error: need MAIL command$/,
    },
    {
      why: 'EHLO ends the transaction (RFC 5321 4.1.4)',
      commands: ['EHLO c', 'MAIL FROM:<a@example.test>', 'EHLO c', 'RCPT TO:<b@example.test>'],
      expect: /^503 5\.5\.1 /,
    },
    { why: 'unknown command', commands: ['FOO bar'], expect: /^500 5\.5\.2 Error: command not recognized$/ },
    { why: 'known but unimplemented command', commands: ['EXPN staff'], expect: /^502 5\.5\.1 / },
    { why: 'STARTTLS without a TLS plugin', commands: ['STARTTLS'], expect: /^502 5\.5\.1 / },
    { why: 'empty line', commands: [''], expect: /^500 5\.5\.2 Error: bad syntax$/ },
    {
      why: 'source routes parse (policy is a plugin matter)',
      commands: ['EHLO c', 'MAIL FROM:<@relay.test:a@example.test>'],
      expect: /^250 2\.1\.0 Ok$/,
    },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const { smtp } = await RawSmtp.session(gw.port);
      let last = '';
      for (const command of c.commands) last = (await smtp.command(command)).text;
      assert.match(last, c.expect);
      smtp.close();
    });
  }

  it('refuses recipients past max_recipients with 452 4.5.3 and keeps the others', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    await smtp.command('EHLO c');
    await smtp.command('MAIL FROM:<a@example.test>');
    for (let i = 0; i < 3; i++) assert.equal((await smtp.command(`RCPT TO:<r${i}@example.test>`)).code, 250);
    assert.match((await smtp.command('RCPT TO:<r3@example.test>')).text, /^452 4\.5\.3 Error: too many recipients$/);
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write('Subject: four\r\n\r\nbody\r\n.\r\n');
    assert.match((await smtp.reply()).text, /^250 2\.0\.0 Ok: queued as [0-9A-Z]{15}$/);
    smtp.close();
  });

  it('answers a pipelined batch in order, in one go (RFC 2920)', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    await smtp.command('EHLO c');
    smtp.write(
      'MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n',
    );
    const replies = await smtp.replies(5);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 554, 250, 354],
    );
    // The end of data and the next commands in one write: the message ends at CRLF.CRLF exactly.
    smtp.write(
      'Subject: pipelined\r\n\r\nline\r\n.\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRSET\r\nQUIT\r\n',
    );
    const after = await smtp.replies(5);
    assert.deepEqual(
      after.map((r) => r.code),
      [250, 250, 250, 250, 221],
    );
    await smtp.waitClosed();
  });

  it('survives an over-long command line with 500 and goes on', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    assert.match((await smtp.command(`NOOP ${'x'.repeat(600)}`)).text, /^500 5\.5\.2 Error: line too long$/);
    assert.equal((await smtp.command('NOOP')).code, 250);
    // Longer than any buffer: sent in pieces, still one reply.
    smtp.write(`EHLO ${'y'.repeat(100_000)}`);
    smtp.write('\r\n');
    assert.equal((await smtp.reply()).code, 500);
    assert.equal((await smtp.command('EHLO c')).code, 250);
    smtp.close();
  });

  it('answers garbage bytes with errors, never crashes, and disconnects after max_errors', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    const garbage = Buffer.from([0x00, 0xff, 0xfe, 0x1b, 0x5b, 0x41, 0x0d, 0x0a]);
    smtp.write(garbage);
    assert.ok([500, 502].includes((await smtp.reply()).code));
    smtp.write(Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n', 'latin1'));
    assert.ok([500, 502].includes((await smtp.reply()).code));
    for (let i = 0; i < 17; i++) smtp.write('BOGUS\r\n');
    const replies = await smtp.replies(17);
    assert.equal(replies.at(-1)!.code, 500);
    smtp.write('BOGUS\r\n');
    assert.match((await smtp.reply()).text, /^421 4\.7\.0 mx\.qgate\.test Error: too many errors$/);
    await smtp.waitClosed();
    // The gateway is still there.
    const { greeting } = await RawSmtp.session(gw.port);
    assert.equal(greeting.code, 220);
  });

  it('runs a local plugin through the command hook (extension verbs)', async () => {
    // covered with the gatekeeper fixture in plugins.test.ts; here: the core alone refuses XPING
    const { smtp } = await RawSmtp.session(gw.port);
    assert.equal((await smtp.command('XPING')).code, 500);
    smtp.close();
  });
});

describe('limits', () => {
  it('closes an idle session with 421 4.4.2 after the timeout', async () => {
    const gw = await startGateway({ listener: { timeout: '1s' } });
    try {
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO c');
      const started = Date.now();
      assert.match((await smtp.reply(5000)).text, /^421 4\.4\.2 mx\.qgate\.test Error: timeout exceeded$/);
      assert.ok(Date.now() - started >= 900);
      await smtp.waitClosed();
      // Mid-DATA too: nothing is kept.
      const { smtp: s2 } = await RawSmtp.session(gw.port);
      await s2.command('EHLO c');
      await s2.command('MAIL FROM:<a@example.test>');
      await s2.command('RCPT TO:<b@example.test>');
      await s2.command('DATA');
      s2.write('Subject: half\r\n\r\nhalf a message');
      assert.equal((await s2.reply(5000)).code, 421);
      await s2.waitClosed();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('refuses connections past max_connections and max_connections_per_ip with 421', async () => {
    const gw = await startGateway({ listener: { max_connections: 3, max_connections_per_ip: 2 } });
    try {
      const a = await RawSmtp.session(gw.port);
      const b = await RawSmtp.session(gw.port);
      assert.equal(a.greeting.code, 220);
      assert.equal(b.greeting.code, 220);
      const c = await RawSmtp.session(gw.port);
      assert.match(c.greeting.text, /^421 4\.7\.0 mx\.qgate\.test Error: too many connections from 127\.0\.0\.1$/);
      await c.smtp.waitClosed();
      // A slot frees up when a session ends.
      await a.smtp.command('QUIT');
      await a.smtp.waitClosed();
      await new Promise((r) => setTimeout(r, 100));
      const d = await RawSmtp.session(gw.port);
      assert.equal(d.greeting.code, 220);
      b.smtp.close();
      d.smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('closes after 221 without waiting for the client, so a client that stays does not hold its slot', async () => {
    const gw = await startGateway({ listener: { max_connections: 1, max_connections_per_ip: 1 } });
    // Half-open capable: the client does not answer the server's FIN with its own.
    const stay = connect({ port: gw.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      let received = '';
      const greeted = new Promise<void>((resolve) =>
        stay.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (received.includes('\r\n')) resolve();
        }),
      );
      const ended = new Promise<void>((resolve) => stay.once('end', resolve));
      await greeted;
      assert.match(received, /^220 /);
      stay.write('QUIT\r\n');
      await ended;
      assert.match(received, /\r\n221 /);
      // Waiting for the client's FIN kept the slot for 10 s; now it is free at once.
      let next = await RawSmtp.session(gw.port);
      for (let tries = 0; next.greeting.code !== 220 && tries < 20; tries++) {
        await next.smtp.waitClosed();
        await new Promise((r) => setTimeout(r, 50));
        next = await RawSmtp.session(gw.port);
      }
      assert.equal(next.greeting.code, 220);
      next.smtp.close();
    } finally {
      stay.destroy();
      await gw.stop();
      gw.cleanup();
    }
  });

  it('counts all clients against max_connections', async () => {
    const gw = await startGateway({ listener: { max_connections: 2, max_connections_per_ip: 10 } });
    try {
      const a = await RawSmtp.session(gw.port);
      const b = await RawSmtp.session(gw.port);
      const c = await RawSmtp.session(gw.port);
      assert.equal(a.greeting.code, 220);
      assert.equal(b.greeting.code, 220);
      assert.match(c.greeting.text, /^421 4\.7\.0 .*too many connections, try again later$/);
      a.smtp.close();
      b.smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('refuses a message with a text line over max_text_line (554 5.6.0) and goes on', async () => {
    const gw = await startGateway({ listener: { max_text_line: 1000 } });
    try {
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO c');
      await smtp.command('MAIL FROM:<a@example.test>');
      await smtp.command('RCPT TO:<b@example.test>');
      await smtp.command('DATA');
      smtp.write(`Subject: long\r\n\r\n${'x'.repeat(998)}\r\n.\r\n`);
      assert.equal((await smtp.reply()).code, 250, 'exactly 1000 octets with CRLF is fine');
      await smtp.command('MAIL FROM:<a@example.test>');
      await smtp.command('RCPT TO:<b@example.test>');
      await smtp.command('DATA');
      smtp.write(`Subject: long\r\n\r\n${'x'.repeat(999)}\r\n.\r\n`);
      assert.match((await smtp.reply()).text, /^554 5\.6\.0 /);
      assert.equal((await smtp.command('NOOP')).code, 250);
      smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('stops gracefully on SIGTERM: running transactions finish, then 421', async () => {
    const gw = await startGateway();
    try {
      const idle = await RawSmtp.session(gw.port);
      await idle.smtp.command('EHLO idle');
      const busy = await RawSmtp.session(gw.port);
      await busy.smtp.command('EHLO busy');
      await busy.smtp.command('MAIL FROM:<a@example.test>');
      await busy.smtp.command('RCPT TO:<b@example.test>');
      await busy.smtp.command('DATA');
      busy.smtp.write('Subject: in flight\r\n\r\nfirst half\r\n');
      gw.process.kill('SIGTERM');
      assert.match((await idle.smtp.reply()).text, /^421 4\.3\.2 /);
      await idle.smtp.waitClosed();
      await new Promise((r) => setTimeout(r, 200));
      busy.smtp.write('second half\r\n.\r\n');
      assert.match((await busy.smtp.reply()).text, /^250 2\.0\.0 Ok: queued as /);
      assert.match((await busy.smtp.reply()).text, /^421 4\.3\.2 /);
      await busy.smtp.waitClosed();
      assert.equal(await gw.stop(), 0);
    } finally {
      await gw.kill();
      gw.cleanup();
    }
  });
});
