/*
 * A client that half-closes (shutdown(SHUT_WR) after its last command) gets
 * the replies to everything it sent before the FIN, then the close: the 250
 * for a message sent with ".\r\nQUIT\r\n" right before the FIN must not be
 * lost (the client would send the message again), and the log must not call
 * a queued message aborted. A FIN inside DATA keeps nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { queuedIds, readQueued, tmpFiles } from '../harness/queue.js';
import { openTransaction, type ParsedReply, RawSmtp } from '../harness/smtp.js';

/** Every reply until the server closes the connection. */
async function repliesUntilClosed(smtp: RawSmtp): Promise<ParsedReply[]> {
  const replies: ParsedReply[] = [];
  for (;;) {
    try {
      replies.push(await smtp.reply(5000));
    } catch (err) {
      if (smtp.closed) return replies;
      throw err;
    }
  }
}

describe('half-close: the replies to what came before the FIN', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  const messageLines = (id: string) => gw.logs.filter((l) => l.event === 'message' && l.queueId === id);

  it('answers the end of data and QUIT sent with the FIN, and logs the message once, as queued', async () => {
    const smtp = await openTransaction(gw.port);
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.socket.end('Subject: half-close\r\n\r\nbody\r\n.\r\nQUIT\r\n');
    const replies = await repliesUntilClosed(smtp);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 221],
      replies.map((r) => r.text).join(' | '),
    );
    const id = /queued as ([0-9A-Z]{15})/.exec(replies[0]!.text)![1]!;
    assert.equal(readQueued(gw.queueDir, id).content.toString(), 'Subject: half-close\r\n\r\nbody\r\n');
    const closed = await gw.waitForLog((l) => l.event === 'connection' && l.messages === 1 && l.end === 'quit');
    assert.ok(closed);
    assert.deepEqual(
      messageLines(id).map((l) => l.result),
      ['queued'],
    );
  });

  it('answers a pipelined batch sent with the FIN, without QUIT, then closes', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    smtp.socket.end(
      'EHLO client.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: batch\r\n\r\nx\r\n.\r\nNOOP\r\n',
    );
    const replies = await repliesUntilClosed(smtp);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 250, 354, 250, 250],
    );
    const id = /queued as ([0-9A-Z]{15})/.exec(replies[4]!.text)![1]!;
    assert.ok(queuedIds(gw.queueDir).includes(id));
  });

  it('keeps nothing when the FIN comes inside DATA, and says so once', async () => {
    const before = queuedIds(gw.queueDir).length;
    const smtp = await openTransaction(gw.port);
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.socket.end('Subject: cut off\r\n\r\nhalf a mess');
    assert.deepEqual(await repliesUntilClosed(smtp), []);
    const line = await gw.waitForLog((l) => l.event === 'message' && l.reason === 'connection closed during DATA');
    assert.equal(line.result, 'aborted');
    // A transaction that never queued has no queue id: its session tells its lines apart.
    assert.equal(line.queueId, undefined);
    assert.equal(gw.logs.filter((l) => l.event === 'message' && l.session === line.session).length, 1);
    assert.equal(queuedIds(gw.queueDir).length, before);
    // The spool file goes right after the log line; give the unlink a moment.
    for (let i = 0; i < 50 && tmpFiles(gw.queueDir).length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(tmpFiles(gw.queueDir), []);
  });

  it('drops a command line left unfinished by the FIN', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    smtp.socket.end('NOOP\r\nNOO');
    const replies = await repliesUntilClosed(smtp);
    assert.deepEqual(
      replies.map((r) => r.text),
      ['250 2.0.0 Ok'],
    );
  });
});
