/*
 * Slow clients cannot hold a connection by trickling bytes: the idle timer
 * restarts on every byte, so a command line has a deadline from its first
 * byte (command_deadline) and DATA a minimum rate (min_data_rate), both
 * answered with 421 4.4.2 and a close. Clients that send at a normal pace,
 * with pauses shorter than the idle timeout, are never cut. Small configured
 * values keep the tests short; a raw socket does the trickling.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { queuedIds } from '../harness/queue.js';
import { openTransaction, RawSmtp } from '../harness/smtp.js';

/** Writes `text` one byte every `everyMs` (wrapping around) until stopped. */
function trickle(smtp: RawSmtp, text: string, everyMs: number): () => void {
  let i = 0;
  const timer = setInterval(() => {
    if (smtp.closed) return clearInterval(timer);
    smtp.write(text[i++ % text.length]!);
  }, everyMs);
  return () => clearInterval(timer);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('slow clients', () => {
  let gw: Gateway;
  before(async () => {
    // Bytes come every 250 ms, well inside the 1 s idle timeout: only the new limits can cut.
    gw = await startGateway({ listener: { timeout: '1s', command_deadline: '1s', min_data_rate: 1000 } });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('closes a command line trickled byte by byte at command_deadline (421 4.4.2)', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    const started = Date.now();
    const stop = trickle(smtp, 'EHLO a-very-slow-client.example.test', 250);
    try {
      const reply = await smtp.reply(5000);
      assert.equal(reply.text, '421 4.4.2 mx.qgate.test Error: command line not completed in time');
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 3000, `cut after ${took} ms`);
      await smtp.waitClosed(2000);
    } finally {
      stop();
    }
    await gw.waitForLog((l) => l.event === 'connection' && l.end === 'command deadline');
  });

  it('closes DATA that trickles below min_data_rate (421 4.4.2) and keeps nothing', async () => {
    const before = queuedIds(gw.queueDir).length;
    const smtp = await openTransaction(gw.port);
    assert.equal((await smtp.command('DATA')).code, 354);
    const started = Date.now();
    const stop = trickle(smtp, 'Subject: slow\r\n\r\nthis body arrives at 4 bytes a second\r\n', 250);
    try {
      const reply = await smtp.reply(5000);
      assert.equal(reply.text, '421 4.4.2 mx.qgate.test Error: message data too slow (under 1000 bytes/s)');
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 3000, `cut after ${took} ms`);
      await smtp.waitClosed(2000);
    } finally {
      stop();
    }
    const line = await gw.waitForLog((l) => l.event === 'message' && l.reason === 'data too slow');
    assert.equal(line.result, 'aborted');
    assert.equal(queuedIds(gw.queueDir).length, before);
  });

  it('never cuts a client that sends at a normal pace, with pauses inside the idle timeout', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    // A command line in two pieces, 600 ms apart (inside the 1 s deadline).
    smtp.write('EHLO client.');
    await sleep(600);
    smtp.write('test\r\n');
    assert.equal((await smtp.reply()).code, 250);
    await smtp.command('MAIL FROM:<a@example.test>');
    await smtp.command('RCPT TO:<b@example.test>');
    assert.equal((await smtp.command('DATA')).code, 354);
    // 200 KiB in 10 KiB pieces every 100 ms (100 KiB/s), with a 700 ms stall in the middle:
    // the bytes before it earned the stall back.
    const piece = `${'x'.repeat(1022)}\r\n`.repeat(10);
    for (let i = 0; i < 20; i++) {
      smtp.write(piece);
      await sleep(i === 10 ? 700 : 100);
    }
    smtp.write('.\r\n');
    assert.match((await smtp.reply()).text, /^250 2\.0\.0 Ok: queued as /);
    assert.equal((await smtp.command('QUIT')).code, 221);
  });
});
