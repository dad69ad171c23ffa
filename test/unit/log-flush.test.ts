/*
 * The last log lines reach a slow reader before the process exits: a child
 * logs a backlog far larger than a pipe holds, then "stopped", awaits
 * flush() and exits, while the parent does not read for a while (a log
 * shipper that fell behind). Without the wait the backlog and "stopped" were lost.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { within } from '../harness/gateway.js';

const LOGGER = new URL('../../core/log/logger.js', import.meta.url).href;

const CHILD = `
const { createLogger } = await import(${JSON.stringify(LOGGER)});
const logs = createLogger({ level: 'info', format: process.argv[1] });
for (let i = 0; i < 5000; i++) logs.log.info({ event: 'delivery', n: i, filler: 'x'.repeat(200) }, 'delivery delivered');
logs.log.info({ event: 'stopped' }, 'stopped');
await logs.flush(10_000);
process.exit(0);
`;

for (const format of ['json', 'text'] as const) {
  test(`${format}: every line, the last one too, is written before exit`, async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, format], { stdio: ['ignore', 'pipe', 'inherit'] });
    const output = child.stdout.setEncoding('utf8');
    output.pause();
    const read = new Promise<string>((res) => {
      let text = '';
      output.on('data', (t: string) => {
        text += t;
      });
      output.once('close', () => res(text));
    });
    await new Promise((r) => setTimeout(r, 1000));
    output.resume();
    const text = await within(read, 20_000, 'end of the child output');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 5001);
    assert.match(lines.at(-1)!, format === 'json' ? /"event":"stopped"/ : / info stopped$/);
  });
}

// The delivery thread's logger hands its lines to the main thread, the only writer.
const THREADS = `
const { Worker } = await import('node:worker_threads');
const { createLogger } = await import(${JSON.stringify(LOGGER)});
const logs = createLogger({ level: 'info', format: 'json' });
const worker = new Worker(\`
  const { parentPort } = await import('node:worker_threads');
  const { createLogger } = await import(${JSON.stringify(LOGGER)});
  const logs = createLogger({ level: 'info', format: 'json', sink: (text) => parentPort.postMessage(text) });
  for (let i = 0; i < 3000; i++) logs.log.info({ thread: 'delivery', n: i, filler: 'y'.repeat(300) }, 'delivered');
  await logs.flush(10_000);
  parentPort.postMessage(null);
\`, { eval: true, type: 'module' });
const ended = new Promise((res) => worker.on('message', (text) => (text === null ? res() : logs.writeLines(text))));
for (let i = 0; i < 3000; i++) logs.log.info({ thread: 'main', n: i, filler: 'x'.repeat(300) }, 'queued');
await ended;
await logs.flush(10_000);
process.exit(0);
`;

test("another thread's lines are written whole, in its order, among this thread's", async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', THREADS], { stdio: ['ignore', 'pipe', 'inherit'] });
  const read = new Promise<string>((res) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      text += t;
    });
    child.stdout.once('close', () => res(text));
  });
  const lines = (await within(read, 30_000, 'end of the child output')).trimEnd().split('\n');
  assert.equal(lines.length, 6000);
  const next = new Map([
    ['main', 0],
    ['delivery', 0],
  ]);
  for (const line of lines) {
    const { thread, n } = JSON.parse(line) as { thread: string; n: number };
    assert.equal(n, next.get(thread), `${thread} line ${n} out of order`);
    next.set(thread, n + 1);
  }
});
