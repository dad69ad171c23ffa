/*
 * The scheduler with a backlog of deferred messages, on a real file queue:
 * one timer for all of them, start-up reads their states in batches and starts
 * no run for a message that is not due, a flush of the whole queue keeps at
 * most DUE_RUNS_IN_FLIGHT runs going, and a new commit is delivered while the
 * backlog is being walked.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../core/config/load.js';
import { DUE_RUNS_IN_FLIGHT, type Scheduler, WALK_READS_IN_FLIGHT } from '../../core/delivery/scheduler.js';
import { createScheduler } from '../../core/delivery/setup.js';
import type { DeliveryState, Envelope } from '../../core/model/index.js';
import { FileQueue } from '../../core/queue/file-queue.js';
import { newQueueId } from '../../core/queue/queue.js';
import { writeConfig } from '../harness/gateway.js';
import { writeQueued } from '../harness/queue.js';

const BACKLOG = 2500;
const HOUR = 3_600_000;

/** A file queue that counts what the scheduler reads: envelopes, and state reads at once. */
class CountingQueue extends FileQueue {
  envelopes = 0;
  statesReading = 0;
  mostStatesReading = 0;

  override async envelope(id: string) {
    this.envelopes++;
    return super.envelope(id);
  }

  override async readState(id: string): Promise<DeliveryState | undefined> {
    this.mostStatesReading = Math.max(this.mostStatesReading, ++this.statesReading);
    try {
      return await super.readState(id);
    } finally {
      this.statesReading--;
    }
  }
}

/** Timers armed and not yet fired or cleared, with their delays (setTimeout is patched for the test). */
function watchTimers() {
  const live = new Map<unknown, number>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const patchedSet = ((callback: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
    const handle: NodeJS.Timeout = realSet(
      (...a: unknown[]) => {
        live.delete(handle);
        callback(...a);
      },
      delay,
      ...args,
    );
    live.set(handle, delay ?? 0);
    return handle;
  }) as typeof setTimeout;
  globalThis.setTimeout = patchedSet;
  globalThis.clearTimeout = ((handle: NodeJS.Timeout | undefined) => {
    live.delete(handle);
    realClear(handle);
  }) as typeof clearTimeout;
  return {
    /** Armed timers at least `ms` away. */
    longerThan: (ms: number) => [...live.values()].filter((d) => d >= ms).length,
    restore() {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

describe('scheduler with a deferred backlog', () => {
  let dir: string;
  let queue: CountingQueue;
  let scheduler: Scheduler;
  let backlog: string[];
  let timers: ReturnType<typeof watchTimers>;
  const fresh = '0ZZZZZZZZ000001';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-backlog-'));
    const delivery = `
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true
  routes:
    - { domain: remote.test, host: 127.0.0.1, port: 9, tls: none }`;
    const loaded = loadConfig(writeConfig(dir, { delivery }));
    const queueDir = join(dir, 'queue');
    // Written as an earlier version left them (flat): open() moves them into their buckets.
    mkdirSync(join(queueDir, 'state'), { recursive: true });
    const received = new Date(Date.now() - HOUR);
    backlog = [];
    for (let i = 0; i < BACKLOG; i++) {
      const id = newQueueId(received.getTime() + i);
      backlog.push(id);
      writeQueued(
        queueDir,
        { id, sender: 's@example.test', recipients: ['far@remote.test'], received },
        'Subject: deferred\r\n\r\nx\r\n',
      );
      const state: DeliveryState = {
        version: 2,
        id,
        recipients: [
          {
            address: 'far@remote.test',
            status: 'pending',
            attempts: 3,
            nextAttempt: new Date(Date.now() + HOUR + (i % 97) * 60_000).toISOString(),
          },
        ],
      };
      writeFileSync(join(queueDir, 'state', `${id}.json`), JSON.stringify(state));
    }
    // One message due now, for a local mailbox.
    writeQueued(
      queueDir,
      { id: fresh, sender: 's@example.test', recipients: ['alice@example.test'] },
      'Subject: due\r\n\r\nx\r\n',
    );

    queue = new CountingQueue(queueDir);
    const report = await queue.open();
    assert.equal(report.messages, BACKLOG + 1);
    const log = pino({ level: 'silent' });
    timers = watchTimers();
    scheduler = createScheduler(loaded, new Map(), queue, log, () => ({}));
    await scheduler.start();
    await scheduler.walked();
  });

  after(async () => {
    await scheduler?.stop();
    timers?.restore();
    await queue?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('arms one timer for every deferred message, reads states in batches and runs only what is due', async () => {
    for (let i = 0; i < 200 && (await queue.has(fresh)); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await queue.has(fresh), false, 'the message that was due is delivered');
    assert.equal(timers.longerThan(HOUR / 2), 1, 'one timer for the earliest deferred message');
    assert.ok(queue.mostStatesReading <= WALK_READS_IN_FLIGHT, `${queue.mostStatesReading} states read at once`);
    assert.ok(queue.envelopes <= 3, `${queue.envelopes} envelopes read: runs started for messages not due`);
  });

  it('delivers a new commit while the backlog waits', async () => {
    const spool = queue.createSpool(newQueueId());
    spool.write(Buffer.from('Subject: new\r\n\r\nx\r\n'));
    await spool.finish();
    const received = new Date().toISOString();
    await spool.commit({
      version: 1,
      id: spool.id,
      received,
      sender: 's@example.test',
      senderParameters: {},
      recipients: [{ address: 'bob@example.test', parameters: {} }],
      size: spool.size,
      utf8: false,
      body: '7BIT',
      client: { address: '127.0.0.1', port: 0, helo: 'client.test' },
      listener: 'test',
      addedHeaders: [],
    } satisfies Envelope);
    await scheduler.idle(spool.id);
    assert.equal(await queue.has(spool.id), false, 'delivered and removed');
  });

  it('flushes the whole backlog with at most DUE_RUNS_IN_FLIGHT runs going', async () => {
    const running = (scheduler as unknown as { running: Map<string, unknown> }).running;
    let most = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, running.size);
    }, 1);
    const ids = await scheduler.flush();
    most = Math.max(most, running.size);
    assert.equal(ids.length, BACKLOG);
    await scheduler.idleAll(ids);
    clearInterval(sampler);
    assert.ok(most > 0 && most <= DUE_RUNS_IN_FLIGHT, `${most} runs at once`);
    // Every message had its attempt (port 9 refuses) and is deferred again, by the time idleAll resolved.
    for (const id of [backlog[0]!, backlog[BACKLOG - 1]!]) {
      const state = await queue.readState(id);
      assert.equal(state?.recipients[0]?.attempts, 4, `${id} was attempted once more`);
    }
  });
});
