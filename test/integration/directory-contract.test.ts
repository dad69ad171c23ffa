/*
 * The directory contract end to end: two directories in a chain, where the
 * first fails (throws, or answers unavailable()) for some users the second
 * knows. A failure before a definite answer is a temporary failure of the
 * whole question: 451 4.3.0 at RCPT and 454 4.7.0 at AUTH (Python's smtplib),
 * a deferral in delivery with no bounce. A disabled account gets 550 5.1.1 at
 * RCPT, 535 at AUTH and 5.2.1 in delivery; forwards reach their targets.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copiesOf, deliveryLines } from '../harness/delivery.js';
import { type Gateway, REPO, run, runCli, startGateway } from '../harness/gateway.js';
import { type Peer, startPeer, storedMessages } from '../harness/peer.js';
import { queuedIds, writeQueued } from '../harness/queue.js';

const SCRIPTED = join(REPO, 'test', 'fixtures', 'plugins', 'scripted-directory.js');
const RCPT_PROBE = join(REPO, 'test', 'clients', 'rcpt_probe.py');
const AUTH_PROBE = join(REPO, 'test', 'clients', 'auth_probe.py');

/** The first directory fails for these; the second knows every user. */
const FIRST = { 'flaky@example.test': 'throw', 'down@example.test': 'unavailable' };
const SECOND = {
  'flaky@example.test': { address: 'flaky@example.test', password: 'pw' },
  'down@example.test': { address: 'down@example.test', password: 'pw' },
  'alice@example.test': { address: 'alice@example.test', password: 'pw' },
  'off@example.test': { address: 'off@example.test', enabled: false, password: 'pw' },
  'fwd@example.test': { address: 'fwd@example.test', forwards: ['far@far.test'], deliverLocally: false },
  'both@example.test': { address: 'both@example.test', forwards: ['alice@example.test'] },
  'nobody@example.test': null,
};

const directories = `
      - use: ${SCRIPTED}
        name: first
        with: { users: ${JSON.stringify(FIRST)} }
      - use: ${SCRIPTED}
        name: second
        with: { users: ${JSON.stringify(SECOND)} }`;

describe('the directory contract', () => {
  let gw: Gateway;
  let peer: Peer;
  let dir: string;
  const id = '0MWT707BG004AAK';
  before(async () => {
    peer = await startPeer('accept');
    dir = mkdtempSync(join(tmpdir(), 'qgate-directory-contract-'));
    // Queued as if RCPT had taken them before the outage: delivery must decide alone.
    writeQueued(
      join(dir, 'queue'),
      {
        id,
        sender: 'sender@far.test',
        recipients: ['down@example.test', 'flaky@example.test', 'off@example.test', 'fwd@example.test', 'both@example.test'],
      },
      'Subject: directory contract\r\n\r\nx\r\n',
    );
    gw = await startGateway({
      dir,
      plugins: `${directories}
      - use: auth
        with: { require_tls: false }
      - use: rcpthosts`,
      extraPipelines: `
  delivery:
    plugins:${directories}`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]
  maildir_root: ./mail
  retry_base_local: 1h
  routes:
    - { domain: far.test, host: 127.0.0.1, port: ${peer.port}, tls: none }`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
    await peer.stop();
  });

  it('RCPT: 451 4.3.0 when a directory fails before one answers, 550 5.1.1 for a disabled account', async () => {
    const recipients = [
      'down@example.test',
      'flaky@example.test',
      'alice@example.test',
      'off@example.test',
      'nobody@example.test',
    ];
    const r = await run('python3', [RCPT_PROBE, '--port', String(gw.port), '--from', 'a@far.test', '--', ...recipients]);
    assert.equal(r.code, 0, r.stderr);
    const replies = (JSON.parse(r.stdout) as { rcpt: { address: string; code: number; text: string }[] }).rcpt;
    const unknown = (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in local recipient table`;
    assert.deepEqual(Object.fromEntries(replies.map((x) => [x.address, `${x.code} ${x.text}`])), {
      'down@example.test': '451 4.3.0 <down@example.test>: Temporary lookup failure',
      'flaky@example.test': '451 4.3.0 <flaky@example.test>: Temporary lookup failure',
      'alice@example.test': '250 2.1.5 Ok',
      'off@example.test': unknown('off@example.test'),
      'nobody@example.test': unknown('nobody@example.test'),
    });
    // Each unavailable answer is a debug line; the plugin itself reports an outage once.
    const line = await gw.waitForLog((l) => l.plugin === 'first' && /unavailable in lookupUser/.test(String(l.msg)));
    assert.equal(line.level, 'debug');
  });

  it('AUTH: 454 4.7.0 when a directory is unavailable or throws, 535 5.7.8 for a disabled account', async () => {
    const auth = async (user: string) => {
      const r = await run('python3', [AUTH_PROBE, '--port', String(gw.port), '--user', user, '--password', 'pw']);
      assert.equal(r.code, 0, r.stderr);
      const { code, text } = JSON.parse(r.stdout) as { code: number; text: string };
      return `${code} ${text}`;
    };
    assert.equal(await auth('down@example.test'), '454 4.7.0 Temporary authentication failure');
    assert.equal(await auth('flaky@example.test'), '454 4.7.0 Temporary authentication failure');
    assert.equal(await auth('off@example.test'), '535 5.7.8 Error: authentication failed');
    assert.equal(await auth('alice@example.test'), '235 2.7.0 Authentication successful');
  });

  it('delivery: defers (no bounce) what a failing directory left open, fails a disabled account with 5.2.1, follows forwards', async () => {
    const line = (rcpt: string) =>
      gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id && l.recipient === rcpt, 20_000);
    for (const rcpt of ['down@example.test', 'flaky@example.test']) {
      const l = await line(rcpt);
      assert.equal(l.result, 'deferred', JSON.stringify(l));
      assert.match(String(l.reply), /^451 4\.3\.0 directory lookup failed: directory first unavailable in lookupUser/);
    }
    const off = await line('off@example.test');
    assert.equal(off.result, 'failed');
    assert.equal(off.reply, '550 5.2.1 <off@example.test>: Mailbox disabled, not accepting messages');
    assert.equal((await line('fwd@example.test')).result, 'delivered');
    assert.equal((await line('both@example.test')).result, 'delivered');

    const root = join(dir, 'mail');
    assert.equal(copiesOf(root, 'example.test', 'both', 'Subject: directory contract'), 1, 'both keeps its copy');
    assert.equal(copiesOf(root, 'example.test', 'alice', 'Subject: directory contract'), 1, 'and forwards one to alice');
    assert.equal(existsSync(join(root, 'example.test', 'fwd')), false, 'deliverLocally: false keeps no copy');
    for (const user of ['down', 'flaky']) assert.equal(existsSync(join(root, 'example.test', user)), false);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const stored = await storedMessages(peer.store);
      const forwarded = stored.filter((m) => m.data.toString().includes('Subject: directory contract'));
      if (forwarded.some((m) => m.rcptTos.includes('far@far.test'))) break;
      assert.ok(Date.now() < deadline, 'the forward reaches far@far.test');
      await new Promise((r) => setTimeout(r, 200));
    }
    // The deferred recipients stay pending; the only bounce is the disabled account's.
    assert.ok(queuedIds(gw.queueDir).includes(id), 'still queued for down@ and flaky@');
    const state = await runCli(['queue', 'show', id, '--config', gw.configFile]);
    assert.match(state.stdout, /<down@example\.test>\s+pending/);
    assert.match(state.stdout, /<flaky@example\.test>\s+pending/);
    const bounces = gw.logs.filter((l) => l.event === 'bounce');
    assert.ok(
      bounces.every((b) => !JSON.stringify(b).includes('down@example.test') && !JSON.stringify(b).includes('flaky@')),
      'no bounce names a deferred recipient',
    );
    assert.equal(deliveryLines(gw, id, 'down@example.test').length, 1, 'retried only after retry_base_local');
  });
});
