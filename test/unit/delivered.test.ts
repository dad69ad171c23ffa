/*
 * The message as delivered: the fields plugins added go right after the
 * gateway's Received field, whatever the chunking of the stored bytes; on top
 * when there is no Received field; errors of the stored stream reach the reader.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { deliveredMessage, missingMessage } from '../../core/message/delivered.js';
import type { HeaderField } from '../../core/model/index.js';

const RECEIVED =
  'Received: from client.example ([192.0.2.7])\r\n\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI\r\n\tfor <u@example.net>; Mon, 23 Nov 2026 11:38:50 +0000\r\n';
const ADDED: HeaderField[] = [
  { name: 'X-Spam-Status', value: 'No, score=0.1' },
  { name: 'Authentication-Results', value: 'mx.example.net; spf=pass' },
];
const LINES = 'X-Spam-Status: No, score=0.1\r\nAuthentication-Results: mx.example.net; spf=pass\r\n';

async function read(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('latin1');
}

/** The stored bytes cut into pieces at the given offsets. */
function pieces(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text, 'latin1');
  const at = [0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  return at.slice(1).map((end, i) => bytes.subarray(at[i], end));
}

describe('deliveredMessage', () => {
  const cases: { why: string; stored: string; expect: string }[] = [
    {
      why: 'after the Received field, folded lines and all; the client header section follows unchanged',
      stored: `${RECEIVED}Subject: hi\r\nFrom: a@example.org\r\n\r\nbody\r\n`,
      expect: `${RECEIVED}${LINES}Subject: hi\r\nFrom: a@example.org\r\n\r\nbody\r\n`,
    },
    {
      why: 'a message without a header section (the client sent only a body)',
      stored: `${RECEIVED}\r\nbody\r\n`,
      expect: `${RECEIVED}${LINES}\r\nbody\r\n`,
    },
    { why: 'an empty message: the fields end it', stored: RECEIVED, expect: `${RECEIVED}${LINES}` },
    {
      why: 'the name is matched without case',
      stored: 'RECEIVED: by x\r\nSubject: s\r\n',
      expect: `RECEIVED: by x\r\n${LINES}Subject: s\r\n`,
    },
    {
      why: 'no Received field on top (a bounce, an entry made by hand): the fields go first',
      stored: 'From: MAILER-DAEMON@mx\r\nSubject: Undelivered\r\n\r\nx\r\n',
      expect: `${LINES}From: MAILER-DAEMON@mx\r\nSubject: Undelivered\r\n\r\nx\r\n`,
    },
    { why: 'a message shorter than "Received:"', stored: 'X: y\r\n', expect: `${LINES}X: y\r\n` },
    { why: 'an empty entry', stored: '', expect: LINES },
    {
      why: 'LF line ends of an entry made by hand',
      stored: 'Received: by x\n\tid 1\nSubject: s\n\nb\n',
      expect: `Received: by x\n\tid 1\n${LINES}Subject: s\n\nb\n`,
    },
    {
      why: 'a Received field without a line end gets one before the fields',
      stored: 'Received: by x',
      expect: `Received: by x\r\n${LINES}`,
    },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const length = Buffer.byteLength(c.stored, 'latin1');
      // Every way of cutting it in two, and one byte at a time.
      const chunkings = [[], ...Array.from({ length }, (_, i) => [i]), Array.from({ length }, (_, i) => i)];
      for (const cuts of chunkings) {
        const got = await read(deliveredMessage(Readable.from(pieces(c.stored, cuts)), ADDED));
        assert.equal(got, c.expect, `cut at ${JSON.stringify(cuts)}`);
      }
    });
  }

  it('nothing added: the stored stream itself', () => {
    const stored = Readable.from([Buffer.from('x')]);
    assert.equal(deliveredMessage(stored, []), stored);
  });

  it('a stored stream that fails fails the message, so the attempt defers', async () => {
    const stored = new Readable({
      read() {
        this.push(Buffer.from(`${RECEIVED}Subject: x\r\n`));
        this.destroy(new Error('EIO: i/o error, read'));
      },
    });
    await assert.rejects(read(deliveredMessage(stored, ADDED)), /EIO/);
  });

  it('a reader that stops early closes the stored stream', async () => {
    const stored = Readable.from(Array.from({ length: 100 }, () => Buffer.from(`${RECEIVED}x\r\n`)));
    const out = deliveredMessage(stored, ADDED);
    for await (const _ of out) break;
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(stored.destroyed);
  });

  it('a missing entry is a stream that fails', async () => {
    await assert.rejects(
      read(missingMessage('queue entry 0MWT707BG0038AI')),
      /queue entry 0MWT707BG0038AI is missing or damaged/,
    );
  });
});
