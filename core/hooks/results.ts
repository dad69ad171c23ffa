/*
 * What a hook handler returns. A result is a value, never a callback (a forgotten
 * next() cannot stall a session). The first final result (accept, reject,
 * disconnect) in pipeline order wins; `continue` hands the decision on.
 */
import type { Reply } from '../model/index.js';

export type HookResult = ContinueResult | AcceptResult | RejectResult | DisconnectResult;

export interface ContinueResult {
  readonly action: 'continue';
}
export interface AcceptResult {
  readonly action: 'accept';
  /** Optional reply to send instead of the core's default success reply. */
  readonly reply?: Reply;
  readonly reason?: string;
}
export interface RejectResult {
  readonly action: 'reject';
  /** 4xx = temporary failure, 5xx = permanent. */
  readonly reply: Reply;
  readonly reason?: string;
}
export interface DisconnectResult {
  readonly action: 'disconnect';
  readonly reply: Reply;
  readonly reason?: string;
}

/** What a handler may give back: a result, or nothing (= continue). */
export type HandlerReturn = HookResult | undefined | void;

const CONTINUE: ContinueResult = Object.freeze({ action: 'continue' });

/** Let the next plugin decide. */
export function next(): ContinueResult {
  return CONTINUE;
}

/** Final yes for this step (for example: this recipient is ours). */
export function accept(reason?: string, replyOverride?: Reply): AcceptResult {
  return { action: 'accept', ...(reason ? { reason } : {}), ...(replyOverride ? { reply: replyOverride } : {}) };
}

function checkCode(code: number, lo: number, hi: number, what: string): void {
  if (!Number.isInteger(code) || code < lo || code > hi) {
    throw new RangeError(`${what} needs a reply code between ${lo} and ${hi}, got ${code}`);
  }
}

function checkEnhanced(code: number, enhanced: string): void {
  if (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) || enhanced[0] !== String(code)[0]) {
    throw new RangeError(`enhanced status code ${enhanced} does not match reply code ${code}`);
  }
}

/** Permanent (5xx) or temporary (4xx) refusal with an SMTP reply. */
export function reject(code: number, enhanced: string, text: string, reason?: string): RejectResult {
  checkCode(code, 400, 599, 'reject');
  checkEnhanced(code, enhanced);
  return { action: 'reject', reply: { code, enhanced, text }, reason: reason ?? text };
}

/** Temporary refusal: the client should retry later. */
export function tempfail(text: string, code = 451, enhanced = '4.3.0', reason?: string): RejectResult {
  checkCode(code, 400, 499, 'tempfail');
  checkEnhanced(code, enhanced);
  return { action: 'reject', reply: { code, enhanced, text }, reason: reason ?? text };
}

/** Reply, then close the connection (421 by convention). */
export function disconnect(text: string, code = 421, enhanced = '4.7.0', reason?: string): DisconnectResult {
  checkCode(code, 400, 599, 'disconnect');
  checkEnhanced(code, enhanced);
  return { action: 'disconnect', reply: { code, enhanced, text }, reason: reason ?? text };
}

export function isFinal(r: HandlerReturn): r is AcceptResult | RejectResult | DisconnectResult {
  return r !== undefined && r !== null && (r as HookResult).action !== 'continue';
}
