/*
 * Runs the real client programs (Python smtplib, swaks) against a gateway and
 * parses what they report.
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
  readonly done: Promise<SentMessage[]>;
  /** Resolves when at least `n` messages got an answer. */
  answered(n: number): Promise<void>;
}

export function smtplibSend(
  port: number,
  opts: { count: number; first?: number; threads?: number; size?: number; utf8?: boolean; to?: string[] },
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
  const waiters: { n: number; resolve: () => void }[] = [];
  let buffered = '';
  let stderr = '';
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
  const done = new Promise<SentMessage[]>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(results) : reject(new Error(`smtplib client exited ${code}: ${stderr}`)))),
  );
  return {
    child,
    results,
    done,
    answered: (n) => (results.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** Runs swaks against the gateway; returns its transcript and exit code. */
export async function swaks(port: number, args: string[]): Promise<{ code: number | null; transcript: string }> {
  const r = await run('swaks', ['--server', `127.0.0.1:${port}`, '--helo', 'client.test', '--hide-informational', ...args]);
  return { code: r.code, transcript: r.stdout + r.stderr };
}
