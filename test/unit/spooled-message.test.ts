/*
 * The header section the message hooks get: headerBytes stops at the read that
 * holds the blank line, wherever it falls against the reads, and at the limit;
 * spooledMessage reads a real spool (FileQueue in a temporary directory) once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileQueue } from '../../core/queue/file-queue.js';
import { newQueueId } from '../../core/queue/queue.js';
import { headerBytes, spooledMessage } from '../../core/smtp/spooled-message.js';

describe('headerBytes', () => {
  const rows: Array<{ why: string; reads: string[]; max?: number; bytes: string; pulled: number }> = [
    { why: 'blank line in the first read', reads: ['A: 1\r\n\r\nbody', 'more', 'more'], bytes: 'A: 1\r\n\r\nbody', pulled: 1 },
    {
      why: 'blank line in the second read',
      reads: ['A: 1\r\n', 'B: 2\r\n\r\nb', 'more'],
      bytes: 'A: 1\r\nB: 2\r\n\r\nb',
      pulled: 2,
    },
    { why: 'split CR | LF CR LF', reads: ['A: 1\r', '\n\r\nb', 'more'], bytes: 'A: 1\r\n\r\nb', pulled: 2 },
    { why: 'split CR LF | CR LF', reads: ['A: 1\r\n', '\r\nb', 'more'], bytes: 'A: 1\r\n\r\nb', pulled: 2 },
    { why: 'split CR LF CR | LF', reads: ['A: 1\r\n\r', '\nb', 'more'], bytes: 'A: 1\r\n\r\nb', pulled: 2 },
    { why: 'split over three reads', reads: ['A: 1\r', '\n', '\r', '\nb', 'more'], bytes: 'A: 1\r\n\r\nb', pulled: 4 },
    { why: 'a lone LF LF is no blank line', reads: ['A: 1\n\nb', 'c'], bytes: 'A: 1\n\nbc', pulled: 2 },
    { why: 'no blank line: everything', reads: ['A: 1\r\n', 'B: 2\r\n'], bytes: 'A: 1\r\nB: 2\r\n', pulled: 2 },
    { why: 'nothing to read', reads: [], bytes: '', pulled: 0 },
    { why: 'cut at the limit, and not read past it', reads: ['A: 12', '345', '678'], max: 7, bytes: 'A: 1234', pulled: 2 },
    { why: 'exactly the limit', reads: ['A: 1', '234'], max: 7, bytes: 'A: 1234', pulled: 2 },
  ];
  for (const row of rows) {
    test(row.why, async () => {
      let pulled = 0;
      async function* reads() {
        for (const r of row.reads) {
          pulled++;
          yield r;
        }
      }
      const bytes = await headerBytes(reads(), row.max ?? 1024);
      assert.equal(bytes.toString('latin1'), row.bytes);
      assert.equal(pulled, row.pulled, 'reads taken');
    });
  }
});

describe('spooledMessage().readHeaders()', () => {
  let dir: string;
  let queue: FileQueue;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-spooled-'));
    queue = new FileQueue(dir, { groupCommit: false });
    await queue.open();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function spooled(content: string) {
    const spool = queue.createSpool(newQueueId());
    spool.write(Buffer.from(content));
    await spool.finish();
    return { spool, message: spooledMessage(spool) };
  }

  test('the fields before the blank line, not the body', async () => {
    const { spool, message } = await spooled('Subject: hi\r\nTo: <c@d.example>\r\n\r\nX-Body: no\r\n');
    assert.deepEqual(await message.readHeaders(), [
      { name: 'Subject', value: 'hi' },
      { name: 'To', value: '<c@d.example>' },
    ]);
    await spool.discard();
  });

  test('a header section past 256 KiB is cut there', async () => {
    const head = 'Subject: big\r\nX-Pad: ';
    const { spool, message } = await spooled(`${head}${'p'.repeat(300 * 1024)}\r\n\r\nbody\r\n`);
    const fields = await message.readHeaders();
    assert.deepEqual(
      fields.map((f) => f.name),
      ['Subject', 'X-Pad'],
    );
    assert.equal(fields[1]!.value.length, 256 * 1024 - head.length);
    await spool.discard();
  });

  test('read once: the second call gets the same answer', async () => {
    const { spool, message } = await spooled('Subject: once\r\n\r\n');
    const first = message.readHeaders();
    assert.equal(message.readHeaders(), first);
    assert.deepEqual(await first, [{ name: 'Subject', value: 'once' }]);
    await spool.discard();
  });
});
