/*
 * The scheduler's reads and removals of delivery state files, on a real file
 * queue delivering to real aiosmtpd peers: a message queued by this process
 * and delivered at its first attempt never had a state file, so none is read
 * or looked for at removal; one that was deferred has one, which is read and
 * removed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../core/config/load.js';
import type { Scheduler } from '../../core/delivery/scheduler.js';
import { createScheduler } from '../../core/delivery/setup.js';
import { createEnvelope, type DeliveryState } from '../../core/model/index.js';
import { FileQueue } from '../../core/queue/file-queue.js';
import { newQueueId } from '../../core/queue/queue.js';
import { type Peer, startPeer } from '../harness/peer.js';

/** A file queue that records which state files the scheduler asks for. */
class RecordingQueue extends FileQueue {
  readonly stateReads: string[] = [];
  readonly removals: { id: string; stateWritten: boolean | undefined }[] = [];

  override readState(id: string): Promise<DeliveryState | undefined> {
    this.stateReads.push(id);
    return super.readState(id);
  }

  override remove(id: string, options: { readonly stateWritten?: boolean } = {}): Promise<void> {
    this.removals.push({ id, stateWritten: options.stateWritten });
    return super.remove(id, options);
  }
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('delivery state files of messages queued by the running scheduler', () => {
  let dir: string;
  let accept: Peer;
  let tempfail: Peer;
  let queue: RecordingQueue;
  let scheduler: Scheduler;

  before(async () => {
    [accept, tempfail] = await Promise.all([startPeer('accept'), startPeer('tempfail-then-accept')]);
    dir = mkdtempSync(join(tmpdir(), 'qgate-sched-state-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      `hostname: qgate.origin.test
queue:
  path: ./queue
delivery:
  retry_base_remote: 1s
  routes:
    - { domain: now.test, host: 127.0.0.1, port: ${accept.port}, tls: none }
    - { domain: later.test, host: 127.0.0.1, port: ${tempfail.port}, tls: none }
listeners:
  - { name: test, address: 127.0.0.1, port: 0, pipeline: inbound }
pipelines:
  inbound:
    plugins: []
`,
    );
    const loaded = loadConfig(join(dir, 'config.yaml'));
    queue = new RecordingQueue(loaded.queuePath);
    await queue.open();
    scheduler = createScheduler(loaded, new Map(), queue, pino({ level: 'silent' }), () => ({}));
    await scheduler.start();
  });

  after(async () => {
    await scheduler?.stop();
    await queue?.close();
    await Promise.all([accept?.stop(), tempfail?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Queues a small message to `recipient` as a session would; returns its id. */
  async function enqueue(recipient: string): Promise<string> {
    const id = newQueueId();
    const spool = queue.createSpool(id);
    spool.write(Buffer.from('Subject: state files\r\n\r\nhello\r\n'));
    await spool.finish();
    await spool.commit(
      createEnvelope({
        id,
        received: new Date(),
        sender: 'sender@origin.test',
        recipients: [recipient],
        size: spool.size,
        client: { address: '127.0.0.1', port: 1, helo: 'client.test' },
        listener: 'test',
      }),
    );
    return id;
  }

  const gone = (id: string) => !existsSync(queue.entryPath(id));

  test('delivered at the first attempt: no state file read, none looked for at removal', async () => {
    const id = await enqueue('r@now.test');
    await until(() => gone(id), `${id} delivered and removed`, 30_000);
    assert.deepEqual(
      queue.stateReads.filter((x) => x === id),
      [],
    );
    assert.deepEqual(
      queue.removals.filter((r) => r.id === id),
      [{ id, stateWritten: false }],
    );
  });

  test('deferred, then delivered: its state file is read at the retry and removed with the entry', async () => {
    const id = await enqueue('r@later.test');
    // The state file may live for only a moment when the retry is due by the time it is written.
    await until(() => gone(id), `${id} delivered at the retry and removed`, 30_000);
    assert.match(tempfail.log(), /DATA deferred/);
    assert.ok(queue.stateReads.includes(id), 'the retry read the state file');
    assert.deepEqual(
      queue.removals.filter((r) => r.id === id),
      [{ id, stateWritten: true }],
    );
    // The entry goes first, its state file right after (queue.remove): wait for both.
    await until(() => !existsSync(queue.statePath(id)), `${id}'s state file removed`);
  });
});
