/*
 * Delivery never repeats what it already did: a recipient whose mailbox
 * cannot be named (a "/" in the local part, from an alias or from mail
 * already queued) fails alone while the others get one copy; a delivery
 * state that cannot be written (a full queue disk) stops the message until
 * it is written, instead of delivering it again; and a recipient listed
 * twice, in two spellings or through aliases, gets one copy.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { copiesOf, deliveryLines, maildirFiles, send, waitDone } from '../harness/delivery.js';
import { type Gateway, REPO, runCli, startGateway } from '../harness/gateway.js';
import { type Peer, startPeer, storedMessages } from '../harness/peer.js';
import { queuedIds, writeQueued } from '../harness/queue.js';

/** The shipped default's way of finding mailboxes: any local part gets a Maildir. */
const CREATE_MAILBOXES = `
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`;

/** Waits until the first run of `id` is over, whichever way it ended. */
function firstRunOver(gw: Gateway, id: string) {
  return gw.waitForLog(
    (l) => l.queueId === id && (l.event === 'done' || l.event === 'bounce' || /delivery run failed/.test(l.msg)),
  );
}

/** The bounce of `id` as it reached the sender's Maildir. */
function bounceReport(mail: string, user: string, id: string): string {
  const file = maildirFiles(mail, 'example.test', user).find((f) =>
    readFileSync(f, 'latin1').includes(`X-Qgate-Queue-ID: ${id}`),
  );
  assert.ok(file, `no bounce of ${id} in the Maildir of ${user}`);
  return readFileSync(file, 'utf8');
}

describe('a recipient whose mailbox cannot be named', () => {
  it('an alias to "a/b" fails that recipient with 5.1.3; the other gets one copy, also after a flush', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-unsafe-'));
    const mail = join(dir, 'mail');
    writeFileSync(join(dir, 'aliases.yaml'), 'evil: a/b\n');
    // RCPT refuses evil@ now (its only target cannot be a mailbox), so the message is one
    // accepted before the alias was changed to this.
    const id = '0MWT707BG0038AI';
    writeQueued(
      join(dir, 'queue'),
      { id, sender: 'sender@example.test', recipients: ['victim@example.test', 'evil@example.test'] },
      'Subject: bomb\r\nMessage-ID: <bomb@client.test>\r\n\r\nonce\r\n',
    );
    const gw = await startGateway({ dir, delivery: `${CREATE_MAILBOXES}\n  aliases: aliases.yaml` });
    try {
      await firstRunOver(gw, id);
      // A flush makes every pending recipient due again: what was delivered must stay delivered.
      const flush = await runCli(['queue', 'flush', id, '--config', gw.configFile]);
      if (flush.code === 0) {
        await gw.waitForLog((l) => l.event === 'control' && l.id === id);
        await new Promise((r) => setTimeout(r, 1500));
      }
      assert.equal(copiesOf(mail, 'example.test', 'victim', '<bomb@client.test>'), 1, 'the victim got exactly one copy');
      const failed = deliveryLines(gw, id, 'evil@example.test');
      assert.equal(failed.length, 1, 'one attempt for the unsafe recipient');
      assert.equal(failed[0]!.result, 'failed');
      assert.match(String(failed[0]!.reply), /^550 5\.1\.3 /);
      const bounce = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
      assert.deepEqual(bounce.recipients, ['evil@example.test']);
      await waitDone(gw, id);
      await waitDone(gw, bounce.bounceId as string);
      const report = bounceReport(mail, 'sender', id);
      assert.match(report, /Status: 5\.1\.3/);
      assert.deepEqual(queuedIds(gw.queueDir), []);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('mail already queued for "a/b@" and "..@": those bounce, the victim gets one copy across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-unsafe-queued-'));
    const mail = join(dir, 'mail');
    const queue = join(dir, 'queue');
    const id = '0MWT707BG0038AI';
    writeQueued(
      queue,
      { id, sender: 'sender@example.test', recipients: ['victim@example.test', 'a/b@example.test', '..@example.test'] },
      'Subject: queued bomb\r\nMessage-ID: <queued-bomb@client.test>\r\n\r\nonce\r\n',
    );
    const config = { dir, delivery: CREATE_MAILBOXES };
    const gw = await startGateway(config);
    try {
      await firstRunOver(gw, id);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await gw.stop();
    }
    // A restart reads the delivery state back: what was delivered is not delivered again.
    const again = await startGateway(config);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(copiesOf(mail, 'example.test', 'victim', '<queued-bomb@client.test>'), 1, 'the victim got exactly one copy');
      assert.deepEqual(queuedIds(again.queueDir), [], 'the message is finished');
      const failed = [...gw.logs, ...again.logs].filter(
        (l) => l.event === 'delivery' && l.queueId === id && l.recipient !== 'victim@example.test',
      );
      assert.deepEqual(
        failed.map((l) => [l.recipient, l.result, String(l.reply).slice(0, 9)]),
        [
          ['a/b@example.test', 'failed', '550 5.1.3'],
          ['..@example.test', 'failed', '550 5.1.3'],
        ],
      );
    } finally {
      await again.stop();
      again.cleanup();
    }
  });
});

describe('a directory that is down', () => {
  it('defers its local recipient (never a 5.1.1 bounce); the remote one gets one copy', async () => {
    const peer = await startPeer('accept');
    // RCPT asks the same directory and gets 451 while it is down: the message is one
    // accepted before it went down.
    const dir = mkdtempSync(join(tmpdir(), 'qgate-directory-down-'));
    const id = '0MWT707BG0039AI';
    writeQueued(
      join(dir, 'queue'),
      { id, sender: 'a@example.org', recipients: ['alice@example.test', 'r@far.test'] },
      'Subject: directory down\r\n\r\nx\r\n',
    );
    const gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test, far.test]`,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(REPO, 'test', 'fixtures', 'plugins', 'down-directory.js')}`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]
  maildir_root: ./mail
  routes:
    - { domain: far.test, host: 127.0.0.1, port: ${peer.port}, tls: none }`,
    });
    try {
      const waitAttempts = (n: number) => gw.waitForLog(() => deliveryLines(gw, id, 'alice@example.test').length >= n, 10_000);
      await waitAttempts(1);
      await runCli(['queue', 'flush', id, '--config', gw.configFile]);
      await waitAttempts(2);
      for (const line of deliveryLines(gw, id, 'alice@example.test')) {
        assert.equal(line.result, 'deferred');
        assert.match(String(line.reply), /^451 4\.3\.0 directory lookup failed: .*ECONNREFUSED/);
      }
      assert.equal(deliveryLines(gw, id, 'r@far.test').length, 1);
      const stored = (await storedMessages(peer.store)).filter((m) => m.data.toString().includes('Subject: directory down'));
      assert.equal(stored.length, 1);
      assert.ok(queuedIds(gw.queueDir).includes(id), 'still queued for alice');
    } finally {
      await gw.stop();
      gw.cleanup();
      await peer.stop();
    }
  });
});

describe('a delivery state that cannot be written', () => {
  const isRoot = process.getuid?.() === 0;
  it('pauses the message, retries the write with backoff, and never delivers the delivered recipient again', {
    skip: !isRoot && 'needs root to mount a small tmpfs',
  }, async () => {
    const peer = await startPeer('accept');
    const dir = mkdtempSync(join(tmpdir(), 'qgate-fullstate-'));
    const queue = join(dir, 'queue');
    mkdirSync(queue);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', queue]);
    let gw: Gateway | undefined;
    try {
      gw = await startGateway({
        dir,
        plugins: `
      - use: rcpthosts
        with:
          domains: [accepted.test, closed.test]`,
        delivery: `
  routes:
    - { domain: accepted.test, host: 127.0.0.1, port: ${peer.port}, tls: none }
    - { domain: closed.test, host: 127.0.0.1, port: 9, tls: none }`,
      });
      // Leave one page: enough for the message, none for its delivery state.
      const fs = statfsSync(queue);
      writeFileSync(join(queue, 'filler'), Buffer.alloc(fs.bavail * fs.bsize - 4096));
      const id = await send(gw, 'a@example.org', ['good@accepted.test', 'bad@closed.test'], 'Subject: once\r\n\r\nx\r\n');
      const first = await gw.waitForLog((l) => l.level === 'error' && l.queueId === id && /delivery state/.test(l.msg));
      assert.match(first.msg, /free space on the queue disk/);
      // The write is retried on its own, with growing pauses.
      const retried = await gw.waitForLog(
        (l) => l.level === 'error' && l.queueId === id && /delivery state/.test(l.msg) && l !== first,
        10_000,
      );
      assert.ok((retried.retryInMs as number) > (first.retryInMs as number), 'the pause grows');
      // An administrator's flush while the disk is full delivers nothing.
      await runCli(['queue', 'flush', id, '--config', gw.configFile]);
      await gw.waitForLog((l) => l.event === 'control' && l.id === id);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(deliveryLines(gw, id, 'good@accepted.test').length, 1);

      // Room again; a flush writes the held state first, then tries the deferred recipient only.
      rmSync(join(queue, 'filler'));
      await runCli(['queue', 'flush', id, '--config', gw.configFile]);
      await gw.waitForLog((l) => l.queueId === id && /delivery state written/.test(l.msg));
      await gw.waitForLog(() => deliveryLines(gw!, id, 'bad@closed.test').length >= 2, 10_000).catch(() => undefined);
      assert.equal(deliveryLines(gw, id, 'bad@closed.test').length >= 2, true, 'the deferred recipient was tried again');
      const copies = (await storedMessages(peer.store)).filter((m) => m.data.toString().includes('Subject: once'));
      assert.equal(copies.length, 1, 'the delivered recipient got one copy');
      assert.equal(deliveryLines(gw, id, 'good@accepted.test').length, 1);
    } finally {
      await gw?.stop();
      execFileSync('umount', [queue]);
      rmSync(dir, { recursive: true, force: true });
      await peer.stop();
    }
  });
});

describe('a recipient listed more than once', () => {
  it('gets one copy per Maildir: the same RCPT twice, another case of the domain, aliases to the same user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-dupes-'));
    const mail = join(dir, 'mail');
    writeFileSync(join(dir, 'aliases.yaml'), 'a1: alice\na2: [alice, alice@example.test]\n');
    const gw = await startGateway({ dir, delivery: `${CREATE_MAILBOXES}\n  aliases: aliases.yaml` });
    try {
      const id = await send(
        gw,
        'sender@example.test',
        ['alice@example.test', 'alice@example.test', 'alice@EXAMPLE.TEST', 'a1@example.test', 'a2@example.test'],
        'Subject: dupes\r\nMessage-ID: <dupes@client.test>\r\n\r\nonce\r\n',
      );
      const done = await waitDone(gw, id);
      assert.equal(done.delivered, 5, 'every recipient counts as delivered');
      assert.equal(copiesOf(mail, 'example.test', 'alice', '<dupes@client.test>'), 1, 'alice got one copy');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('a remote destination gets each recipient once: domains compared without case, local parts with', async () => {
    const peer: Peer = await startPeer('accept');
    const gw = await startGateway({
      plugins: `
      - use: rcpthosts
        with:
          domains: [far.test]`,
      delivery: `
  routes:
    - { domain: far.test, host: 127.0.0.1, port: ${peer.port}, tls: none }`,
    });
    try {
      const id = await send(
        gw,
        'a@example.org',
        ['r@far.test', 'r@FAR.test', 'R@far.test', 'r@far.test'],
        'Subject: remote dupes\r\n\r\nx\r\n',
      );
      await waitDone(gw, id);
      const stored = (await storedMessages(peer.store)).filter((m) => m.data.toString().includes('Subject: remote dupes'));
      assert.equal(stored.length, 1);
      assert.deepEqual(stored[0]!.rcptTos, ['r@far.test', 'R@far.test']);
    } finally {
      await gw.stop();
      gw.cleanup();
      await peer.stop();
    }
  });
});
