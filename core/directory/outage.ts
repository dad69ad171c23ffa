/*
 * Outage bookkeeping for a directory client: the first failure of an outage is
 * logged as an error, later ones only counted (a flood of RCPTs during an LDAP
 * or SQL outage must not become a flood of log lines), and the first success
 * after it is logged with how long it lasted and how many questions failed.
 * Pure apart from the injected clock and the logger it is given.
 */
import type { Logger } from 'pino';

export class OutageTracker {
  private since: number | undefined;
  private failures = 0;

  constructor(
    private readonly log: () => Logger,
    /** What is down, for the log lines ("LDAP server ldap://127.0.0.1:389"). */
    private readonly what: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while an outage is going on. */
  get down(): boolean {
    return this.since !== undefined;
  }

  /** A question failed (unreachable, timed out). Logs only the first failure of an outage. */
  failed(reason: string): void {
    this.failures++;
    if (this.since !== undefined) return;
    this.since = this.now();
    this.log().error(
      { reason },
      `${this.what} is unavailable: ${reason}; questions get a temporary failure until it answers again (logged once per outage)`,
    );
  }

  /** A question was answered: ends an outage, if there was one. */
  succeeded(): void {
    if (this.since === undefined) return;
    const seconds = Math.round((this.now() - this.since) / 100) / 10;
    this.log().warn(
      { seconds, failures: this.failures },
      `${this.what} answers again after ${seconds} s (${this.failures} failed questions)`,
    );
    this.since = undefined;
    this.failures = 0;
  }
}
