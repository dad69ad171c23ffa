/*
 * DATA end to end: dot-stuffing round trip, the Received header, every SMTP
 * smuggling sequence under both smtpd_forbid_bare_newline policies, and bare
 * LF in commands. The queue on disk is the witness.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { queuedIds, readQueued, tmpFiles } from '../harness/queue.js';
import { openTransaction, RawSmtp } from '../harness/smtp.js';

const SMUGGLING = ['\n.\n', '\r\n.\n', '\n.\r\n', '\r.\r\n', '\r.\n', '\n.\r'];

function queueIdOf(text: string): string {
  const m = /queued as ([0-9A-Z]{15})/.exec(text);
  assert.ok(m, `no queue id in ${text}`);
  return m[1]!;
}

describe('DATA with the default policy (smtpd_forbid_bare_newline: reject)', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('round-trips dot-stuffed lines byte for byte', async () => {
    const smtp = await openTransaction(gw.port);
    assert.equal((await smtp.command('DATA')).code, 354);
    const lines = ['Subject: dots', '', '.', '..', '...', '.leading', 'middle . dot', '. space', ''];
    const stuffed = lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');
    smtp.write(`${stuffed}\r\n.\r\n`);
    const id = queueIdOf((await smtp.reply()).text);
    const stored = readQueued(gw.queueDir, id);
    assert.equal(stored.content.toString('latin1'), `${lines.join('\r\n')}\r\n`);
    smtp.close();
  });

  it('stores an empty message and a message without a final line end correctly', async () => {
    const smtp = await openTransaction(gw.port);
    await smtp.command('DATA');
    smtp.write('.\r\n');
    const id = queueIdOf((await smtp.reply()).text);
    assert.equal(readQueued(gw.queueDir, id).content.length, 0);
    smtp.close();
  });

  it('prepends a Received header with client, helo, protocol, id and the single recipient', async () => {
    const smtp = await openTransaction(gw.port, 'a@example.test', 'only@example.test');
    await smtp.command('DATA');
    smtp.write('Subject: trace\r\n\r\nbody\r\n.\r\n');
    const id = queueIdOf((await smtp.reply()).text);
    const { received, envelope } = readQueued(gw.queueDir, id);
    assert.match(
      received,
      new RegExp(
        `^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby mx\\.qgate\\.test \\(qgate\\) with ESMTP id ${id}\\r\\n\\tfor <only@example\\.test>; \\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\\r\\n$`,
      ),
    );
    assert.equal(envelope.sender, 'a@example.test');
    assert.deepEqual(
      envelope.recipients.map((r) => r.address),
      ['only@example.test'],
    );
    smtp.close();
  });

  it('streams a 5 MiB message and stores it intact', async () => {
    const smtp = await openTransaction(gw.port);
    await smtp.command('DATA');
    const line = `${'0123456789'.repeat(7)}ab\r\n`;
    const body = Buffer.from(`Subject: big\r\n\r\n${line.repeat(Math.ceil((5 * 1024 * 1024) / line.length))}`);
    smtp.write(body);
    smtp.write('.\r\n');
    const id = queueIdOf((await smtp.reply(30_000)).text);
    assert.ok(readQueued(gw.queueDir, id).content.equals(body));
    smtp.close();
  });

  for (const seq of SMUGGLING) {
    it(`refuses ${JSON.stringify(seq)} with 550 5.5.2; the smuggled commands are never run`, async () => {
      const before = queuedIds(gw.queueDir).length;
      const smtp = await openTransaction(gw.port);
      assert.equal((await smtp.command('DATA')).code, 354);
      smtp.write(
        `Subject: smuggle\r\n\r\nfirst${seq}MAIL FROM:<evil@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n`,
      );
      const reply = await smtp.reply();
      assert.match(reply.text, /^550 5\.5\.2 Error: bare <(LF|CR)> received$/);
      await smtp.waitClosed();
      assert.equal(queuedIds(gw.queueDir).length, before, 'nothing was queued');
      assert.deepEqual(tmpFiles(gw.queueDir), []);
      const line = await gw.waitForLog((l) => l.event === 'message' && l.result === 'rejected' && /bare/.test(String(l.reason)));
      assert.match(String(line.reason), /smtpd_forbid_bare_newline = reject/);
    });
  }

  it('refuses a command line that ends in a bare LF and disconnects', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    smtp.write('EHLO lf.test\n');
    assert.match((await smtp.reply()).text, /^550 5\.5\.2 Error: bare <LF> received$/);
    await smtp.waitClosed();
  });
});

describe('DATA with smtpd_forbid_bare_newline: normalize', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ listener: { smtpd_forbid_bare_newline: 'normalize' } });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  for (const seq of SMUGGLING) {
    it(`keeps ${JSON.stringify(seq)} as content of one message, stored with CRLF`, async () => {
      const smtp = await openTransaction(gw.port);
      await smtp.command('DATA');
      smtp.write(`Subject: smuggle\r\n\r\nfirst${seq}MAIL FROM:<evil@example.test>\r\n.\r\nQUIT\r\n`);
      const id = queueIdOf((await smtp.reply()).text);
      assert.equal((await smtp.reply()).code, 221, 'QUIT after the real end of data is a command again');
      const content = readQueued(gw.queueDir, id).content.toString('latin1');
      assert.ok(content.includes('MAIL FROM:<evil@example.test>'), 'the smuggled command is message content');
      assert.doesNotMatch(content.replace(/\r\n/g, ''), /[\r\n]/, 'no bare CR or LF is stored');
    });
  }

  it('accepts commands ending in a bare LF', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    smtp.write('EHLO lf.test\n');
    assert.equal((await smtp.reply()).code, 250);
    smtp.close();
  });
});
