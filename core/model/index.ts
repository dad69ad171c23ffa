/*
 * The shared model: the shapes the hook contract and the engines (SMTP, queue,
 * delivery) exchange, and the helpers that go with them (replies, domain
 * lists, a runner with a bound on tasks in flight). It imports nothing from the
 * rest of the core, so the contract (core/hooks) can stand on it without
 * depending on the engines that implement it.
 */
export type { Address } from './address.js';
export type { DeliveryOutcome, DeliveryResult, DeliveryState, RecipientState } from './delivery.js';
export { type DeliveryReply, deliveryReply, ENHANCED_CODE, parseReply, replyLine } from './delivery-reply.js';
export { DomainSet } from './domain-set.js';
export { createEnvelope, type Envelope, type EnvelopeFields, type EnvelopeRecipient } from './envelope.js';
export type { EsmtpParameters } from './esmtp.js';
export { type AuthAttempt, FailureThrottle } from './failure-throttle.js';
export type { HeaderField } from './header.js';
export { inTurn } from './in-turn.js';
export { QUEUE_STATES, type QueueCensus, type QueueState, type StateTotals } from './queue-census.js';
export { formatReply, isTemporary, type Reply, reply, replyText } from './reply.js';
export type { Route, StaticRoute, TlsPolicy } from './route.js';
