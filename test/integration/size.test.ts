/*
 * The size plugin in a running gateway: SIZE in EHLO, declared SIZE= checked
 * at MAIL, and the octets actually sent checked by the core at the end of
 * data. What counts is the message as the client sent it after the 354,
 * dot-unstuffed, without the final ".", and without the Received header the
 * gateway adds (RFC 1870 6.1). One pipeline, three listeners: the plain
 * limit, a per-listener override in KB, and a listener without a limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { smtplibSend } from '../harness/clients.js';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { queuedIds, readQueued, tmpFiles } from '../harness/queue.js';
import { RawSmtp } from '../harness/smtp.js';

const LIMIT = 1000;
const BIG_LIMIT = 2048;

/**
 * A message of exactly `octets` octets as stored, and the bytes that carry it
 * after the 354. Most body lines start with a dot, so the wire form (stuffed)
 * is well over `octets`: only the unstuffed size may count.
 */
function message(octets: number): { content: string; wire: string } {
  let content = `From: <a@example.test>\r\nTo: <b@example.test>\r\nSubject: ${octets} octets\r\n\r\n`;
  while (octets - content.length > 100) content += `.${'x'.repeat(60)}\r\n`;
  const rest = octets - content.length;
  assert.ok(rest >= 2, 'room for a last line');
  content += `${'y'.repeat(rest - 2)}\r\n`;
  assert.equal(Buffer.byteLength(content), octets);
  return { content, wire: `${content.replace(/^\./gm, '..')}.\r\n` };
}

async function session(port: number): Promise<RawSmtp> {
  const { smtp } = await RawSmtp.session(port);
  assert.equal((await smtp.command('EHLO client.test')).code, 250);
  return smtp;
}

/** MAIL, RCPT and DATA in `smtp`, then `wire`; the reply to the end of data. */
async function send(smtp: RawSmtp, wire: string, mailParameters = ''): Promise<string> {
  assert.equal((await smtp.command(`MAIL FROM:<a@example.test>${mailParameters}`)).code, 250);
  assert.equal((await smtp.command('RCPT TO:<b@example.test>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(wire);
  return (await smtp.reply()).text;
}

describe('size plugin', () => {
  let gw: Gateway;
  let bigPort: number;
  let openPort: number;
  before(async () => {
    gw = await startGateway({
      plugins: `
      - use: size
        with:
          limit: ${LIMIT}
          listeners: { big: 2KB, open: 0 }
      - use: rcpthosts
        with:
          domains: [example.test]`,
      extraListeners: `
  - name: big
    address: 127.0.0.1
    port: 0
    pipeline: inbound
  - name: open
    address: 127.0.0.1
    port: 0
    pipeline: inbound`,
    });
    bigPort = (await gw.waitForLog((l) => l.event === 'listening' && l.listener === 'big')).port as number;
    openPort = (await gw.waitForLog((l) => l.event === 'listening' && l.listener === 'open')).port as number;
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('advertises SIZE with the limit of each listener, plain SIZE where there is none', async () => {
    for (const [port, keyword] of [
      [gw.port, `SIZE ${LIMIT}`],
      [bigPort, `SIZE ${BIG_LIMIT}`],
      [openPort, 'SIZE'],
    ] as const) {
      const { smtp } = await RawSmtp.session(port);
      const ehlo = await smtp.command('EHLO client.test');
      const sizeLines = ehlo.lines.filter((l) => /^250[- ]SIZE\b/.test(l)).map((l) => l.slice(4));
      assert.deepEqual(sizeLines, [keyword], ehlo.text);
      smtp.close();
    }
  });

  it('checks the declared SIZE= at MAIL: the limit itself passes, one more gets 552 5.3.4', async () => {
    const cases: { port: number; size: number; reply: string }[] = [
      { port: gw.port, size: LIMIT, reply: '250 2.1.0 Ok' },
      { port: gw.port, size: LIMIT + 1, reply: '552 5.3.4 Message size exceeds fixed maximum message size' },
      { port: bigPort, size: BIG_LIMIT, reply: '250 2.1.0 Ok' },
      { port: bigPort, size: BIG_LIMIT + 1, reply: '552 5.3.4 Message size exceeds fixed maximum message size' },
      { port: openPort, size: 10 ** 12, reply: '250 2.1.0 Ok' },
    ];
    for (const c of cases) {
      const smtp = await session(c.port);
      assert.equal((await smtp.command(`MAIL FROM:<a@example.test> SIZE=${c.size}`)).text, c.reply, `SIZE=${c.size}`);
      // A refused MAIL leaves no transaction: the client may try again at once.
      if (c.reply.startsWith('552')) assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 250);
      smtp.close();
    }
    const refused = await gw.waitForLog((l) => l.event === 'message' && l.result === 'rejected' && l.plugin === 'size');
    assert.match(String(refused.reason), /^declared SIZE=\d+ exceeds the \d+ octet limit of listener \w+$/);
  });

  it('counts the octets actually sent: exactly the limit is queued, one more is refused and the session goes on', async () => {
    const before = queuedIds(gw.queueDir).length;
    const smtp = await session(gw.port);

    const exact = message(LIMIT);
    assert.ok(exact.wire.length > LIMIT + 5, 'the dot-stuffed wire form is longer than the limit');
    const accepted = await send(smtp, exact.wire);
    assert.match(accepted, /^250 2\.0\.0 Ok: queued as /);
    const stored = readQueued(gw.queueDir, accepted.split(' ').pop()!);
    assert.equal(stored.content.toString('latin1'), exact.content, 'stored unstuffed, byte for byte');
    assert.ok(stored.envelope.size > LIMIT, 'the Received header the gateway adds does not count against the limit');

    // The client declares a small size and sends more: the core still counts.
    const over = await send(smtp, message(LIMIT + 1).wire, ' SIZE=500');
    assert.equal(over, '552 5.3.4 Error: message file too big');
    const refused = await gw.waitForLog((l) => l.event === 'message' && l.result === 'rejected' && l.reply === over);
    assert.equal(refused.reason, `message exceeds ${LIMIT} octets`);

    assert.match(await send(smtp, message(100).wire), /^250 2\.0\.0 Ok: queued as /, 'the session goes on');
    assert.equal(queuedIds(gw.queueDir).length, before + 2, 'nothing queued for the refused message');
    assert.deepEqual(tmpFiles(gw.queueDir), [], 'its spool file is gone');
    assert.equal((await smtp.command('QUIT')).code, 221);
  });

  it('a per-listener limit applies to the octets sent on that listener', async () => {
    const smtp = await session(bigPort);
    assert.match(await send(smtp, message(BIG_LIMIT).wire), /^250 2\.0\.0 Ok: queued as /);
    assert.equal(await send(smtp, message(BIG_LIMIT + 1).wire), '552 5.3.4 Error: message file too big');
    smtp.close();
    const open = await session(openPort);
    assert.match(await send(open, message(50_000).wire), /^250 2\.0\.0 Ok: queued as /, 'no limit on "open"');
    open.close();
  });

  it('Python smtplib sending a too-big message gets the 552', async () => {
    const [big] = await smtplibSend(gw.port, { count: 1, size: 3 * LIMIT }).done;
    assert.equal(big!.code, 552, JSON.stringify(big));
    assert.match(big!.error!, /^5\.3\.4 Error: message file too big/);
    const [small] = await smtplibSend(gw.port, { count: 1, size: LIMIT / 2 }).done;
    assert.equal(small!.code, 250, JSON.stringify(small));
  });
});
