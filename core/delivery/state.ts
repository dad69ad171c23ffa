/*
 * How a message's delivery state changes: its first state, one attempt's
 * outcomes, expiry at the end of the queue lifetime, an administrator's flush
 * or bounce, bounces queued, and what is due when. The scheduler and `qgate
 * queue flush|bounce` (without a running gateway) use these same transitions.
 * Pure: no files, no clock (times are arguments); writing the state durably
 * is the caller's job.
 */
import {
  type DeliveryOutcome,
  type DeliveryState,
  deliveryReply,
  type Envelope,
  type RecipientState,
  replyLine,
  replyText,
} from '../model/index.js';
import { expired, nextAttempt, type RetryPolicy } from './retry.js';

/** One recipient's outcome of an attempt, and which retry schedule applies to it. */
export type AttemptOutcome = DeliveryOutcome & { readonly kind: 'local' | 'remote' };

export interface RetryPolicies {
  readonly retryLocal: RetryPolicy;
  readonly retryRemote: RetryPolicy;
}

/** The reason `qgate queue bounce` gives. */
export const BOUNCED_BY_ADMINISTRATOR = 'Message bounced by the administrator';

/** Every recipient pending and due at arrival. */
export function initialState(env: Envelope): DeliveryState {
  return {
    version: 2,
    id: env.id,
    recipients: env.recipients.map((r) => ({ address: r.address, status: 'pending', attempts: 0, nextAttempt: env.received })),
  };
}

/** Nothing left to do: every recipient delivered, or failed and bounced. */
export function finished(state: DeliveryState): boolean {
  return state.recipients.every((r) => r.status === 'delivered' || (r.status === 'failed' && r.bounced === true));
}

/** `state` with `change` applied to its pending recipients; `state` itself when none is pending. */
function mapPending(state: DeliveryState, change: (r: RecipientState) => RecipientState): DeliveryState {
  if (!state.recipients.some((r) => r.status === 'pending')) return state;
  return { ...state, recipients: state.recipients.map((r) => (r.status === 'pending' ? change(r) : r)) };
}

/** The new state after one attempt: delivered and failed are final; deferred gets its next time. */
export function applyOutcomes(
  state: DeliveryState,
  outcomes: readonly AttemptOutcome[],
  bornMs: number,
  nowMs: number,
  policies: RetryPolicies,
): DeliveryState {
  const byRecipient = new Map(outcomes.map((o) => [o.recipient, o]));
  const lastAttempt = new Date(nowMs).toISOString();
  return {
    ...state,
    recipients: state.recipients.map((r): RecipientState => {
      const o = byRecipient.get(r.address);
      if (!o || r.status !== 'pending') return r;
      const attempts = r.attempts + 1;
      const base = { address: r.address, attempts, lastAttempt, reply: o.reply };
      if (o.result === 'delivered') return { ...base, status: 'delivered' };
      if (o.result === 'failed') return { ...base, status: 'failed' };
      const policy = o.kind === 'local' ? policies.retryLocal : policies.retryRemote;
      const next = nextAttempt(bornMs, attempts, nowMs + 1, policy);
      if (next === undefined || expired(bornMs, nowMs, policy)) {
        // Like Postfix, the status stays the temporary one (4.x.x) with Action: failed.
        const text = `${replyText(o.reply)} (gave up: queue lifetime reached)`;
        return { ...base, status: 'failed', reply: { ...o.reply, text } };
      }
      return { ...base, status: 'pending', nextAttempt: new Date(next).toISOString() };
    }),
  };
}

/**
 * Once the queue lifetime is over, pending recipients fail with 4.4.7 (RFC 3463),
 * naming the last reply they got; `state` itself when there is nothing to expire.
 */
export function expire(state: DeliveryState, bornMs: number, nowMs: number, lifetimeMs: number): DeliveryState {
  if (nowMs - bornMs < lifetimeMs) return state;
  const hours = Math.round(lifetimeMs / 3_600_000);
  return mapPending(state, (r) => ({
    ...r,
    status: 'failed',
    reply: deliveryReply(
      451,
      '4.4.7',
      `Message expired after ${hours} hours${r.reply ? `; last reply: ${replyLine(r.reply)}` : ''}`,
    ),
  }));
}

/** `qgate queue flush`: every pending recipient is due now. */
export function flushNow(state: DeliveryState, nowMs: number): DeliveryState {
  const now = new Date(nowMs).toISOString();
  return mapPending(state, (r) => ({ ...r, nextAttempt: now }));
}

/** `qgate queue bounce`: every pending recipient fails now, to be bounced with `reason`. */
export function bounceNow(state: DeliveryState, reason: string): DeliveryState {
  const reply = deliveryReply(550, '5.0.0', reason);
  return mapPending(state, ({ nextAttempt: _, ...r }) => ({ ...r, status: 'failed', reply }));
}

/** Pending recipients whose next attempt has come (a recipient without a time is due at arrival). */
export function dueRecipients(state: DeliveryState, received: string, nowMs: number): RecipientState[] {
  return state.recipients.filter((r) => r.status === 'pending' && Date.parse(r.nextAttempt ?? received) <= nowMs);
}

/** Failed recipients whose bounce is still to be queued. */
export function unbounced(state: DeliveryState): RecipientState[] {
  return state.recipients.filter((r) => r.status === 'failed' && !r.bounced);
}

/** Every failure marked bounced, once its bounce is queued (or deliberately not sent). */
export function markBounced(state: DeliveryState): DeliveryState {
  return { ...state, recipients: state.recipients.map((r) => (r.status === 'failed' ? { ...r, bounced: true } : r)) };
}

/** When the next pending recipient is due (milliseconds), or undefined when none is pending. */
export function nextDue(state: DeliveryState, received: string): number | undefined {
  const pending = state.recipients.filter((r) => r.status === 'pending');
  return pending.length ? Math.min(...pending.map((r) => Date.parse(r.nextAttempt ?? received))) : undefined;
}
