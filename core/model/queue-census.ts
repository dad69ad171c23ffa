/*
 * What a queue census reports: messages, octets on disk and the oldest arrival
 * for each state a queued message can be in (core/queue/census.ts counts them;
 * the queue gauges report them).
 */

/** new: no delivery state yet (not attempted); deferred: attempted, recipients pending. */
export const QUEUE_STATES = ['new', 'deferred'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export interface StateTotals {
  readonly messages: number;
  /** Octets the entries take on disk: message, envelope and footer. */
  readonly bytes: number;
  readonly oldestMs: number | undefined;
}

export interface QueueCensus {
  readonly states: ReadonlyMap<QueueState, StateTotals>;
}
