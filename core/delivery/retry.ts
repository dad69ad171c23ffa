/*
 * When to try a recipient again. qmail's schedule: attempt n (0, 1, 2, ...)
 * happens at birth + n² × base, so retries start fast and thin out (qmail's
 * remote base is (20 s)² = 400 s: 0, 6m40s, 26m40s, 1h, 1h47m, ...), until the
 * queue lifetime (queuelifetime, 7 days) runs out; the last attempt is made
 * at that moment, and a recipient still failing then is bounced. Pure.
 */

export interface RetryPolicy {
  /** Delay of the first retry; attempt n comes n² times this after birth. */
  readonly baseMs: number;
  /** qmail's queuelifetime, in milliseconds. */
  readonly lifetimeMs: number;
}

/**
 * Time of the next attempt after `attempts` attempts of a message born at
 * `bornMs`, never earlier than `nowMs` nor later than the end of its lifetime.
 * Undefined once the lifetime is over.
 */
export function nextAttempt(bornMs: number, attempts: number, nowMs: number, p: RetryPolicy): number | undefined {
  const end = bornMs + p.lifetimeMs;
  if (nowMs >= end) return undefined;
  return Math.min(Math.max(bornMs + attempts * attempts * p.baseMs, nowMs), end);
}

/** True once a message born at `bornMs` has outlived the queue lifetime. */
export function expired(bornMs: number, nowMs: number, p: RetryPolicy): boolean {
  return nowMs - bornMs >= p.lifetimeMs;
}
