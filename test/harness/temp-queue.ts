/*
 * A FileQueue of its own in a temporary directory, for the unit tests of what
 * reads and acts on a queue, and messages committed to it the way a session
 * commits them (spool, finish, commit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelope, type Envelope } from '../../core/model/index.js';
import { FileQueue } from '../../core/queue/file-queue.js';
import { newQueueId } from '../../core/queue/queue.js';

export interface TempQueue {
  readonly queue: FileQueue;
  /** Commits `message` for `recipients` (default one) and gives back its envelope. */
  commit(message: string | Buffer, recipients?: readonly string[]): Promise<Envelope>;
  /** Closes the queue and deletes its directory. */
  remove(): Promise<void>;
}

export async function openTempQueue(prefix: string): Promise<TempQueue> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const queue = new FileQueue(join(dir, 'queue'));
  await queue.open();
  return {
    queue,
    async commit(message, recipients = ['rcpt@dest.test']) {
      const id = newQueueId();
      const spool = queue.createSpool(id);
      if (message.length) spool.write(Buffer.from(message));
      await spool.finish();
      const envelope = createEnvelope({
        id,
        received: new Date(),
        sender: 'sender@origin.test',
        recipients: [...recipients],
        size: spool.size,
        client: { address: '127.0.0.1', port: 1, helo: 'client.test' },
        listener: 'test',
      });
      await spool.commit(envelope);
      return envelope;
    },
    async remove() {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
