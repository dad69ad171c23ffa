/*
 * Reading committed entries back from a real file queue: the envelope from one
 * read of the entry's tail (or a second one when the envelope is longer than
 * that), the message bytes from the descriptor the footer was read from (in one
 * read up to 64 KiB, streamed beyond); and
 * a damaged or truncated entry reads as no entry.
 */
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FileQueue } from '../../core/queue/file-queue.js';
import { openTempQueue, type TempQueue } from '../harness/temp-queue.js';

async function bytes(stream: Readable | undefined): Promise<Buffer> {
  assert.ok(stream, 'no stream');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('FileQueue reads committed entries', () => {
  let temp: TempQueue;
  let queue: FileQueue;
  const commit = async (message: Buffer, recipients: string[]) => (await temp.commit(message, recipients)).id;

  before(async () => {
    temp = await openTempQueue('qgate-queue-read-');
    queue = temp.queue;
  });

  after(() => temp.remove());

  const many = (n: number) => Array.from({ length: n }, (_, i) => `recipient-number-${i}@dest.test`);
  const cases = [
    { why: 'a small message and envelope: both in the one tail read', message: 'Subject: x\r\n\r\nhi\r\n', recipients: 1 },
    { why: 'an entry shorter than the tail read', message: 'x', recipients: 1 },
    { why: 'an empty message', message: '', recipients: 1 },
    { why: 'an envelope longer than the tail read: read on its own', message: 'Subject: x\r\n\r\nhi\r\n', recipients: 400 },
    {
      why: 'a message longer than the tail read, read at once',
      message: `Subject: x\r\n\r\n${'y'.repeat(30_000)}\r\n`,
      recipients: 3,
    },
    { why: 'a message longer than one read: streamed', message: `Subject: x\r\n\r\n${'y'.repeat(100_000)}\r\n`, recipients: 3 },
  ];
  for (const c of cases) {
    test(c.why, async () => {
      const message = Buffer.from(c.message);
      const recipients = many(c.recipients);
      const id = await commit(message, recipients);
      const env = await queue.envelope(id);
      assert.ok(env);
      assert.equal(env.id, id);
      assert.deepEqual(
        env.recipients.map((r) => r.address),
        recipients,
      );
      assert.deepEqual(await bytes(queue.readMessage(id)), message);
    });
  }

  test('a damaged footer or a truncated entry reads as no entry', async () => {
    const damaged = await commit(Buffer.from('Subject: x\r\n\r\nhi\r\n'), many(1));
    writeFileSync(queue.entryPath(damaged), 'not an entry at all, though long enough to hold a footer of its own');
    assert.equal(await queue.envelope(damaged), undefined);
    assert.equal(queue.readMessage(damaged), undefined);
    const truncated = await commit(Buffer.from('Subject: x\r\n\r\nhi\r\n'), many(400));
    truncateSync(queue.entryPath(truncated), 20);
    assert.equal(await queue.envelope(truncated), undefined);
    assert.equal(queue.readMessage(truncated), undefined);
    assert.equal(await queue.envelope('0000000000NOSUCH'.slice(0, 15)), undefined);
  });
});
