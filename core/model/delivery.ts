/*
 * Where delivery stands for a queued message and what one attempt gave: the
 * per-recipient state the queue stores durably, and the outcomes the delivery
 * engine (or a deliver hook) reports. Shapes only; transitions live in
 * core/delivery.
 */

/** Where delivery stands for one recipient. */
export interface RecipientState {
  readonly address: string;
  /** pending: to be tried (again); delivered; failed: permanently, with the reply (bounced once). */
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  /** ISO time of the next attempt (pending only). */
  readonly nextAttempt?: string;
  readonly lastAttempt?: string;
  /** The last reply or error, e.g. "451 4.3.0 try later (mx.example.net)". */
  readonly lastReply?: string;
  /** Host or mailbox it was delivered to. */
  readonly deliveredTo?: string;
  /** A bounce for this failure has been queued. */
  readonly bounced?: boolean;
}

/** Per-recipient delivery state, stored beside the entry and rewritten durably before the next step. */
export interface DeliveryState {
  readonly version: 1;
  readonly id: string;
  readonly recipients: readonly RecipientState[];
  /**
   * Alias targets outside local delivery already queued as forwards (by address, domain
   * lower-cased), so that an attempt after a deferral does not queue them again.
   */
  readonly forwarded?: readonly string[];
}

/** What became of one recipient in one attempt. */
export interface DeliveryOutcome {
  readonly recipient: string;
  /** delivered; deferred (4xx, connection trouble: try again later); failed (5xx: bounce). */
  readonly result: 'delivered' | 'deferred' | 'failed';
  readonly reply: string;
  readonly host?: string;
}

export interface DeliveryResult {
  readonly outcomes: readonly DeliveryOutcome[];
}
