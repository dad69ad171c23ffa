/*
 * The filtering gateway as it ships: contrib/filtering-gateway/config.yaml with
 * pipelines/filtering-gateway.yaml and its recipient lists, copied as they are
 * into a temporary tree with only ports, paths and service addresses changed,
 * in front of a real clamd, a real spamd and two aiosmtpd peers standing in for
 * the customers' mailstores. Ham reaches the right mailstore with its verdict
 * header (and without the sender's own), viruses and spam are refused, unknown
 * mailboxes, other domains and blacklisted HELO names are refused at once.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { swaks } from '../harness/clients.js';
import { type Gateway, REPO, startGateway } from '../harness/gateway.js';
import { type Peer, type StoredMessage, startPeer, storedMessages } from '../harness/peer.js';
import { type ClamdService, type SpamdService, startService } from '../harness/services.js';
import { RawSmtp } from '../harness/smtp.js';

const CONFIG = join('contrib', 'filtering-gateway', 'config.yaml');
const PIPELINE = join('pipelines', 'filtering-gateway.yaml');
const RECIPIENTS = join('contrib', 'filtering-gateway', 'recipients');

/** Replaces `from` by `to` exactly once: a shipped line that moved makes the test fail, not pass by accident. */
function substitute(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  assert.ok(at >= 0 && text.indexOf(from, at + 1) < 0, `expected exactly one "${from}" in the shipped file`);
  return text.replace(from, to);
}

describe('the shipped filtering gateway, end to end', () => {
  let clamd: ClamdService;
  let spamd: SpamdService;
  let storeA: Peer;
  let storeB: Peer;
  let gw: Gateway;
  let dir: string;

  before(async () => {
    [clamd, spamd, storeA, storeB] = await Promise.all([
      startService('clamd'),
      startService('spamd'),
      startPeer('accept'),
      startPeer('accept'),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'qgate-filtering-'));
    mkdirSync(join(dir, 'pipelines'));
    cpSync(join(REPO, RECIPIENTS), join(dir, RECIPIENTS), { recursive: true });
    let config = readFileSync(join(REPO, CONFIG), 'utf8');
    config = substitute(config, 'path: /var/lib/qgate/queue', `path: ${join(dir, 'queue')}`);
    config = substitute(config, 'address: 0.0.0.0\n    port: 25', 'address: 127.0.0.1\n    port: 0');
    config = substitute(config, 'port: 2580', 'port: 0');
    config = substitute(
      config,
      'host: mailstore.customer-a.example\n      port: 25',
      `host: 127.0.0.1\n      port: ${storeA.port}`,
    );
    for (const _ of [0, 1]) {
      const at = config.indexOf('host: mail.customer-b.example\n      port: 25');
      assert.ok(at >= 0);
      config = `${config.slice(0, at)}host: 127.0.0.1\n      port: ${storeB.port}${config.slice(at + 'host: mail.customer-b.example\n      port: 25'.length)}`;
    }
    writeFileSync(join(dir, CONFIG), config);
    let pipeline = readFileSync(join(REPO, PIPELINE), 'utf8');
    pipeline = substitute(pipeline, 'socket: /run/clamav/clamd.ctl', `socket: ${clamd.socket}`);
    pipeline = substitute(pipeline, 'host: 127.0.0.1\n      port: 783', `host: 127.0.0.1\n      port: ${spamd.port}`);
    writeFileSync(join(dir, PIPELINE), pipeline);
    // The gateway runs in the config's own directory, as the shipped layout has it.
    gw = await startGateway({ dir: join(dir, 'contrib', 'filtering-gateway'), configText: config });
  });

  after(async () => {
    await gw?.stop();
    gw?.cleanup();
    await Promise.all([clamd?.close(), spamd?.close(), storeA?.stop(), storeB?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const read = (file: string) => readFileSync(file, 'latin1');

  async function send(to: string[], message: string) {
    const file = join(dir, `msg-${Math.random().toString(36).slice(2)}.eml`);
    writeFileSync(file, message.replace(/\r?\n/g, '\r\n'));
    // swaks takes several recipients as one comma-separated --to.
    const args = ['--from', 'sender@elsewhere.example', '--to', to.join(','), '--data', `@${file}`];
    const r = await swaks(gw.port, args);
    return { ...r, id: /queued as (\S+)/.exec(r.transcript)?.[1] };
  }

  /** Waits until the mailstore holds a message with `marker`, and returns it. */
  async function arrival(store: Peer, marker: string, timeoutMs = 30_000): Promise<StoredMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (await storedMessages(store.store)).find((m) => m.data.includes(marker));
      if (found) return found;
      if (Date.now() > deadline) {
        const deliveries = JSON.stringify(gw.logs.filter((l) => l.component === 'delivery'));
        throw new Error(`no message with ${marker} at the mailstore: ${store.log()}\ndeliveries: ${deliveries}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const header = (data: Buffer, name: string) => {
    const head = data
      .toString('latin1')
      .split(/\r?\n\r?\n/)[0]!
      .replace(/\r?\n[ \t]+/g, ' ');
    return head
      .split(/\r?\n/)
      .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
      .map((l) => l.slice(name.length + 1).trim());
  };

  it("ham reaches each customer's mailstore with its spam verdict; the sender's own X-Spam-Flag is gone", async () => {
    const ham = read(spamd.samples.ham)
      .replace('Subject:', 'X-Spam-Flag: NO\nSubject:')
      .replace(/\n\n/, '\nX-Marker: e2e-ham\n\n');
    const r = await send(['alice@customer-a.example', 'carol@customer-b.example', 'x@sales.customer-b.example'], ham);
    assert.equal(r.code, 0, r.transcript);
    const [atA, atB] = await Promise.all([arrival(storeA, 'e2e-ham'), arrival(storeB, 'e2e-ham')]);
    assert.deepEqual(atA.rcptTos, ['alice@customer-a.example']);
    assert.deepEqual([...atB.rcptTos].sort(), ['carol@customer-b.example', 'x@sales.customer-b.example']);
    for (const copy of [atA, atB]) {
      assert.match(header(copy.data, 'X-Spam-Status')[0]!, /^No, score=-?\d+\.\d required=5\.0 tests=/);
      assert.deepEqual(header(copy.data, 'X-Spam-Flag'), []);
      assert.deepEqual(header(copy.data, 'X-Virus-Status'), []);
      assert.match(header(copy.data, 'Received')[0]!, new RegExp(`by mx1\\.isp\\.example \\(qgate\\) with ESMTP id ${r.id}`));
    }
    const verdicts = gw.logs.filter((l) => l.event === 'scan' && l.queueId === r.id).map((l) => `${l.scanner}:${l.result}`);
    assert.deepEqual(verdicts.sort(), ['clamav:clean', 'spamassassin:ham']);
  });

  it('a virus in a base64 attachment is refused with 554 5.7.0 naming it; spamd is not asked', async () => {
    const r = await send(['bob@customer-a.example'], read(clamd.samples.eicarAttachment));
    assert.match(r.transcript, /<\*\* +554 5\.7\.0 .*Eicar/i);
    assert.equal(r.id, undefined);
  });

  it('GTUBE (1000 points) is over the reject threshold of 15: 550 5.7.1', async () => {
    const r = await send(['info@customer-a.example'], read(spamd.samples.gtube));
    assert.match(r.transcript, /<\*\* +550 5\.7\.1 Message content rejected as spam/);
    assert.equal(r.id, undefined);
  });

  it("recipients are checked against each route's list at RCPT; other domains are no relay", async () => {
    const smtp = (await RawSmtp.session(gw.port)).smtp;
    await smtp.command('EHLO client.elsewhere.example');
    assert.equal((await smtp.command('MAIL FROM:<sender@elsewhere.example>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<nobody@customer-a.example>')).code, 550);
    assert.equal((await smtp.command('RCPT TO:<dave@customer-b.example>')).code, 550);
    assert.equal((await smtp.command('RCPT TO:<anyone@sales.customer-b.example>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<someone@not-a-customer.example>')).code, 554);
    smtp.close();
  });

  it('a blacklisted HELO name is refused before anything is scanned', async () => {
    const smtp = (await RawSmtp.session(gw.port)).smtp;
    const reply = await smtp.command('EHLO localhost');
    assert.equal(reply.code, 553);
    smtp.close();
  });
});
