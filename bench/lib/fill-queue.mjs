#!/usr/bin/env node
// Fills a qgate queue directory with N committed entries whose every recipient is
// deferred (next attempt DEFER_S seconds away), for bench/backlog.sh. Entries are made
// with the queue code of the qgate build at QGATE_ROOT (entry format, state format, and
// the hashed subdirectories when that build has them), so the queue is the one that
// version would have written. No fsync: this builds a test fixture, not mail.
// Usage: fill-queue.mjs QUEUE_DIR COUNT SIZE RECIPIENT
// Env:   QGATE_ROOT (default: this repository), DEFER_S (default 21600: six hours)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [queueDir, countArg, sizeArg, recipient] = process.argv.slice(2);
if (!queueDir || !countArg || !sizeArg || !recipient) {
  process.stderr.write('usage: fill-queue.mjs QUEUE_DIR COUNT SIZE RECIPIENT\n');
  process.exit(2);
}
const root = resolve(process.env.QGATE_ROOT ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const load = (path) => import(pathToFileURL(join(root, 'dist', 'core', path)).href);
const { envelopeTrailer } = await load('queue/entry-format.js');
const { serializeDeliveryState } = await load('queue/state-format.js');
const { newQueueId } = await load('queue/queue.js');
/** The subdirectory of an id in this build's layout ('' for the flat layout). */
const bucketOf = await load('queue/buckets.js').then(
  (m) => m.bucketOf,
  () => () => '',
);

const count = Number(countArg);
const size = Number(sizeArg);
const deferMs = Number(process.env.DEFER_S ?? 21_600) * 1000;
const line = `${'x'.repeat(76)}\r\n`;
const body = Buffer.from(`Subject: backlog\r\nFrom: <sender@bench.test>\r\n\r\n${line.repeat(Math.max(1, Math.ceil(size / line.length)))}`);
const now = Date.now();
const received = new Date(now - 3_600_000).toISOString();
const nextAttempt = new Date(now + deferMs).toISOString();
for (const dir of ['messages', 'state', 'tmp', 'quarantine']) mkdirSync(join(queueDir, dir), { recursive: true, mode: 0o700 });
const made = new Set();
for (let i = 0; i < count; i++) {
  const id = newQueueId(now - 3_600_000 + Math.floor(i / 1000));
  const bucket = bucketOf(id);
  if (!made.has(bucket)) {
    mkdirSync(join(queueDir, 'messages', bucket), { recursive: true, mode: 0o700 });
    mkdirSync(join(queueDir, 'state', bucket), { recursive: true, mode: 0o700 });
    made.add(bucket);
  }
  const envelope = {
    version: 1,
    id,
    received,
    sender: 'sender@bench.test',
    senderParameters: {},
    recipients: [{ address: recipient, parameters: {} }],
    size: body.length,
    utf8: false,
    body: '7BIT',
    client: { address: '127.0.0.1', port: 0, helo: 'fill.bench.test' },
    listener: 'bench',
    addedHeaders: [],
  };
  writeFileSync(join(queueDir, 'messages', bucket, `${id}.msg`), Buffer.concat([body, envelopeTrailer(JSON.stringify(envelope), body.length)]));
  const state = { version: 2, id, recipients: [{ address: recipient, status: 'pending', attempts: 1, nextAttempt }] };
  writeFileSync(join(queueDir, 'state', bucket, `${id}.json`), serializeDeliveryState(state));
}
process.stdout.write(`${count}\n`);
