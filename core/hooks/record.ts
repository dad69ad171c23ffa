/*
 * The private channel through which guarded hook handlers record decisions on
 * the session they ran for, or on a hook argument that asked for a record
 * (plugins read decisions, they never forge them).
 */
import type { Decision } from './types.js';

export const RECORD: unique symbol = Symbol('qgate.recordDecision');

/**
 * Gives `subject` (a hook argument outside any session, such as a bounce notice)
 * a hidden recorder, so the guarded handlers' decisions can be logged with it.
 */
export function recording<T extends object>(subject: T): { readonly subject: T; readonly decisions: readonly Decision[] } {
  const decisions: Decision[] = [];
  Object.defineProperty(subject, RECORD, { value: (decision: Decision) => decisions.push(decision), enumerable: false });
  return { subject, decisions };
}
