/*
 * The clamav plugin against a real, private clamd (test/services/start-clamd.sh: EICAR and a
 * marker signature, offline), with swaks as the client and the delivered Maildir copy read
 * back: EICAR plain and in a base64 attachment, the marker, clean mail, reject / tag /
 * quarantine (with `qgate quarantine`), TCP and the unix socket, the size limit, clamd killed
 * mid-run (451, nothing queued, accepted once it is back) and fail-open. The slow scanner is a
 * stand-in (a TCP server that accepts and never answers): a real clamd cannot be made slow at will.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { smtplibSend, swaks } from '../harness/clients.js';
import { copiesOf, maildirFiles, makeMaildir, waitDone } from '../harness/delivery.js';
import { type Gateway, runCli, startGateway } from '../harness/gateway.js';
import { queuedIds } from '../harness/queue.js';
import { type ClamdService, startService } from '../harness/services.js';

let clamd: ClamdService;
let gw: Gateway;
let dir: string;
let mail: string;
/** The stand-in for a clamd that accepts and never answers. */
let silent: Server;
const held: Socket[] = [];

/** A message whose whole body is `body`, marked so its Maildir copy can be found. */
function message(marker: string, body: string): string {
  return `From: mallory@example.org\r\nTo: bob@example.test\r\nSubject: ${marker}\r\nMessage-ID: <${marker}@example.org>\r\n\r\n${body}\r\n`;
}

function sample(path: string, marker: string): string {
  // The samples' Subject becomes the marker, so each test finds its own copy.
  return readFileSync(path, 'utf8')
    .replace(/^Subject: .*$/m, `Subject: ${marker}`)
    .replace(/\r?\n/g, '\r\n');
}

/** Sends `data` through swaks to the listener `listener`; returns the exit code and the transcript. */
async function sendTo(listener: string, data: string): Promise<{ code: number | null; transcript: string }> {
  const file = join(dir, `msg-${Math.random().toString(36).slice(2)}.eml`);
  writeFileSync(file, data);
  return swaks(await gw.portOf(listener), ['--from', 'mallory@example.org', '--to', 'bob@example.test', '--data', file]);
}

function queuedId(transcript: string): string {
  const m = /queued as (\w+)/.exec(transcript);
  assert.ok(m, transcript);
  return m[1]!;
}

/** The delivered copy containing `marker` (waits for the delivery of `id`). */
async function delivered(id: string, marker: string): Promise<string> {
  await waitDone(gw, id);
  assert.equal(copiesOf(mail, 'example.test', 'bob', marker), 1, `one copy of ${marker}`);
  const file = maildirFiles(mail, 'example.test', 'bob').find((f) => readFileSync(f, 'latin1').includes(marker));
  return readFileSync(file!, 'latin1');
}

/** The notice in postmaster's Maildir that names queue id `id`. */
function noticeFor(id: string): string {
  const files = maildirFiles(mail, 'example.test', 'postmaster').filter((f) => readFileSync(f, 'utf8').includes(id));
  assert.equal(files.length, 1, `one notice about ${id}`);
  return readFileSync(files[0]!, 'utf8');
}

function listener(name: string, pipeline: string): string {
  return `
  - name: ${name}
    address: 127.0.0.1
    port: 0
    pipeline: ${pipeline}`;
}

function pipeline(name: string, clamavWith: string): string {
  return `
  ${name}:
    plugins:
      - use: rcpthosts
        with:
          domains: [example.test]
      - use: clamav
        with:
${clamavWith
  .trim()
  .split('\n')
  .map((l) => `          ${l.trim()}`)
  .join('\n')}`;
}

before(async () => {
  clamd = await startService('clamd');
  silent = createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'qgate-clamav-'));
  mail = join(dir, 'mail');
  makeMaildir(mail, 'example.test', 'bob');
  makeMaildir(mail, 'example.test', 'postmaster');
  const tcp = `host: 127.0.0.1\nport: ${clamd.port}`;
  gw = await startGateway({
    dir,
    plugins: `
      - use: rcpthosts
        with:
          domains: [example.test]
      - use: clamav
        with:
          port: ${clamd.port}`,
    extraListeners: [
      listener('tag', 'tag'),
      listener('socket', 'socket'),
      listener('small', 'small'),
      listener('smallfail', 'smallfail'),
      listener('open', 'open'),
      listener('slow', 'slow'),
      listener('quarantine', 'quarantine'),
      listener('trusted', 'trusted'),
    ].join(''),
    extraPipelines: [
      pipeline('tag', `${tcp}\naction: tag`),
      pipeline('socket', `socket: ${clamd.socket}\nnotify: postmaster@example.test`),
      pipeline('small', `${tcp}\naction: tag\nmax_size: 2KB`),
      pipeline('smallfail', `${tcp}\nmax_size: 2KB\noversize: tempfail`),
      pipeline('open', `${tcp}\non_error: fail-open`),
      pipeline('slow', `port: ${silentPort}\ntimeout: 1500ms`),
      pipeline('quarantine', `${tcp}\naction: quarantine\nnotify: postmaster@example.test`),
      `
  trusted:
    plugins:
      - use: relay
        with:
          clients: [127.0.0.1]
      - use: clamav
        with:
          port: ${clamd.port}
          skip_trusted: true`,
    ].join(''),
    delivery: `
  local_domains: [example.test]
  maildir_root: ./mail`,
  });
});

after(async () => {
  await gw?.stop();
  gw?.cleanup();
  for (const socket of held) socket.destroy();
  silent?.close();
  await clamd?.close();
});

describe('clamav: verdicts of a real clamd', () => {
  it('delivers clean mail, unchanged but for our Received', async () => {
    const r = await sendTo('test', sample(clamd.samples.clean, 'clean-one'));
    assert.equal(r.code, 0, r.transcript);
    const copy = await delivered(queuedId(r.transcript), 'clean-one');
    assert.doesNotMatch(copy, /X-Virus-Status/);
    const scan = gw.logs.find((l) => l.event === 'scan' && l.result === 'clean');
    assert.ok(scan, 'the verdict is logged');
    assert.equal(scan.scanner, 'clamav');
    assert.equal(typeof scan.ms, 'number');
    assert.match(String(scan.queueId), /^[0-9A-Z]{15}$/);
  });

  it("drops a sender's own X-Virus-Status, so only the scanner's verdict is delivered", async () => {
    const spoofed = sample(clamd.samples.clean, 'spoofed-status').replace(
      /^Subject: /m,
      'X-Virus-Status: Clean\r\nX-virus-status: Infected (Fake)\r\nSubject: ',
    );
    const r = await sendTo('tag', spoofed);
    assert.equal(r.code, 0, r.transcript);
    const copy = await delivered(queuedId(r.transcript), 'spoofed-status');
    assert.doesNotMatch(copy, /X-Virus-Status/i);
  });

  const infected = [
    {
      name: 'EICAR as the body',
      data: () => message('eicar-plain', readFileSync(clamd.samples.eicar, 'latin1')),
      virus: /eicar/i,
    },
    {
      name: 'EICAR in a base64 MIME attachment',
      data: () => sample(clamd.samples.eicarAttachment, 'eicar-b64'),
      virus: /eicar/i,
    },
    { name: 'the marker signature', data: () => sample(clamd.samples.marker, 'marker-one'), virus: /QGate\.Test\.Marker-1/ },
  ];
  for (const { name, data, virus } of infected) {
    it(`rejects ${name} with 554 5.7.0 naming the virus, and queues nothing`, async () => {
      const before = queuedIds(gw.queueDir).length;
      const r = await sendTo('test', data());
      assert.notEqual(r.code, 0);
      const line = /<\*\* +(554 5\.7\.0 .*)/.exec(r.transcript);
      assert.ok(line, r.transcript);
      assert.match(line[1]!, virus);
      assert.equal(queuedIds(gw.queueDir).length, before);
      const log = await gw.waitForLog((l) => l.event === 'scan' && l.result === 'infected' && virus.test(String(l.virus)));
      assert.equal(log.action, 'reject');
    });
  }

  it('tags instead with action: tag, and the delivered copy carries the header', async () => {
    const r = await sendTo('tag', sample(clamd.samples.eicarAttachment, 'eicar-tagged'));
    assert.equal(r.code, 0, r.transcript);
    const copy = await delivered(queuedId(r.transcript), 'eicar-tagged');
    assert.match(copy, /^X-Virus-Status: Infected \(.*eicar.*\)$/im);
  });

  it('scans through the unix socket as well', async () => {
    const clean = await sendTo('socket', sample(clamd.samples.clean, 'socket-clean'));
    assert.equal(clean.code, 0, clean.transcript);
    const bad = await sendTo('socket', sample(clamd.samples.marker, 'socket-marker'));
    assert.match(bad.transcript, /<\*\* +554 5\.7\.0 .*QGate\.Test\.Marker-1/);
    // notify: the administrator hears of the rejected message through the queue.
    const notice = await gw.waitForLog((l) => l.event === 'notice');
    await waitDone(gw, String(notice.noticeId));
    const text = noticeFor(String(notice.queueId));
    assert.match(text, /^Subject: Virus found: QGate\.Test\.Marker-1/m);
    assert.match(text, /^Return-Path: <>$/m);
    assert.match(text, /Action: +rejected with 554 5\.7\.0/);
    assert.match(text, /Sender: +<mallory@example\.org>/);
  });
});

describe('clamav: trusted clients', () => {
  it('skip_trusted: mail from a client allowed to relay is not scanned', async () => {
    const r = await sendTo('trusted', sample(clamd.samples.marker, 'trusted-marker'));
    assert.equal(r.code, 0, r.transcript);
    const copy = await delivered(queuedId(r.transcript), 'trusted-marker');
    assert.doesNotMatch(copy, /X-Virus-Status/);
    assert.ok(gw.logs.some((l) => l.event === 'scan' && l.result === 'skipped' && l.why === 'trusted client'));
  });
});

describe('clamav: limits', () => {
  const big = () => message('big-one', `${'x'.repeat(70)}\r\n`.repeat(60));

  it('skips a message above max_size with a header (oversize: skip)', async () => {
    const r = await sendTo('small', big());
    assert.equal(r.code, 0, r.transcript);
    const copy = await delivered(queuedId(r.transcript), 'big-one');
    assert.match(copy, /^X-Virus-Status: Unscanned \(too large\)$/m);
  });

  it('answers 451 4.7.1 to one above max_size with oversize: tempfail', async () => {
    const r = await sendTo('smallfail', big().replace(/big-one/g, 'big-two'));
    assert.match(r.transcript, /<\*\* +451 4\.7\.1 /);
  });

  it('answers 451 4.7.1 when clamd accepts and never answers (timeout), within the time limit', async () => {
    const started = Date.now();
    const r = await sendTo('slow', sample(clamd.samples.clean, 'slow-one'));
    assert.match(r.transcript, /<\*\* +451 4\.7\.1 Virus scanner unavailable/);
    assert.ok(Date.now() - started < 10_000);
    const log = await gw.waitForLog((l) => l.event === 'scan' && l.failure === 'timeout');
    assert.equal(log.result, 'failed');
  });
});

describe('clamav: quarantine', () => {
  const cli = (...args: string[]) => runCli(['quarantine', ...args, '--config', gw.configFile]);

  it('holds an infected message (250, not delivered); list, show, release and delete with qgate quarantine', async () => {
    const first = await sendTo('quarantine', sample(clamd.samples.eicarAttachment, 'held-one'));
    assert.equal(first.code, 0, first.transcript);
    const id = queuedId(first.transcript);
    const second = await sendTo('quarantine', sample(clamd.samples.marker, 'held-two'));
    const other = queuedId(second.transcript);
    const clean = await sendTo('quarantine', sample(clamd.samples.clean, 'held-clean'));
    await delivered(queuedId(clean.transcript), 'held-clean');
    assert.ok(!queuedIds(gw.queueDir).includes(id), 'a held message is not in the delivery queue');
    assert.equal(copiesOf(mail, 'example.test', 'bob', 'held-one'), 0);
    const log = await gw.waitForLog((l) => l.event === 'message' && l.queueId === id);
    assert.match(String(log.quarantined), /clamav: .*eicar/i);
    const notice = await gw.waitForLog((l) => l.event === 'notice' && l.queueId === id);
    await waitDone(gw, String(notice.noticeId));
    assert.match(noticeFor(id), /Action: +accepted and held in the quarantine \(qgate quarantine show \w+/);

    const list = await cli('list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id} .* from <mallory@example\\.org>  clamav: .*eicar`, 'im'));
    assert.match(list.stdout, new RegExp(`^${other} .*QGate\\.Test\\.Marker-1`, 'm'));
    const json = JSON.parse((await cli('list', '--json')).stdout) as { id: string; recipients: string[] }[];
    assert.deepEqual(json.find((e) => e.id === id)?.recipients, ['bob@example.test']);

    const show = await cli('show', id, '--body');
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^quarantined: clamav: .*eicar/im);
    assert.match(show.stdout, /Subject: held-one/);

    const release = await cli('release', id);
    assert.equal(release.code, 0, release.stderr);
    const copy = await delivered(id, 'held-one');
    assert.match(copy, /^X-Virus-Status: Infected \(.*eicar.*\)$/im, 'released mail is delivered as it would have been');

    const deleted = await cli('delete', other);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await cli('list')).stdout, 'quarantine is empty\n');
    const again = await cli('release', other);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /no message .* in the quarantine/);
    assert.equal(copiesOf(mail, 'example.test', 'bob', 'held-two'), 0);
  });
});

describe('clamav: clamd fails', () => {
  it('killed mid-run: every message gets 250 (and is delivered once) or 451 4.7.1; retried once clamd is back, all are in', async () => {
    const load = smtplibSend(gw.port, { count: 40, first: 5000, threads: 4, to: ['bob@example.test'] });
    await load.answered(5);
    await clamd.kill();
    const results = await load.done;
    const failed = results.filter((m) => m.code !== 250);
    assert.ok(failed.length > 0, 'some messages met the dead clamd');
    for (const m of failed) assert.equal(m.code, 451, JSON.stringify(m));
    const refused = await sendTo('test', sample(clamd.samples.clean, 'down-one'));
    assert.match(refused.transcript, /<\*\* +451 4\.7\.1 Virus scanner unavailable/);
    const open = await sendTo('open', sample(clamd.samples.clean, 'down-open'));
    assert.equal(open.code, 0, open.transcript);
    const copy = await delivered(queuedId(open.transcript), 'down-open');
    assert.match(copy, /^X-Virus-Status: Unscanned \(unavailable\)$/m);
    assert.ok(gw.logs.some((l) => l.level === 'warn' && l.event === 'scan' && l.result === 'unscanned'));

    await clamd.restart();
    const accepted = results.filter((m) => m.code === 250).map((m) => m.id!);
    for (const m of failed) {
      // The client retries what got 451: now it is scanned and accepted.
      const [answer] = await smtplibSend(gw.port, { count: 1, first: m.n, to: ['bob@example.test'] }).done;
      assert.equal(answer!.code, 250, JSON.stringify(answer));
      accepted.push(answer!.id!);
    }
    const retried = await sendTo('test', sample(clamd.samples.clean, 'down-one'));
    assert.equal(retried.code, 0, retried.transcript);
    await delivered(queuedId(retried.transcript), 'down-one');
    for (const id of accepted) await waitDone(gw, id);
    // Nothing lost, nothing twice: each of the 40 is in the Maildir exactly once.
    for (let n = 5000; n < 5040; n++) {
      assert.equal(copiesOf(mail, 'example.test', 'bob', `<${n}@client.test>`), 1, `message ${n}`);
    }
  });
});
