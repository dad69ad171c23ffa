/*
 * Commits one message into a file queue and says so on stdout, for a test that
 * watches the system calls of a commit under strace (queue-commit-sync.test.ts).
 * Usage: node commit-probe.js QUEUE_DIR directory|file
 */
import { writeSync } from 'node:fs';
import { createEnvelope } from '../../core/model/index.js';
import type { CommitSync } from '../../core/queue/commit-sync.js';
import { FileQueue } from '../../core/queue/file-queue.js';
import { newQueueId } from '../../core/queue/queue.js';

const [root, commitSync] = process.argv.slice(2) as [string, CommitSync];
const queue = new FileQueue(root, { groupCommit: true, commitSync });
await queue.open();
const id = newQueueId();
const spool = queue.createSpool(id);
spool.write(Buffer.from('Subject: probe\r\n\r\nbody\r\n'));
await spool.finish();
const client = { address: '127.0.0.1', port: 1, helo: 'probe.test' };
const envelope = { id, received: new Date(), sender: 'a@b.test', recipients: ['c@d.test'], client, listener: 'probe' };
await spool.commit(createEnvelope({ ...envelope, size: spool.size }));
// What a session would answer 250 on: written only once commit() resolved.
writeSync(1, `committed ${id}\n`);
await queue.close();
