/*
 * The bound on scans sent to one clamd at once: at most `limit` run, up to
 * `maxWaiting` more wait in arrival order, each for at most its wait limit.
 * A scan that finds the wait list full or waits too long is refused with a
 * ScanFailure ('busy'), so a flood of messages turns into prompt 451s instead
 * of piling up sessions. No I/O besides the wait timers.
 */
import { ScanFailure } from './reply.js';

interface Waiter {
  readonly grant: () => void;
  readonly timer: NodeJS.Timeout;
}

export class ScanSlots {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` in a slot, after waiting at most `waitMs` for one. */
  async run<T>(waitMs: number, task: () => Promise<T>): Promise<T> {
    await this.acquire(waitMs);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(waitMs: number): Promise<void> {
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.reject(
        new ScanFailure('busy', `${this.running} scans running and ${this.waiting.length} waiting (max_waiting)`),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(new ScanFailure('busy', `no scan slot within ${waitMs} ms (max_concurrent ${this.limit})`));
        }, waitMs),
      };
      this.waiting.push(waiter);
    });
  }

  private release(): void {
    // The slot passes straight to the first waiter, so `running` never dips below the limit in between.
    const next = this.waiting.shift();
    if (next) next.grant();
    else this.running--;
  }
}
