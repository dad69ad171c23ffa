/*
 * The order of a commit's system calls, watched with strace, for both
 * queue.commit_sync settings: a crash can only keep what was flushed, so what
 * makes a 250 safe is that the flush covering the entry's data and its name
 * ends before commit() resolves. "directory": fdatasync of the file, the rename
 * into messages/<b>/, fsync of that directory. "file": the rename, then one
 * fsync of the renamed file and no directory fsync.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), '..', 'harness', 'commit-probe.js');

/** The traced calls in the order they ended (strace splits a call other threads interrupted). */
function completedCalls(trace: string): string[] {
  const started = new Map<string, string>();
  const calls: string[] = [];
  for (const line of trace.split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, text] = m as unknown as [string, string, string];
    if (text.endsWith('<unfinished ...>')) {
      started.set(pid, text.replace(/\s*<unfinished \.\.\.>$/, ''));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(text);
    calls.push(resumed ? `${started.get(pid) ?? ''}${resumed[1]}` : text);
  }
  return calls;
}

function traceCommit(commitSync: 'directory' | 'file'): { calls: string[]; queue: string; id: string } {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-commit-sync-'));
  try {
    const queue = join(dir, 'queue');
    const out = join(dir, 'trace');
    const run = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-y',
        '-o',
        out,
        '-e',
        'trace=fsync,fdatasync,rename,renameat,renameat2,write',
        process.execPath,
        PROBE,
        queue,
        commitSync,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const id = /^committed (\w+)$/m.exec(run.stdout)![1]!;
    // Only what touches this entry, its directory or the line that stands for the 250.
    const calls = completedCalls(readFileSync(out, 'utf8')).filter(
      (c) => c.includes(id) || /^fs?(data)?sync\(\d+<[^>]*\/messages\/\w>\)/.test(c) || c.includes('"committed '),
    );
    return { calls: calls.map((c) => c.replace(/\s*=\s*\d+$/, '').replaceAll(queue, 'Q')), queue, id };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The name of each call, with the file it worked on, without the data written. */
function shape(call: string, id: string): string {
  const name = /^(\w+)\(/.exec(call)![1]!;
  if (name === 'write') return call.includes('"committed ') ? 'answer' : 'write';
  const paths = [...call.matchAll(/[<"](Q\/[^>"]*)[>"]/g)].map((m) => m[1]!.replace(id, 'ID'));
  return `${name.replace(/^renameat2?$/, 'rename')} ${paths.join(' -> ')}`;
}

describe('queue.commit_sync: the system calls of a commit, in order', () => {
  it('"directory": fdatasync of the file, rename, fsync of the directory, then the answer', () => {
    const { calls, id } = traceCommit('directory');
    const b = id.at(-1);
    assert.deepEqual(
      calls.map((c) => shape(c, id)).filter((s) => s !== 'write'),
      ['fdatasync Q/tmp/ID.msg', `rename Q/tmp/ID.msg -> Q/messages/${b}/ID.msg`, `fsync Q/messages/${b}`, 'answer'],
    );
  });

  it('"file": rename, then one fsync of the renamed file, then the answer', () => {
    const { calls, id } = traceCommit('file');
    const b = id.at(-1);
    assert.deepEqual(
      calls.map((c) => shape(c, id)).filter((s) => s !== 'write'),
      [`rename Q/tmp/ID.msg -> Q/messages/${b}/ID.msg`, `fsync Q/messages/${b}/ID.msg`, 'answer'],
    );
  });
});
