/*
 * A small pool of worker threads (piscina) for the crypt(3) checks that are
 * synchronous JavaScript, so a burst of SHA-crypt logins does not stall every
 * session on the event loop. Bounded: a few threads, started on first use and
 * ended when idle, and a queue of MAX_QUEUED checks; past it a check is refused
 * (a temporary failure for the login) rather than queued without end.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { CryptTask } from './crypt-worker.js';

/** Threads: one per core, at most 4 (the event loop and delivery need the rest of the machine). */
export const CRYPT_THREADS = Math.max(1, Math.min(4, availableParallelism()));
/** Checks waiting for a thread; at ~27 ms a SHA-512-crypt check, a full queue is a few seconds of work. */
export const MAX_QUEUED = 256;
/** A thread idle this long ends; the next check starts one again. */
const IDLE_MS = 30_000;

let pool: Piscina<CryptTask, string> | undefined;

/** crypt(3) of the task, computed off the event loop. Rejects when the queue is full. */
export function cryptOffThread(task: CryptTask): Promise<string> {
  pool ??= new Piscina<CryptTask, string>({
    filename: new URL('./crypt-worker.js', import.meta.url).href,
    minThreads: 0,
    maxThreads: CRYPT_THREADS,
    maxQueue: MAX_QUEUED,
    idleTimeout: IDLE_MS,
  });
  return pool.run(task);
}
