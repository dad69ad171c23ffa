/*
 * The answers the directory hooks (lookupUser, authenticate) and the route hook
 * may give, checked like decision results are: a user record, a verdict or a
 * route must have the shape the core reads, or the answer is no answer (a
 * directory that returns `true` must not make every address a user). Pure.
 */
import type { HookName } from './table.js';

const ROUTE_KINDS: ReadonlySet<unknown> = new Set(['local', 'smtp', 'mx', 'error']);

const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');

function userRecordProblem(value: object): string | undefined {
  const r = value as Record<string, unknown>;
  if (typeof r.address !== 'string' || !r.address) return 'a user record needs its address';
  if (r.mailbox !== undefined && (typeof r.mailbox !== 'string' || !r.mailbox)) return 'mailbox must be a path';
  if (r.forwards !== undefined && !isStringList(r.forwards)) return 'forwards must be a list of addresses';
  for (const flag of ['enabled', 'deliverLocally'] as const) {
    if (r[flag] !== undefined && typeof r[flag] !== 'boolean') return `${flag} must be true or false`;
  }
  if (r.quota !== undefined && !(Number.isSafeInteger(r.quota) && (r.quota as number) >= 0)) {
    return 'quota must be a number of octets';
  }
  if (r.attributes !== undefined) {
    const a = r.attributes;
    if (typeof a !== 'object' || a === null || Object.values(a).some((v) => typeof v !== 'string')) {
      return 'attributes must map names to strings';
    }
  }
  return undefined;
}

/** What is wrong with `value` as an answer of `hook`; undefined if it is one (or nothing). */
export function answerProblem(hook: HookName, value: unknown): string | undefined {
  if (value === undefined || (value === null && hook === 'lookupUser')) return undefined;
  if (typeof value !== 'object' || value === null) return `answered ${String(value)}`;
  if (hook === 'lookupUser') return userRecordProblem(value);
  if (hook === 'authenticate') {
    const v = value as { ok?: unknown; user?: unknown };
    if (typeof v.ok !== 'boolean') return 'a verdict needs ok: true or false';
    if (v.user !== undefined && typeof v.user !== 'string') return "a verdict's user must be a string";
    return undefined;
  }
  if (hook === 'route' && !ROUTE_KINDS.has((value as { kind?: unknown }).kind)) {
    return `a route of unknown kind ${JSON.stringify((value as { kind?: unknown }).kind)}`;
  }
  return undefined;
}
