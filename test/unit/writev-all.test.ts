import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writevAll } from '../../core/queue/file-queue.js';

describe('writevAll', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-writev-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = async (name: string, chunks: Buffer[]): Promise<Buffer> => {
    const file = join(dir, name);
    const fd = openSync(file, 'w');
    try {
      await writevAll(fd, chunks);
    } finally {
      closeSync(fd);
    }
    return readFileSync(file);
  };

  const rows: Array<{ why: string; sizes: number[] }> = [
    { why: 'nothing', sizes: [] },
    { why: 'one buffer', sizes: [10] },
    { why: 'exactly IOV_MAX (512) buffers', sizes: Array.from({ length: 512 }, () => 3) },
    { why: 'one more than IOV_MAX', sizes: Array.from({ length: 513 }, () => 3) },
    { why: 'mixed sizes over several batches', sizes: Array.from({ length: 2000 }, (_, i) => 1 + ((i * 7919) % 300)) },
    { why: 'a large buffer among small ones', sizes: [1, 4 << 20, 1, 1] },
  ];
  for (const row of rows) {
    test(`writes ${row.why} in order`, async () => {
      let next = 0;
      const chunks = row.sizes.map((n) => Buffer.from(Array.from({ length: n }, () => next++ % 251)));
      assert.ok((await write('rows', chunks)).equals(Buffer.concat(chunks)));
    });
  }

  test('a million one-byte buffers: linear, not n² (13 s of CPU when the rest was sliced off each round)', async () => {
    const chunks = Array.from({ length: 1_000_000 }, (_, i) => Buffer.from([i % 256]));
    const started = process.cpuUsage();
    const written = await write('many', chunks);
    const used = process.cpuUsage(started);
    assert.ok(written.equals(Buffer.concat(chunks)));
    const seconds = (used.user + used.system) / 1e6;
    assert.ok(seconds < 5, `${seconds.toFixed(2)} s of CPU`);
  });
});
