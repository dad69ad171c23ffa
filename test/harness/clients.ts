/*
 * Runs the real client programs (Python smtplib, swaks) against a gateway and
 * parses what they report. A client that runs past its time limit is killed
 * and its promises reject, so a gateway that stops answering fails the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO, run } from './gateway.js';

export interface SentMessage {
  readonly n: number;
  readonly code?: number;
  readonly id?: string;
  readonly sha256?: string;
  readonly error?: string;
}

const SMTPLIB_CLIENT = join(REPO, 'test', 'clients', 'smtplib_client.py');

export interface SmtplibRun {
  readonly child: ChildProcess;
  readonly results: SentMessage[];
  /** Every answer, once the client exited 0; rejects if it failed, or was killed at its time limit. */
  readonly done: Promise<SentMessage[]>;
  /** Resolves when at least `n` messages got an answer; rejects if the client ends first. */
  answered(n: number): Promise<void>;
}

/** The client's time limit, unless the caller sets one: the biggest runs here send a few hundred messages. */
const SMTPLIB_TIMEOUT_MS = 180_000;

export function smtplibSend(
  port: number,
  opts: {
    count: number;
    first?: number;
    threads?: number;
    size?: number;
    utf8?: boolean;
    to?: string[];
    timeoutMs?: number;
  },
): SmtplibRun {
  const args = [
    SMTPLIB_CLIENT,
    '--port',
    String(port),
    '--count',
    String(opts.count),
    '--first',
    String(opts.first ?? 0),
    '--threads',
    String(opts.threads ?? 1),
    '--size',
    String(opts.size ?? 2000),
  ];
  if (opts.utf8) args.push('--utf8');
  for (const to of opts.to ?? []) args.push('--to', to);
  const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const results: SentMessage[] = [];
  const waiters: { n: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  let buffered = '';
  let stderr = '';
  let ended: Error | undefined;
  let closed = false;
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  child.stdout!.setEncoding('utf8').on('data', (t: string) => {
    buffered += t;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      results.push(JSON.parse(buffered.slice(0, nl)) as SentMessage);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
    for (const w of [...waiters]) {
      if (results.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const timeoutMs = opts.timeoutMs ?? SMTPLIB_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<SentMessage[]>((resolve, reject) =>
    child.on('close', (code) => {
      closed = true;
      clearTimeout(timer);
      if (code === 0) resolve(results);
      else {
        const why = timedOut ? `still running after ${timeoutMs} ms, killed` : `exited ${code}`;
        ended = new Error(`smtplib client ${why} with ${results.length} of ${opts.count} answered: ${stderr}`);
        reject(ended);
      }
      // Whoever still waits for more answers gets none.
      for (const w of waiters.splice(0)) w.reject(ended ?? new Error(`smtplib client ended after ${results.length} answers`));
    }),
  );
  // A caller that only awaits answered() must not see done's rejection as unhandled.
  done.catch(() => undefined);
  return {
    child,
    results,
    done,
    answered: (n) => {
      if (results.length >= n) return Promise.resolve();
      if (closed) return Promise.reject(ended ?? new Error(`smtplib client ended after ${results.length} answers`));
      return new Promise((resolve, reject) => waiters.push({ n, resolve, reject }));
    },
  };
}

/** Runs swaks against the gateway; returns its transcript and exit code. */
export async function swaks(port: number, args: string[]): Promise<{ code: number | null; transcript: string }> {
  const r = await run('swaks', ['--server', `127.0.0.1:${port}`, '--helo', 'client.test', '--hide-informational', ...args]);
  return { code: r.code, transcript: r.stdout + r.stderr };
}
