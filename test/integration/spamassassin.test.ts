/*
 * spamassassin against a real spamd (test/harness/services.ts), with swaks as
 * the client and the delivered Maildir copy as the proof: GTUBE rejected,
 * tagged (with and without a Subject prefix) and below a raised threshold, ham,
 * the sender's own X-Spam-* fields removed, a message above max_size skipped,
 * spamd over TCP and over its unix socket, trusted clients passed, spamd killed
 * (fail-open header, fail-closed 451), and a slow spamd timing out. The slow spamd is a tiny stand-in server in this
 * test that takes the request and never answers: a real spamd cannot be told
 * to stall.
 */
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { askSpamd, type SpamdCommand } from '../../plugins/spamassassin/client.js';
import { parseSymbols } from '../../plugins/spamassassin/response.js';
import { swaks } from '../harness/clients.js';
import { maildirFiles, makeMaildir, waitDone } from '../harness/delivery.js';
import { type Gateway, type LogLine, startGateway } from '../harness/gateway.js';
import { type SpamdService, startService } from '../harness/services.js';

/** Listener name -> the spamassassin options of its pipeline. */
const PIPELINES: Record<string, string> = {
  tag: 'subject_prefix: "[SPAM]"',
  plain: '{}',
  reject: 'reject: 15',
  high: 'tag: 2000',
  small: 'max_size: 1KB',
  closed: 'on_error: fail-closed',
  trusted: 'skip_trusted: true',
  socket: '{}',
};

describe('spamassassin with a real spamd', () => {
  let spamd: SpamdService;
  let gw: Gateway;
  let dir: string;
  let mail: string;
  let slow: Server;
  const slowSockets: Socket[] = [];
  const ports: Record<string, number> = {};

  before(async () => {
    spamd = await startService('spamd');
    // allowHalfOpen: it keeps the connection open after the request, as a stalled spamd does.
    slow = createServer({ allowHalfOpen: true }, (socket) => {
      slowSockets.push(socket);
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowPort = (slow.address() as { port: number }).port;
    dir = mkdtempSync(join(tmpdir(), 'qgate-spam-'));
    mail = join(dir, 'mail');
    for (const user of ['bob', 'carol']) makeMaildir(mail, 'example.test', user);
    const rcpthosts = `
      - use: rcpthosts
        with:
          domains: [example.test]`;
    const entry = (options: string, server = `host: 127.0.0.1\n          port: ${spamd.port}`) => `${rcpthosts}
      - use: spamassassin
        with:
          ${server}
          ${options === '{}' ? '' : options}`;
    const names = [...Object.keys(PIPELINES), 'slow', 'slowclosed'];
    const extraListeners = names
      .slice(1)
      .map((n) => `\n  - name: ${n}\n    address: 127.0.0.1\n    port: 0\n    pipeline: ${n}`)
      .join('');
    const slowServer = `host: 127.0.0.1\n          port: ${slowPort}\n          timeout: 1s`;
    const extraPipelines = [
      ...Object.entries(PIPELINES)
        .slice(1)
        .map(([n, o]) =>
          n === 'socket'
            ? `\n  ${n}:\n    plugins:${entry(o, `socket: ${spamd.socket}`)}`
            : n === 'trusted'
              ? `\n  ${n}:\n    plugins:\n      - use: relay\n        with:\n          clients: [127.0.0.1]${entry(o)}`
              : `\n  ${n}:\n    plugins:${entry(o)}`,
        ),
      `\n  slow:\n    plugins:${entry('{}', slowServer)}`,
      `\n  slowclosed:\n    plugins:${entry('on_error: fail-closed', slowServer)}`,
    ].join('');
    gw = await startGateway({
      dir,
      plugins: entry(PIPELINES.tag!),
      extraListeners,
      extraPipelines,
      delivery: '\n  local_domains: [example.test]\n  maildir_root: ./mail',
    });
    ports.tag = gw.port;
    for (const n of names.slice(1)) ports[n] = await gw.portOf(n);
  });

  after(async () => {
    await gw?.stop();
    gw?.cleanup();
    for (const s of slowSockets) s.destroy();
    slow?.close();
    await spamd?.close();
  });

  const sample = (name: 'gtube' | 'ham') => readFileSync(spamd.samples[name], 'latin1');

  /** Sends `message` with swaks to bob on the listener; the transcript and the queue id if queued. */
  async function sendTo(listener: string, message: string, to = 'bob@example.test') {
    const file = join(dir, `msg-${Math.random().toString(36).slice(2)}.eml`);
    writeFileSync(file, message.replace(/\r?\n/g, '\r\n'));
    const r = await swaks(ports[listener]!, ['--from', 'sender@example.org', '--to', to, '--data', `@${file}`]);
    const id = /queued as (\S+)/.exec(r.transcript)?.[1];
    return { ...r, id };
  }

  /** The copy delivered to `user` for queue id `id`, as the mail client reads it. */
  async function delivered(id: string, user = 'bob'): Promise<string> {
    await waitDone(gw, id);
    const copy = maildirFiles(mail, 'example.test', user)
      .map((f) => readFileSync(f, 'latin1'))
      .find((text) => text.includes(`id ${id}`));
    assert.ok(copy, `no delivered copy of ${id}`);
    return copy;
  }

  /** The header section of a delivered copy, unfolded, as [name, value] pairs. */
  function fields(copy: string): [string, string][] {
    // Maildir copies have LF line ends.
    const text = copy.replace(/\r\n/g, '\n');
    const head = text.slice(0, text.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
    return head.split('\n').map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
  }
  const all = (copy: string, name: string) =>
    fields(copy)
      .filter(([n]) => n.toLowerCase() === name.toLowerCase())
      .map(([, v]) => v);

  function verdictLine(id: string): Promise<LogLine> {
    return gw.waitForLog((l) => l.scanner === 'spamassassin' && l.queueId === id, 10_000);
  }

  it('the client speaks every command to the real spamd: PING, CHECK, SYMBOLS, REPORT, PROCESS', async () => {
    const address = { host: '127.0.0.1', port: spamd.port };
    const file = spamd.samples.gtube;
    const message = { size: statSync(file).size, stream: () => createReadStream(file) };
    const ask = (command: SpamdCommand) =>
      askSpamd(address, { command, ...(command === 'PING' ? {} : { message }), timeoutMs: 20_000, maxResponse: 65536 });
    const ping = await ask('PING');
    assert.equal(ping.message, 'PONG');
    const check = await ask('CHECK');
    assert.equal(check.verdict?.spam, true);
    assert.equal(check.body.length, 0);
    assert.ok(parseSymbols((await ask('SYMBOLS')).body).includes('GTUBE'));
    assert.match((await ask('REPORT')).body.toString(), /GTUBE/);
    const processed = (await ask('PROCESS')).body.toString('latin1');
    assert.match(processed, /^X-Spam-Flag: YES$/m);
    assert.ok(processed.includes('GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL'));
    const user = await askSpamd(address, { command: 'CHECK', message, user: 'nobody', timeoutMs: 20_000, maxResponse: 65536 });
    assert.equal(user.code, 0);
  });

  it('GTUBE is tagged: X-Spam-Flag, X-Spam-Score, X-Spam-Status and the Subject prefix in the Maildir copy', async () => {
    const r = await sendTo('tag', sample('gtube'));
    assert.equal(r.code, 0, r.transcript);
    const copy = await delivered(r.id!);
    // GTUBE is 1000 points; the rules about our Received field add a little either way.
    const line = await verdictLine(r.id!);
    assert.equal(line.result, 'spam');
    const score = (line.score as number).toFixed(1);
    assert.ok((line.score as number) >= 990, score);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), ['YES']);
    assert.deepEqual(all(copy, 'X-Spam-Score'), [score]);
    const [status] = all(copy, 'X-Spam-Status');
    assert.match(status!, new RegExp(`^Yes, score=${score} required=5\\.0 tests=.*GTUBE`));
    assert.deepEqual(all(copy, 'Subject'), ['[SPAM] Test spam mail (GTUBE)']);
    // Our fields follow the gateway's Received field; the client's header section follows them.
    const names = fields(copy).map(([n]) => n);
    assert.ok(names.indexOf('Received') < names.indexOf('X-Spam-Flag'), names.join());
    assert.ok(names.indexOf('X-Spam-Status') < names.indexOf('From'), names.join());
    assert.equal(typeof line.ms, 'number');
    const record = await gw.waitForLog((l) => l.queueId === r.id && Array.isArray(l.decisions), 10_000);
    const decision = (record.decisions as { plugin: string; reason?: string }[]).find((d) => d.plugin === 'spamassassin');
    assert.equal(decision?.reason, `spam score=${score} required=5.0`);
  });

  it("over spamd's unix socket: GTUBE is tagged", async () => {
    const r = await sendTo('socket', sample('gtube'));
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), ['YES']);
    assert.equal((await verdictLine(r.id!)).result, 'spam');
  });

  it('GTUBE without a Subject prefix keeps its Subject', async () => {
    const r = await sendTo('plain', sample('gtube'));
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'Subject'), ['Test spam mail (GTUBE)']);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), ['YES']);
  });

  it('GTUBE above the reject threshold: 550 5.7.1, not queued', async () => {
    const r = await sendTo('reject', sample('gtube'));
    assert.match(r.transcript, /<\*\* +550 5\.7\.1 Message content rejected as spam/);
    assert.equal(r.id, undefined);
    const line = await gw.waitForLog((l) => l.scanner === 'spamassassin' && l.result === 'reject', 10_000);
    assert.ok((line.score as number) >= 990);
  });

  it('GTUBE below a raised tag threshold: X-Spam-Status No, no flag', async () => {
    const r = await sendTo('high', sample('gtube'));
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), []);
    assert.match(all(copy, 'X-Spam-Status')[0]!, /^No, score=\d{4}\.\d required=2000\.0 tests=.*GTUBE/);
  });

  it('ham gets X-Spam-Status No and keeps its Subject', async () => {
    const r = await sendTo('tag', sample('ham'));
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), []);
    assert.deepEqual(all(copy, 'X-Spam-Score'), []);
    assert.match(all(copy, 'X-Spam-Status')[0]!, /^No, score=-?\d+\.\d required=5\.0 tests=/);
    assert.equal(all(copy, 'Subject')[0]?.startsWith('[SPAM]'), false);
    assert.equal((await verdictLine(r.id!)).result, 'ham');
  });

  it("the sender's own X-Spam-* fields are removed, folded lines and all: no spoofed clean verdict", async () => {
    const spoofed = sample('gtube').replace(
      'Subject:',
      'X-Spam-Status: No, score=-100.0 required=5.0\n\ttests=SPOOFED_CLEAN\nX-Spam-Flag: NO\nx-spam-score: -100\nSubject:',
    );
    const r = await sendTo('plain', spoofed);
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), ['YES']);
    assert.match(all(copy, 'X-Spam-Score')[0]!, /^\d{4}\.\d$/);
    assert.equal(all(copy, 'X-Spam-Status').length, 1);
    assert.ok(!copy.includes('SPOOFED_CLEAN') && !copy.includes('-100'), copy);
    // The body is untouched.
    assert.ok(copy.includes('XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'));
  });

  it('a message above max_size is not sent to spamd and is marked skipped', async () => {
    const big = sample('gtube').replace('This is the GTUBE', `${'filler line of text\n'.repeat(100)}This is the GTUBE`);
    const r = await sendTo('small', big);
    const copy = await delivered(r.id!);
    assert.match(all(copy, 'X-Spam-Status')[0]!, /^skipped \(\d+ octets over max_size 1024\)$/);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), []);
    assert.equal((await verdictLine(r.id!)).result, 'skipped');
  });

  it('a trusted client (relay allowed) passes unscanned and untouched', async () => {
    const r = await sendTo('trusted', sample('gtube').replace('Subject:', 'X-Spam-Flag: NO\nSubject:'));
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), ['NO']);
    assert.deepEqual(all(copy, 'X-Spam-Status'), []);
  });

  it('a slow spamd: after timeout the message is accepted with X-Spam-Status unchecked and a warning', async () => {
    const t0 = performance.now();
    const r = await sendTo('slow', sample('gtube'));
    assert.equal(r.code, 0, r.transcript);
    assert.ok(performance.now() - t0 >= 1000, 'waited for the timeout');
    const copy = await delivered(r.id!);
    assert.deepEqual(all(copy, 'X-Spam-Status'), ['unchecked (spamd unavailable)']);
    const warning = await verdictLine(r.id!);
    assert.equal(warning.level, 'warn');
    assert.match(String(warning.error), /within 1000 ms/);
  });

  it('a slow spamd with on_error fail-closed: 451 4.7.1, not queued', async () => {
    const r = await sendTo('slowclosed', sample('ham'));
    assert.match(r.transcript, /<\*\* +451 4\.7\.1 Spam scanner unavailable, try again later/);
    assert.equal(r.id, undefined);
  });

  it('spamd killed: fail-open delivers with X-Spam-Status unchecked; fail-closed answers 451', async () => {
    await spamd.kill();
    const open = await sendTo('plain', sample('gtube'));
    assert.equal(open.code, 0, open.transcript);
    const copy = await delivered(open.id!);
    assert.deepEqual(all(copy, 'X-Spam-Status'), ['unchecked (spamd unavailable)']);
    assert.deepEqual(all(copy, 'X-Spam-Flag'), []);
    const warning = await verdictLine(open.id!);
    assert.equal(warning.level, 'warn');
    assert.match(String(warning.error), /ECONNREFUSED/);
    const closed = await sendTo('closed', sample('ham'));
    assert.match(closed.transcript, /<\*\* +451 4\.7\.1 /);
    assert.equal(closed.id, undefined);
  });
});
