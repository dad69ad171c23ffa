/*
 * The delivery engine end to end, with real peers: local Maildirs (checked
 * file by file), aliases and extensions, bounces parsed back with a MIME
 * parser, remote SMTP to aiosmtpd peers (451 then 250 without a duplicate,
 * 550 with a bounce, a dropped connection, STARTTLS), the route hook, queue
 * management while the gateway runs, a SIGKILL in the middle of deliveries, and a
 * delivery thread that dies.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { smtplibSend } from '../harness/clients.js';
import { deliveryLines, deliveryReport, maildirFiles, makeMaildir, send, waitDone } from '../harness/delivery.js';
import { type Gateway, REPO, runCli, startGateway } from '../harness/gateway.js';
import { type Peer, startPeer, storedMessages } from '../harness/peer.js';
import { queuedIds } from '../harness/queue.js';
import { openTransaction } from '../harness/smtp.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'plugins');

describe('local delivery', () => {
  let gw: Gateway;
  let dir: string;
  let mail: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-local-'));
    mail = join(dir, 'mail');
    makeMaildir(mail, 'example.test', 'alice');
    writeFileSync(
      join(dir, 'aliases.yaml'),
      'team: [alice, carol@example.net]\ninfo@example.test: alice\nlost: [nobody, alice]\nastray: [alice, nobody]\n',
    );
    gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test, example.net]`,
      delivery: `
  local_domains: [example.test]
  maildir_root: ./mail
  aliases: aliases.yaml
  postmaster: alice@example.test
  routes:
    - { domain: example.net, host: 127.0.0.1, port: 9, tls: none }
  retry_base_remote: 1h`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('delivers into the Maildir with Return-Path and Delivered-To, file by file', async () => {
    const before = maildirFiles(mail, 'example.test', 'alice').length;
    const id = await send(gw, 'sender@example.org', ['alice@example.test'], 'Subject: local\r\n\r\nline one\r\n..dotted\r\n');
    await waitDone(gw, id);
    const files = maildirFiles(mail, 'example.test', 'alice');
    assert.equal(files.length, before + 1);
    const text = readFileSync(files.find((f) => readFileSync(f, 'utf8').includes('Subject: local'))!, 'utf8');
    assert.match(text, /^Return-Path: <sender@example\.org>\nDelivered-To: alice@example\.test\nReceived: from client\.test/);
    assert.ok(text.endsWith('\n\nline one\n.dotted\n'), 'LF line ends, dot-unstuffed');
    assert.deepEqual(readdirSync(join(mail, 'example.test', 'alice', 'Maildir', 'tmp')), []);
    assert.ok(!queuedIds(gw.queueDir).includes(id), 'the entry is removed once delivered');
  });

  it('user-ext@ falls back to user@, aliases and abuse@ reach the right mailbox', async () => {
    const before = maildirFiles(mail, 'example.test', 'alice').length;
    for (const rcpt of ['alice-news@example.test', 'alice+tag@example.test', 'info@example.test', 'abuse@example.test']) {
      await waitDone(gw, await send(gw, 'sender@example.org', [rcpt], `Subject: to ${rcpt}\r\n\r\nx\r\n`));
    }
    const files = maildirFiles(mail, 'example.test', 'alice');
    assert.equal(files.length, before + 4);
    const delivered = files.map((f) => /Delivered-To: (.*)/.exec(readFileSync(f, 'utf8'))![1]);
    assert.ok(delivered.includes('alice@example.test'));
  });

  // An unknown recipient itself is refused at RCPT (recipients.test.ts); an alias with one
  // deliverable target is accepted, and the target that does not exist bounces at delivery.
  // The report carries the failed target's reply, whichever place it has in the alias.
  for (const alias of ['lost', 'astray']) {
    it(`an alias target that does not exist is bounced to the sender with an RFC 3464 report (${alias})`, async () => {
      const before = maildirFiles(mail, 'example.test', 'alice').length;
      const id = await send(
        gw,
        'alice@example.test',
        [`${alias}@example.test`],
        `Subject: ${alias}\r\nMessage-ID: <${alias}@example.test>\r\n\r\nbody\r\n`,
      );
      const bounce = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
      await waitDone(gw, bounce.bounceId as string);
      const files = maildirFiles(mail, 'example.test', 'alice');
      assert.equal(files.length, before + 2, 'the copy for alice, then the bounce');
      const raw = readFileSync(files.find((f) => readFileSync(f, 'utf8').includes(`X-Qgate-Queue-ID: ${id}`))!);
      assert.match(raw.toString(), /^Return-Path: <>$/m, 'a bounce has the null sender');
      assert.match(raw.toString(), new RegExp(`Message-ID: <${alias}@example\\.test>`), 'the original headers come back');
      const report = await deliveryReport(raw);
      assert.equal(report.contentType, 'multipart/report');
      assert.deepEqual(
        report.recipients.map((r) => [r['Final-Recipient'], r.Action, r.Status, r['Diagnostic-Code']]),
        [
          [
            `rfc822; ${alias}@example.test`,
            'failed',
            '5.1.1',
            'smtp; 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in local recipient table',
          ],
        ],
      );
      const line = deliveryLines(gw, id, `${alias}@example.test`)[0]!;
      assert.equal((line.targets as string[]).length, 2, 'the log has the reply of each target');
    });
  }

  it('a remote alias target that cannot be reached stays queued, visible in queue list', async () => {
    const id = await send(gw, 'sender@example.org', ['team@example.test']);
    const line = await gw.waitForLog(
      (l) => l.event === 'delivery' && l.result === 'deferred' && String(l.recipient) === 'carol@example.net',
    );
    assert.match(String(line.reply), /^4/);
    const list = await runCli(['queue', 'list', '--config', gw.configFile]);
    assert.match(list.stdout, /to <carol@example\.net> {2}pending, 1 attempt, next \S+, last: 4\d\d/);
    void id;
  });

  it('queue flush retries now and queue remove deletes, on the running gateway', async () => {
    const id = await send(gw, 'sender@example.org', ['dave@example.net']);
    await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id && l.result === 'deferred');
    const flush = await runCli(['queue', 'flush', id, '--config', gw.configFile]);
    assert.match(flush.stdout, new RegExp(`^queue flush: 1 message, by the gateway \\(pid \\d+\\)\n${id}: still queued\n`));
    const deadline = Date.now() + 10_000;
    while (deliveryLines(gw, id).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(deliveryLines(gw, id).length, 2, 'flush made a second attempt at once');
    await new Promise((r) => setTimeout(r, 200));
    const show = await runCli(['queue', 'show', id, '--config', gw.configFile]);
    assert.match(show.stdout, /recipient: <dave@example\.net> {2}pending, 2 attempts/);
    const remove = await runCli(['queue', 'remove', id, '--config', gw.configFile]);
    assert.equal(remove.code, 0, remove.stderr);
    await gw.waitForLog((l) => l.event === 'removed' && l.queueId === id);
    assert.ok(!queuedIds(gw.queueDir).includes(id));
    const missing = await runCli(['queue', 'remove', id, '--config', gw.configFile]);
    assert.match(missing.stderr, /no message \w+ in the queue/);
  });
});

describe('remote delivery to real SMTP peers', () => {
  const peers: Record<string, Peer> = {};
  let gw: Gateway;
  let mail: string;
  before(async () => {
    for (const mode of ['tempfail-then-accept', 'reject-rcpt', 'drop-mid-data', 'starttls', 'accept'] as const)
      peers[mode] = await startPeer(mode);
    const dir = mkdtempSync(join(tmpdir(), 'qgate-remote-'));
    mail = join(dir, 'mail');
    makeMaildir(mail, 'example.test', 'alice');
    const route = (domain: string, peer: Peer, tls = 'none') =>
      `\n    - { domain: ${domain}, host: 127.0.0.1, port: ${peer.port}, tls: ${tls} }`;
    gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test, retry.test, reject.test, drop.test, tls.test, hooked.test]`,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(FIXTURES, 'route-table.js')}
        with:
          routes: { hooked.test: { host: 127.0.0.1, port: ${peers.accept!.port} } }`,
      delivery: `
  local_domains: [example.test]
  maildir_root: ./mail
  pipeline: delivery
  retry_base_remote: 1s
  routes:${route('retry.test', peers['tempfail-then-accept']!)}${route('reject.test', peers['reject-rcpt']!)}${route('drop.test', peers['drop-mid-data']!)}${route('tls.test', peers.starttls!, 'opportunistic')}`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
    await Promise.all(Object.values(peers).map((p) => p.stop()));
  });

  it('451 then 250: retried on schedule and delivered exactly once', async () => {
    const id = await send(gw, 'alice@example.test', ['bob@retry.test'], 'Subject: retry\r\n\r\nagain\r\n');
    const first = await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id && l.result === 'deferred');
    assert.match(String(first.reply), /451/);
    await waitDone(gw, id);
    const stored = await storedMessages(peers['tempfail-then-accept']!.store);
    assert.equal(stored.filter((m) => m.data.toString().includes('Subject: retry')).length, 1);
  });

  it('550 for one recipient: the other is delivered, the failed one bounces with the remote reply', async () => {
    const id = await send(
      gw,
      'alice@example.test',
      ['good@reject.test', 'bad-user@reject.test'],
      'Subject: partial\r\n\r\nx\r\n',
    );
    const bounce = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
    assert.deepEqual(bounce.recipients, ['bad-user@reject.test']);
    await waitDone(gw, bounce.bounceId as string);
    await waitDone(gw, id);
    const stored = await storedMessages(peers['reject-rcpt']!.store);
    const partial = stored.filter((m) => m.data.toString().includes('Subject: partial'));
    assert.equal(partial.length, 1);
    assert.deepEqual(partial[0]!.rcptTos, ['good@reject.test']);
    const dsnFile = maildirFiles(mail, 'example.test', 'alice').find((f) =>
      readFileSync(f, 'utf8').includes(`X-Qgate-Queue-ID: ${id}`),
    );
    assert.ok(dsnFile, 'the bounce reached the sender');
    const parsed = await simpleParser(readFileSync(dsnFile));
    assert.ok(parsed.attachments.length >= 1 || parsed.text, 'parsed by a MIME parser');
    const raw = readFileSync(dsnFile, 'utf8');
    assert.match(raw, /Final-Recipient: rfc822; ?bad-user@reject\.test/);
    assert.match(raw, /Diagnostic-Code: smtp; ?550 5\.1\.1/);
    assert.doesNotMatch(raw, /Final-Recipient: rfc822; ?good@reject\.test/);
  });

  it('a connection dropped mid-DATA defers; queue bounce on the running gateway bounces it', async () => {
    const id = await send(gw, 'alice@example.test', ['x@drop.test'], 'Subject: dropped\r\n\r\nx\r\n');
    const deferred = await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id && l.result === 'deferred');
    assert.match(String(deferred.reply), /^4/);
    const r = await runCli(['queue', 'bounce', id, '--config', gw.configFile]);
    assert.equal(r.code, 0, r.stderr);
    const bounce = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
    await waitDone(gw, bounce.bounceId as string);
    await waitDone(gw, id);
  });

  it('uses STARTTLS when the peer offers it', async () => {
    const id = await send(gw, 'alice@example.test', ['t@tls.test'], 'Subject: secret\r\n\r\nx\r\n');
    await waitDone(gw, id);
    const stored = (await storedMessages(peers.starttls!.store)).filter((m) => m.data.toString().includes('Subject: secret'));
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.tls, true);
  });

  it('a route plugin decides through the route hook', async () => {
    const id = await send(gw, 'alice@example.test', ['h@hooked.test'], 'Subject: hooked\r\n\r\nx\r\n');
    await waitDone(gw, id);
    const stored = (await storedMessages(peers.accept!.store)).filter((m) => m.data.toString().includes('Subject: hooked'));
    assert.equal(stored.length, 1);
  });
});

describe('crash during deliveries', () => {
  it('every recipient is delivered at least once after a SIGKILL', async () => {
    const peer = await startPeer('accept');
    const dir = mkdtempSync(join(tmpdir(), 'qgate-crashd-'));
    const config = {
      dir,
      listener: { max_connections_per_ip: 100 },
      plugins: `
      - use: rcpthosts
        with:
          domains: [far.test]`,
      delivery: `
  routes:
    - { domain: far.test, host: 127.0.0.1, port: ${peer.port}, tls: none }`,
    };
    const gw = await startGateway(config);
    try {
      const load = smtplibSend(gw.port, { count: 120, threads: 8, size: 2000, to: ['r@far.test'] });
      await gw.waitForLog((l) => l.event === 'delivery' && l.result === 'delivered');
      await load.answered(60);
      await gw.kill();
      await load.done;
      const acked = load.results.filter((r) => r.code === 250);
      const again = await startGateway(config);
      try {
        const deadline = Date.now() + 30_000;
        while (queuedIds(again.queueDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(queuedIds(again.queueDir), [], 'the queue drains after the restart');
        const stored = await storedMessages(peer.store);
        const seen = new Set(stored.map((m) => /Message-ID: <(\d+)@client\.test>/i.exec(m.data.toString())?.[1]));
        for (const r of acked)
          assert.ok(seen.has(String(r.n)), `message ${r.n} (queue id ${r.id}) was acknowledged but never delivered`);
      } finally {
        await again.stop();
      }
    } finally {
      await gw.kill();
      gw.cleanup();
      await peer.stop();
    }
  });
});

describe('remote connections waiting for the next message', () => {
  it('a burst to one destination leaves every connection it opened waiting (up to concurrency_per_domain), and the next burst reuses them', async () => {
    const peer = await startPeer('accept');
    const gw = await startGateway({
      plugins: `
      - use: rcpthosts
        with:
          domains: [burst.test]`,
      delivery: `
  concurrency_per_domain: 8
  routes:
    - { domain: burst.test, host: 127.0.0.1, port: ${peer.port}, tls: none }`,
    });
    try {
      const burst = async (first: number): Promise<void> => {
        const sent = await smtplibSend(gw.port, { count: 8, first, threads: 8, size: 500, to: ['r@burst.test'] }).done;
        await Promise.all(sent.map((m) => waitDone(gw, m.id!)));
      };
      await burst(0);
      const opened = (): number => peer.log().match(/\) session \d+$/gm)?.length ?? 0;
      const firstBurst = opened();
      // Deliveries that overlapped each had a connection of their own.
      assert.ok(firstBurst >= 3, `only ${firstBurst} connection(s) for 8 messages at once`);
      // All of them wait for the next message: none was QUIT (2 waited before, the rest paid a QUIT and a new connection).
      assert.doesNotMatch(peer.log(), />> b'QUIT'/);
      await burst(8);
      assert.equal((await storedMessages(peer.store)).length, 16);
      assert.ok(opened() - firstBurst <= 8 - firstBurst, `${opened() - firstBurst} new connection(s) for the second burst`);
    } finally {
      await gw.stop();
      gw.cleanup();
      await peer.stop();
    }
  });
});

describe('the delivery thread', () => {
  it('a delivery thread that dies ends the process with status 70, and the acknowledged message stays queued', async () => {
    const gw = await startGateway({
      plugins: `
      - use: rcpthosts
        with:
          domains: [crash.test]`,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(FIXTURES, 'thread-crash.js')}`,
      delivery: `
  pipeline: delivery`,
    });
    try {
      const id = await send(gw, 'a@example.org', ['x@crash.test']);
      const fatal = await gw.waitForLog((l) => l.event === 'delivery' && l.level === 'fatal');
      assert.match(fatal.msg as string, /delivery thread failed/);
      assert.match(JSON.stringify(fatal.err), /thrown outside every handler/);
      assert.equal(await gw.stop(), 70, 'exit status 70, as for an uncaught exception');
      assert.deepEqual(queuedIds(gw.queueDir), [id], 'the acknowledged message is still queued');
    } finally {
      await gw.kill();
      gw.cleanup();
    }
  });
});

describe('deliver and bounce hooks', () => {
  let gw: Gateway;
  let capture: string;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-hooks-'));
    capture = join(dir, 'captured');
    mkdirSync(capture);
    gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [captured.test, refused.test]
      - use: ${join(FIXTURES, 'stamp.js')}`,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(FIXTURES, 'deliver-capture.js')}
        with: { dir: ${JSON.stringify(capture)} }`,
      delivery: `
  pipeline: delivery`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('a plugin takes over delivery through the deliver hook, with the added headers', async () => {
    const id = await send(gw, 'a@example.org', ['x@captured.test'], 'Subject: captured\r\n\r\nbody\r\n');
    await waitDone(gw, id);
    const text = readFileSync(join(capture, `${id}.eml`), 'utf8');
    // The message as delivered: the Received field on top, the fields plugins added, then what the client sent.
    assert.match(
      text,
      /^Received: from client\.test[\s\S]*?\r\n(?![ \t])X-Stamp: scanned by stamp\r\nSubject: captured\r\n\r\nbody\r\n$/,
    );
  });

  it('a bounce returns the original as it was delivered, with the added headers', async () => {
    const id = await send(gw, 'sender@captured.test', ['x@refused.test'], 'Subject: refused\r\n\r\nbody\r\n');
    const bounce = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
    await waitDone(gw, bounce.bounceId as string);
    const raw = readFileSync(join(capture, `${bounce.bounceId}.eml`), 'utf8');
    const original = raw.slice(raw.indexOf('Content-Type: message/rfc822'));
    assert.match(
      original,
      /\r\n\r\nReceived: from client\.test[\s\S]*?\r\n(?![ \t])X-Stamp: scanned by stamp\r\nSubject: refused\r\n/,
    );
    assert.match(raw, /Diagnostic-Code: smtp; 550 5\.7\.1 refused by the capture plugin/);
  });

  it('the bounce hook can suppress a bounce; it is logged with the decision', async () => {
    const id = await send(gw, 'quiet@example.org', ['x@refused.test']);
    const line = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
    assert.equal(line.result, 'suppressed');
    assert.equal(line.reason, 'quiet sender');
    const [decision, ...more] = line.decisions as {
      plugin: string;
      hook: string;
      action: string;
      reason: string;
      code: number;
    }[];
    assert.deepEqual(more, []);
    assert.deepEqual(
      { ...decision, ms: 0 },
      { plugin: 'deliver-capture', hook: 'bounce', action: 'reject', reason: 'quiet sender', code: 550, ms: 0 },
    );
    await waitDone(gw, id);
  });

  it("a bounce the hook lets through is queued, with the plugin's note in its log line", async () => {
    const id = await send(gw, 'loud@example.org', ['x@refused.test']);
    const line = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
    assert.equal(line.msg, 'bounce queued');
    const decisions = line.decisions as { action: string; reason: string }[];
    assert.deepEqual(
      decisions.map((d) => [d.action, d.reason]),
      [['continue', 'bounce to loud@example.org let through']],
    );
    await waitDone(gw, id);
  });

  for (const [sender, what, reason] of [
    ['broken@example.org', 'throws', /bounce filter exploded/],
    [
      'garbage@example.org',
      'returns a reject with a 250 reply',
      /returned reject that needs a reply code between 400 and 599, got 250/,
    ],
  ] as const) {
    it(`a bounce hook that ${what} does not stop the bounce; the failure is logged with the plugin and hook`, async () => {
      const id = await send(gw, sender, ['x@refused.test']);
      const line = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
      assert.equal(line.msg, 'bounce queued');
      assert.equal(line.to, sender);
      const decisions = line.decisions as { plugin: string; action: string; reason: string }[];
      assert.equal(decisions.length, 1);
      assert.equal(decisions[0]!.action, 'error');
      assert.match(decisions[0]!.reason, reason);
      const error = await gw.waitForLog(
        (l) => l.level === 'error' && l.plugin === 'deliver-capture' && l.hook === 'bounce' && reason.test(l.msg),
      );
      assert.match(error.msg, /; the bounce is sent$/);
      await waitDone(gw, id);
    });
  }
});

describe('a full mailbox disk', () => {
  const isRoot = process.getuid?.() === 0;
  it('defers local delivery, loses nothing, and delivers once there is room', {
    skip: !isRoot && 'needs root to mount a small tmpfs',
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-fullmail-'));
    const mail = join(dir, 'mail');
    mkdirSync(mail);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mail]);
    try {
      makeMaildir(mail, 'example.test', 'alice');
      writeFileSync(join(mail, 'filler'), Buffer.alloc(500 * 1024));
      const gw = await startGateway({ dir, delivery: '\n  local_domains: [example.test]\n  maildir_root: ./mail' });
      try {
        const id = await send(
          gw,
          'a@example.org',
          ['alice@example.test'],
          `Subject: big\r\n\r\n${`${'y'.repeat(78)}\r\n`.repeat(400)}`,
        );
        const deferred = await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id);
        assert.equal(deferred.result, 'deferred');
        assert.match(String(deferred.reply), /^451 4\.2\.0 .*ENOSPC|^451 4\.2\.0/);
        assert.deepEqual(readdirSync(join(mail, 'example.test', 'alice', 'Maildir', 'new')), []);
        assert.deepEqual(readdirSync(join(mail, 'example.test', 'alice', 'Maildir', 'tmp')), [], 'no partial file left');
        assert.ok(queuedIds(gw.queueDir).includes(id), 'still queued');
        rmSync(join(mail, 'filler'));
        await runCli(['queue', 'flush', id, '--config', gw.configFile]);
        await waitDone(gw, id);
        assert.equal(maildirFiles(mail, 'example.test', 'alice').length, 1);
      } finally {
        await gw.stop();
      }
    } finally {
      execFileSync('umount', [mail]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mailboxes from the directory', () => {
  it('delivers to the Maildir the lookupUser hook names, and refuses users it does not know at RCPT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-dirbox-'));
    const box = join(dir, 'elsewhere', 'carol');
    const gw = await startGateway({
      dir,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(FIXTURES, 'mailbox-directory.js')}
        with:
          mailboxes: { "carol@example.test": ${JSON.stringify(box)}, "dan@example.test": ${JSON.stringify(join(dir, 'dan'))} }`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`,
    });
    try {
      const smtp = await openTransaction(gw.port, 'dan@example.test', 'carol@example.test');
      const refused = await smtp.command('RCPT TO:<eve@example.test>');
      assert.equal(
        refused.text,
        '550 5.1.1 <eve@example.test>: Recipient address rejected: User unknown in local recipient table',
        'the directory says eve does not exist, create_mailboxes or not',
      );
      assert.equal((await smtp.command('DATA')).code, 354);
      smtp.write('Subject: directory\r\n\r\nx\r\n.\r\n');
      const id = /queued as (\w+)/.exec((await smtp.reply()).text)![1]!;
      smtp.close();
      await waitDone(gw, id);
      assert.equal(readdirSync(join(box, 'new')).length, 1, "carol's Maildir is the directory's");
      assert.ok(!gw.logs.some((l) => l.event === 'bounce'), 'nothing to bounce');
      assert.ok(!existsSync(join(dir, 'mail', 'example.test', 'eve')), 'no Maildir was made for eve');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
