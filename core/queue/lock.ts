/*
 * The queue lock: one gateway per queue directory. `gateway.lock` is held with
 * flock(2) (LOCK_EX|LOCK_NB) for the life of the process, and the kernel drops
 * the lock when the process dies, however it dies. A stale file, a pid reused by
 * another process, a restart right after kill -9: none of them can block a start.
 * The file holds the holder's pid so `qgate queue` commands can signal it; the pid
 * is only a hint for finding the holder, never what decides who holds the queue.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// Node has no flock(2). fs-ext is the long-standing binding for it (built with node-gyp at
// install). A pid file checked for liveness (what this replaces) cannot tell a dead gateway
// from a live process that got its pid; lock directories judged stale by age (proper-lockfile)
// hand a paused gateway's queue to a second one. Only a kernel lock ends with its process.
// Loaded at the first lock, not on import: the addon is not context-aware, so a second load in
// a new worker thread aborts the process, and the delivery thread imports the queue (a reload
// that turns delivery off and on starts a new one) but never locks it.
let flock: typeof import('fs-ext').flockSync | undefined;
function flockSync(fd: number, flags: 'exnb' | 'shnb'): void {
  flock ??= (createRequire(import.meta.url)('fs-ext') as typeof import('fs-ext')).flockSync;
  flock(fd, flags);
}

export const LOCK_FILE = 'gateway.lock';
/** The pid file of earlier releases; removed once the lock is taken. */
const OLD_PID_FILE = 'gateway.pid';

/**
 * How often, and how long apart, a busy lock is tried again before giving up:
 * `qgate queue` holds it for a moment to see whether a gateway runs (lockHolder),
 * and a gateway starting in that moment must not take that for another gateway.
 */
const BUSY_TRIES = 5;
const BUSY_PAUSE_MS = 20;

const isBusy = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
};

const isDiskFull = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

/** Blocks the thread for `ms`: start-up is synchronous, and this only waits out a probe. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The pid written in the lock file, if it holds one. */
function recordedPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'latin1').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export class QueueLocked extends Error {
  constructor(
    readonly root: string,
    readonly pid: number | undefined,
  ) {
    super(
      pid === undefined
        ? `queue ${root} is in use by another gateway (its pid is not recorded in ${LOCK_FILE}, perhaps the queue disk is full)`
        : `queue ${root} is in use by the gateway with pid ${pid}`,
    );
  }
}

export class QueueLock {
  private fd: number | undefined;
  /** Whether the lock file names this process (false when the disk was full at start). */
  pidRecorded = false;

  private constructor(
    fd: number,
    readonly path: string,
  ) {
    this.fd = fd;
  }

  /** Takes the lock of the queue at `root`, records this process's pid; throws QueueLocked if another process holds it. */
  static acquire(root: string): QueueLock {
    const path = join(root, LOCK_FILE);
    for (let tries = 0; ; tries++) {
      // libuv opens with O_CLOEXEC, so a child process never inherits (and so never keeps) the lock.
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
      try {
        flockSync(fd, 'exnb');
      } catch (err) {
        closeSync(fd);
        if (!isBusy(err)) throw err;
        if (tries + 1 < BUSY_TRIES) {
          pause(BUSY_PAUSE_MS);
          continue;
        }
        throw new QueueLocked(root, recordedPid(path));
      }
      // The holder before us unlinks the file on a clean stop. If it did so between our open
      // and our flock, we hold a file nobody else will open: start again with the new one.
      if (!namesFile(path, fd)) {
        closeSync(fd);
        if (tries + 1 < BUSY_TRIES) continue;
        throw new Error(`cannot lock queue ${root}: ${LOCK_FILE} keeps being replaced`);
      }
      const lock = new QueueLock(fd, path);
      lock.recordPid();
      rmSync(join(root, OLD_PID_FILE), { force: true });
      return lock;
    }
  }

  /** Whether this process still holds the lock (until release). */
  get held(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Writes this process's pid into the lock file. A full disk leaves the file empty
   * (never a stale pid that `qgate queue` would signal) and returns false; call again
   * once there is space.
   */
  recordPid(): boolean {
    if (this.fd === undefined) return false;
    const text = Buffer.from(`${process.pid}\n`, 'latin1');
    try {
      // Written over the old content, then cut to length: a reader never sees an empty file
      // while the pid is being replaced.
      writeSync(this.fd, text, 0, text.length, 0);
      ftruncateSync(this.fd, text.length);
      this.pidRecorded = true;
    } catch (err) {
      // Truncating frees space, it never needs any.
      ftruncateSync(this.fd, 0);
      if (!isDiskFull(err)) throw err;
      this.pidRecorded = false;
    }
    return this.pidRecorded;
  }

  /** Removes the lock file, then lets the lock go (a clean stop). */
  release(): void {
    if (this.fd === undefined) return;
    // Unlinked while still held: no one can have locked this file in the meantime, and a
    // process that opened it just before checks that it still has the path (acquire).
    rmSync(this.path, { force: true });
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function namesFile(path: string, fd: number): boolean {
  try {
    const held = fstatSync(fd);
    const named = statSync(path);
    return held.ino === named.ino && held.dev === named.dev;
  } catch {
    return false;
  }
}

/**
 * Whether a process holds the queue at `root`, and its pid if the lock file
 * records one; undefined if nothing holds it. Tries a shared lock without
 * waiting: it fails exactly when a gateway holds the exclusive one.
 */
export function lockHolder(root: string): { pid: number | undefined } | undefined {
  const path = join(root, LOCK_FILE);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    flockSync(fd, 'shnb');
    return undefined;
  } catch (err) {
    if (!isBusy(err)) throw err;
    return { pid: recordedPid(path) };
  } finally {
    closeSync(fd); // also lets go of the shared lock, if we got it
  }
}
