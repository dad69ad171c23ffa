/*
 * The minimum data rate in DATA, as Postfix's smtpd_min_data_rate works: the
 * client starts with a time budget (the idle timeout), time spent waiting
 * for its bytes is taken from it, and every byte received gives back
 * 1/rate seconds, never more than the full budget. A client that keeps at or
 * above the rate never runs out, and may pause as long as the idle timeout
 * after sending enough; one that trickles runs out within about one budget.
 * Pure: the caller passes the time; it decides nothing about the session.
 */

export class DataRateBudget {
  private leftMs: number;
  private at: number;

  /**
   * @param budgetMs the full budget (the listener's idle timeout)
   * @param bytesPerSecond the minimum rate; 0 turns the check off
   * @param now the time DATA began, in milliseconds on any clock
   */
  constructor(
    private readonly budgetMs: number,
    private readonly bytesPerSecond: number,
    now: number,
  ) {
    this.leftMs = budgetMs;
    this.at = now;
  }

  /** Counts `bytes` received at `now`. */
  received(bytes: number, now: number): void {
    if (this.bytesPerSecond <= 0) return;
    this.leftMs = Math.min(this.budgetMs, this.leftMs - (now - this.at) + (bytes * 1000) / this.bytesPerSecond);
    this.at = now;
  }

  /** Milliseconds left at `now`; at or below 0 the client is too slow. Infinity when the check is off. */
  left(now: number): number {
    if (this.bytesPerSecond <= 0) return Number.POSITIVE_INFINITY;
    return this.leftMs - (now - this.at);
  }

  /** Starts over with a full budget: time we did not read (our back-pressure) is not the client's. */
  restart(now: number): void {
    this.leftMs = this.budgetMs;
    this.at = now;
  }
}
