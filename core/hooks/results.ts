/*
 * What a hook handler returns. A result is a value, never a callback (a forgotten
 * next() cannot stall a session). The first final result (accept, reject,
 * disconnect) in pipeline order wins; `continue` hands the decision on, with an
 * optional reason for the decision record. checkResult() is the contract every
 * returned value is held to, hand-built or not. Pure.
 */
import type { Reply } from '../model/index.js';

export type HookResult = ContinueResult | AcceptResult | RejectResult | DisconnectResult;

export interface ContinueResult {
  readonly action: 'continue';
  /** Why, for the message's decision record (an observer's note: a score, a header added). */
  readonly reason?: string;
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

/**
 * Let the next plugin decide. With a reason, the decision record keeps it (like
 * Haraka's results.add): a plugin that only observes says what it saw without deciding.
 */
export function next(reason?: string): ContinueResult {
  return reason ? { action: 'continue', reason } : CONTINUE;
}

/** Final yes for this step (for example: this recipient is ours); a reply given must be 2xx. */
export function accept(reason?: string, replyOverride?: Reply): AcceptResult {
  if (replyOverride) {
    const problem = replyProblem(replyOverride, 200, 299);
    if (problem) throw new RangeError(`accept ${problem}`);
  }
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

/**
 * A directory's (lookupUser, authenticate) or a route plugin's answer "I cannot
 * tell now" (the server is down, a query timed out): the question becomes a
 * temporary failure and later plugins are not asked, since the one failing
 * might have been the authoritative one. Throwing or timing out means the same.
 */
export interface UnavailableResult {
  readonly action: 'unavailable';
  readonly reason: string;
}

export function unavailable(reason: string): UnavailableResult {
  return { action: 'unavailable', reason };
}

export function isUnavailable(value: unknown): value is UnavailableResult {
  return typeof value === 'object' && value !== null && (value as { action?: unknown }).action === 'unavailable';
}

/**
 * What ctx.users.lookup() and ctx.users.authenticate() reject with, and what a
 * route plugin's failure becomes, when a directory could not answer (it threw,
 * timed out, answered `unavailable(reason)` or something that is no answer).
 * Callers treat it as temporary: delivery defers, RCPT gets 451 4.3.0, AUTH 454 4.7.0.
 */
export class DirectoryUnavailable extends Error {
  constructor(
    readonly plugin: string,
    readonly hook: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`directory ${plugin} unavailable in ${hook}: ${reason}`, options);
    this.name = 'DirectoryUnavailable';
  }
}

export function isFinal(r: HandlerReturn): r is AcceptResult | RejectResult | DisconnectResult {
  return r !== undefined && r !== null && (r as HookResult).action !== 'continue';
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    const json = JSON.stringify(value);
    return json.length > 120 ? `${json.slice(0, 120)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** What is wrong with `value` as a reply whose code must lie in lo..hi; undefined if nothing. */
function replyProblem(value: unknown, lo: number, hi: number): string | undefined {
  if (typeof value !== 'object' || value === null) return `needs a reply, got ${describeValue(value)}`;
  const { code, enhanced, text } = value as { code?: unknown; enhanced?: unknown; text?: unknown };
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 200 || code > 599) {
    return `has a reply code that is not 200-599: ${describeValue(code)}`;
  }
  if (code < lo || code > hi) return `needs a reply code between ${lo} and ${hi}, got ${code}`;
  if (enhanced !== undefined) {
    // RFC 3463 2: the class digit of the enhanced code repeats the reply's class.
    if (typeof enhanced !== 'string' || !ENHANCED.test(enhanced))
      return `has a malformed enhanced status code ${describeValue(enhanced)}`;
    if (enhanced[0] !== String(code)[0])
      return `has enhanced status code ${enhanced}, whose class does not match reply code ${code}`;
  }
  const textOk = typeof text === 'string' || (Array.isArray(text) && text.every((line) => typeof line === 'string'));
  if (!textOk) return `has a reply text that is not a string or a list of strings: ${describeValue(text)}`;
  return undefined;
}

export type ResultCheck =
  | { readonly ok: true; readonly result: HookResult | undefined }
  | { readonly ok: false; readonly problem: string };

/**
 * Holds a handler's return value to the contract: nothing (undefined, null), or a
 * result whose action is known and whose reply fits it: accept with a 2xx reply (or
 * none), reject and disconnect with a 4xx or 5xx reply, an enhanced code of the
 * reply's class, a text. Anything else is a plugin bug, answered 451 4.3.0 by the guard.
 */
export function checkResult(value: unknown): ResultCheck {
  if (value === undefined || value === null) return { ok: true, result: undefined };
  if (typeof value !== 'object') return { ok: false, problem: `returned ${describeValue(value)}, not a hook result` };
  const { action, reason, reply: r } = value as { action?: unknown; reason?: unknown; reply?: unknown };
  if (reason !== undefined && typeof reason !== 'string') {
    return { ok: false, problem: `returned a reason that is not a string: ${describeValue(reason)}` };
  }
  let problem: string | undefined;
  switch (action) {
    case 'continue':
      break;
    case 'accept':
      if (r !== undefined) problem = replyProblem(r, 200, 299);
      break;
    case 'reject':
    case 'disconnect':
      problem = replyProblem(r, 400, 599);
      break;
    default:
      return { ok: false, problem: `returned an unknown action ${describeValue(action)}: ${describeValue(value)}` };
  }
  if (problem) return { ok: false, problem: `returned ${action} that ${problem}` };
  return { ok: true, result: value as HookResult };
}
