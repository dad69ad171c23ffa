/*
 * Counts failed AUTH attempts per client address over a sliding window, so
 * a password guesser is slowed down and then cut off, across connections.
 * Bounded: old entries are swept when the table grows.
 */
export class FailureThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** Failures that still count for this client. */
  count(client: string, now = Date.now()): number {
    const times = this.failures.get(client);
    if (!times) return 0;
    const recent = times.filter((t) => now - t < this.windowMs);
    if (recent.length) this.failures.set(client, recent);
    else this.failures.delete(client);
    return recent.length;
  }

  /** Records a failure; returns the number of failures now counting. */
  fail(client: string, now = Date.now()): number {
    if (this.failures.size >= this.maxEntries) this.sweep(now);
    const n = this.count(client, now);
    const times = this.failures.get(client) ?? [];
    times.push(now);
    this.failures.set(client, times);
    return n + 1;
  }

  succeed(client: string): void {
    this.failures.delete(client);
  }

  private sweep(now: number): void {
    for (const client of [...this.failures.keys()]) this.count(client, now);
    if (this.failures.size >= this.maxEntries) this.failures.clear();
  }
}
