/*
 * A queued message as delivery hands it on: a fresh stream of the entry's
 * bytes as delivered (core/message/delivered.ts: the fields plugins added go
 * after the Received field, the fields they removed are gone). A missing or damaged entry gives a stream that
 * fails, so the attempt defers instead of delivering an empty message. Reads
 * only; never a copy held in memory.
 */
import type { Readable } from 'node:stream';
import { deliveredMessage, missingMessage } from '../message/delivered.js';
import type { Envelope } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';

export function deliveredStream(queue: Pick<MessageQueue, 'readMessage'>, envelope: Envelope): Readable {
  const stored = queue.readMessage(envelope.id);
  return stored
    ? deliveredMessage(stored, envelope.addedHeaders, envelope.removedHeaders)
    : missingMessage(`queue entry ${envelope.id}`);
}
