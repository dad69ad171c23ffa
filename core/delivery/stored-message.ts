/*
 * The stored message as delivery hands it on: a fresh stream of the queue
 * entry's bytes with the header fields plugins added in front. A missing or
 * damaged entry gives a stream that fails, so the attempt defers instead of
 * delivering an empty message. Reads only; never a copy held in memory.
 */
import { PassThrough, Readable } from 'node:stream';
import type { Envelope } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';

/** The header fields plugins added in the message hook, as lines to put before the message. */
export function addedHeaders(env: Envelope): string {
  return env.addedHeaders.map((h) => `${h.name}: ${h.value}\r\n`).join('');
}

export function messageStream(queue: Pick<MessageQueue, 'readMessage'>, id: string, prefix: string): Readable {
  const source = queue.readMessage(id);
  if (!source) {
    return new Readable({
      read() {
        this.destroy(new Error(`queue entry ${id} is missing or damaged`));
      },
    });
  }
  if (!prefix) return source;
  const out = new PassThrough();
  out.write(prefix);
  source.on('error', (err) => out.destroy(err));
  source.pipe(out);
  return out;
}
