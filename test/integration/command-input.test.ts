/*
 * Bytes in command lines, sent exactly with a raw socket: a bare CR inside a
 * command closes the session with 550 under either smtpd_forbid_bare_newline
 * policy, a CR right before CRLF is tolerated (as Postfix does), and a
 * command that is not UTF-8 gets 500 5.5.2 and is never acted on, SMTPUTF8
 * or not; the session goes on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { queuedIds } from '../harness/queue.js';
import { RawSmtp } from '../harness/smtp.js';

for (const policy of ['reject', 'normalize'] as const) {
  describe(`bare CR in a command (smtpd_forbid_bare_newline: ${policy})`, () => {
    let gw: Gateway;
    before(async () => {
      gw = await startGateway({ listener: { smtpd_forbid_bare_newline: policy } });
    });
    after(async () => {
      await gw.stop();
      gw.cleanup();
    });

    const injections: Array<[string, string]> = [
      ['a header smuggled into EHLO', 'EHLO evil\rX-Injected: yes\r\n'],
      ['a second command behind a CR', 'NOOP\rRSET\r\n'],
      ['a CR inside a MAIL path', 'MAIL FROM:<a\r@example.test>\r\n'],
    ];
    for (const [why, line] of injections) {
      it(`refuses ${why} with 550 5.5.2 and closes`, async () => {
        const { smtp } = await RawSmtp.session(gw.port);
        if (line.startsWith('MAIL')) await smtp.command('EHLO client.test');
        smtp.write(line);
        assert.equal((await smtp.reply()).text, '550 5.5.2 Error: bare <CR> received');
        await smtp.waitClosed();
      });
    }

    it('takes a CR right before CRLF as the line end ("QUIT\\r\\r\\n")', async () => {
      const { smtp } = await RawSmtp.session(gw.port);
      smtp.write('EHLO client.test\r\r\n');
      assert.equal((await smtp.reply()).lines[0], '250-mx.qgate.test');
      smtp.write('MAIL FROM:<a@example.test>\r\r\n');
      assert.equal((await smtp.reply()).text, '250 2.1.0 Ok');
      smtp.write('QUIT\r\r\n');
      assert.equal((await smtp.reply()).text, '221 2.0.0 Bye');
      await smtp.waitClosed();
    });
  });
}

describe('commands that are not UTF-8', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  // Each got 250 and all three were stored in one mailbox folder named "\ufffd\ufffd".
  const localParts: Array<[string, number[]]> = [
    ['0xff 0xfe (never in UTF-8)', [0xff, 0xfe]],
    ['an overlong "/" (0xc0 0xaf)', [0xc0, 0xaf]],
    ['a UTF-16 surrogate (0xed 0xa0 0x80)', [0xed, 0xa0, 0x80]],
  ];
  for (const [why, local] of localParts) {
    it(`refuses the recipient ${why} with 500 5.5.2 under SMTPUTF8, and the session goes on`, async () => {
      const before = queuedIds(gw.queueDir).length;
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('MAIL FROM:<a@example.test> SMTPUTF8')).code, 250);
      smtp.write(Buffer.concat([Buffer.from('RCPT TO:<'), Buffer.from(local), Buffer.from('@example.test>\r\n')]));
      assert.equal((await smtp.reply()).text, '500 5.5.2 Error: bad UTF-8 syntax');
      // Nothing was accepted: DATA has no recipient.
      assert.equal((await smtp.command('DATA')).text, '503 5.5.1 Error: need RCPT command');
      assert.equal((await smtp.command('RCPT TO:<jörg@example.test>')).text, '250 2.1.5 Ok', 'valid UTF-8 still works');
      assert.equal((await smtp.command('RSET')).code, 250);
      smtp.close();
      assert.equal(queuedIds(gw.queueDir).length, before);
    });
  }

  it('refuses a sender, a HELO name and a verb that are not UTF-8', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    for (const line of ['EHLO caf\xe9.example\r\n', 'NO\xffOP\r\n']) {
      smtp.write(Buffer.from(line, 'latin1'));
      assert.equal((await smtp.reply()).text, '500 5.5.2 Error: bad UTF-8 syntax');
    }
    await smtp.command('EHLO client.test');
    smtp.write(Buffer.from('MAIL FROM:<\xc0\xaf@example.test> SMTPUTF8\r\n', 'latin1'));
    assert.equal((await smtp.reply()).text, '500 5.5.2 Error: bad UTF-8 syntax');
    assert.equal((await smtp.command('RCPT TO:<b@example.test>')).text, '503 5.5.1 Error: need MAIL command');
    smtp.close();
  });
});
