/*
 * The queue gauges of /metrics with messages queued: counted from the queue's
 * names and file sizes, and a scrape that opens no queue entry, watched with
 * strace on every thread of the gateway. Reading each envelope on every scrape
 * held the sessions up for seconds with 100,000 messages queued.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { send } from '../harness/delivery.js';
import { run, startGateway, within } from '../harness/gateway.js';
import { queuedFile } from '../harness/queue.js';

const TOKEN = 'admin-token-for-the-gauges-0123456789';

/** The value of one sample line of /metrics ("name{labels} value"), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** strace attached to every thread of `pid`, tracing `calls` into `file`; resolves once all are attached. */
async function traceThreads(pid: number, calls: string, file: string): Promise<() => Promise<void>> {
  const threads = readdirSync(`/proc/${pid}/task`).length;
  const strace = spawn('strace', ['-f', '-e', `trace=${calls}`, '-o', file, '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let attached = 0;
  await within(
    new Promise<void>((resolve, reject) => {
      strace.once('exit', (code) => reject(new Error(`strace exited with ${code}`)));
      strace.stderr!.setEncoding('utf8').on('data', (text: string) => {
        // "Process N attached", or "Process N attached with M threads" for all of them at once.
        for (const line of text.split('\n')) {
          const m = /Process \d+ attached(?: with (\d+) threads)?$/.exec(line);
          if (m) attached += m[1] ? Number(m[1]) : 1;
        }
        if (attached >= threads) resolve();
      });
    }),
    10_000,
    'strace attaching to the gateway',
  );
  return async () => {
    const exited = new Promise((resolve) => strace.once('exit', resolve));
    strace.kill('SIGINT');
    await within(exited, 10_000, 'strace detaching');
  };
}

describe('queue gauges', () => {
  it('count the queued messages and their octets without opening an entry', async () => {
    const gw = await startGateway({ extra: `admin:\n  port: 0\n  token: ${TOKEN}` });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(await send(gw, 'a@example.org', ['x@example.test'], `Subject: ${i}\r\n\r\n${'y'.repeat(i * 300)}\r\n`));
      const bytes = ids.reduce((sum, id) => sum + statSync(queuedFile(gw.queueDir, id)).size, 0);
      const url = readFileSync(join(gw.queueDir, 'admin.url'), 'utf8').trim();

      const trace = join(gw.dir, 'scrape.trace');
      const stop = await traceThreads(gw.process.pid!, 'open,openat,stat,newfstatat,statx', trace);
      const scrape = await run('curl', ['-s', '-H', `Authorization: Bearer ${TOKEN}`, `${url}/metrics`]);
      await stop();
      assert.equal(scrape.code, 0, scrape.stderr);
      assert.equal(sample(scrape.stdout, 'qgate_queue_messages{state="new"}'), 5);
      assert.equal(sample(scrape.stdout, 'qgate_queue_messages{state="deferred"}'), 0);
      assert.equal(sample(scrape.stdout, 'qgate_queue_bytes{state="new"}'), bytes);
      assert.ok((sample(scrape.stdout, 'qgate_queue_oldest_seconds{state="new"}') ?? -1) >= 0);

      const calls = readFileSync(trace, 'utf8').split('\n');
      const touching = (id: string) => calls.filter((c) => c.includes(`/messages/${id.at(-1)}/${id}.msg`));
      for (const id of ids) {
        // The trace saw the census at work (its size came from a stat)...
        assert.ok(
          touching(id).some((c) => /\b(stat|newfstatat|statx)\(/.test(c)),
          `no stat of ${id} in the trace`,
        );
        // ...and nothing opened the entry.
        assert.deepEqual(
          touching(id).filter((c) => /\bopen(at)?\(/.test(c)),
          [],
          `${id} was opened`,
        );
      }
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
