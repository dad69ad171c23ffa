/*
 * Group commit for directory fsyncs. Every caller gets a promise that resolves
 * only after an fsync that *started after the call* completed, so a caller's
 * own rename is always covered (a 250 never overtakes its own fsync); callers
 * that arrive while an fsync is running share the next one.
 */
import { fsync } from 'node:fs';
import { observeCommitBatch } from '../metrics/metrics.js';

/** One durable sync (fsync of a directory); injectable so the batching can be tested. */
export type SyncOnce = (callback: (err: Error | null) => void) => void;

type Waiter = { resolve: () => void; reject: (e: Error) => void };

export class GroupSync {
  private waiting: Waiter[] = [];
  private running = false;

  private readonly syncOnce: SyncOnce;

  constructor(
    target: number | SyncOnce,
    private readonly grouped = true,
  ) {
    this.syncOnce = typeof target === 'number' ? (cb) => fsync(target, cb) : target;
  }

  sync(): Promise<void> {
    if (!this.grouped) {
      return new Promise((resolve, reject) => this.syncOnce((err) => (err ? reject(err) : resolve())));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.running) this.run();
    });
  }

  private run(): void {
    const batch = this.waiting;
    this.waiting = [];
    observeCommitBatch(batch.length);
    this.running = true;
    this.syncOnce((err) => {
      for (const w of batch) {
        if (err) w.reject(err);
        else w.resolve();
      }
      this.running = false;
      if (this.waiting.length) this.run();
    });
  }
}
