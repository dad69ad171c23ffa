/*
 * Where delivery stands for a queued message and what one attempt gave: the
 * per-recipient state the queue stores durably, and the outcomes the delivery
 * engine (or a deliver hook) reports, each with its reply as fields. Shapes
 * only; transitions live in core/delivery.
 */
import type { DeliveryReply } from './delivery-reply.js';

/** Where delivery stands for one recipient. */
export interface RecipientState {
  readonly address: string;
  /** pending: to be tried (again); delivered; failed: permanently, with the reply (bounced once). */
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  /** ISO time of the next attempt (pending only). */
  readonly nextAttempt?: string;
  readonly lastAttempt?: string;
  /** The last reply, e.g. 451 4.7.1 "Greylisted" from mx.example.net, or our own diagnosis (no host). */
  readonly reply?: DeliveryReply;
  /** A bounce for this failure has been queued. */
  readonly bounced?: boolean;
}

/**
 * Per-recipient delivery state, stored beside the entry and rewritten durably before the
 * next step. Version 1 (before structured replies) is read too; see core/queue/state-format.ts.
 */
export interface DeliveryState {
  readonly version: 2;
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
  /** delivered (2xx); deferred (4xx, connection trouble: try again later); failed (5xx: bounce). */
  readonly result: 'delivered' | 'deferred' | 'failed';
  /** The reply that decided it, with the host that gave it. */
  readonly reply: DeliveryReply;
}

export interface DeliveryResult {
  readonly outcomes: readonly DeliveryOutcome[];
}
