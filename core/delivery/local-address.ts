/*
 * Resolution of a recipient in a local domain, qmail style: aliases (like
 * ~alias/.qmail-* or Postfix's aliases(5)), extension addresses (user-ext falls
 * back to user), and the postmaster/abuse addresses every domain must accept
 * (RFC 5321 4.5.1, RFC 2142). Pure: the caller says which domains are local and
 * which users exist; nothing here touches the file system.
 */
import { join } from 'node:path';
import { parse } from 'yaml';

/** Keys: "local" (any local domain) or "local@domain"; values: addresses. */
export interface AliasTable {
  readonly [key: string]: readonly string[];
}

export interface LocalResolutionOptions {
  readonly aliases: AliasTable;
  /** Extension delimiters, e.g. "-+"; "" disables extensions. */
  readonly delimiters: string;
  /** Where postmaster@ and abuse@ go (unless aliased). */
  readonly postmaster: string;
  /** The caller decides (directory / existing Maildir). */
  readonly userExists: (local: string, domain: string) => boolean;
  /** What the directory says about an existing user beyond "exists"; undefined: a plain mailbox. */
  readonly userDetails?: (local: string, domain: string) => UserDetails | undefined;
  /** Alias expansion depth (default 10); loops must not hang. */
  readonly maxDepth?: number;
}

/** A directory's user record, as far as resolution cares. */
export interface UserDetails {
  /** A disabled account: its mail fails (5.2.1). */
  readonly disabled?: boolean;
  /** Addresses that get a copy, resolved like alias targets (local ones again, others forwarded). */
  readonly forwards?: readonly string[];
  /** With forwards: the mailbox gets a copy too (default true). Without forwards it always does. */
  readonly deliverLocally?: boolean;
}

export type LocalTarget =
  | { readonly kind: 'mailbox'; readonly local: string; readonly domain: string; readonly extension?: string }
  /** An alias target outside local handling (the caller re-routes it). */
  | { readonly kind: 'forward'; readonly address: string }
  /** No such user: the caller bounces 5.1.1. */
  | { readonly kind: 'unknown'; readonly address: string }
  /** Alias loop or expansion too deep: the caller bounces 5.4.6. */
  | { readonly kind: 'loop'; readonly address: string }
  /** A disabled account: refused at RCPT like an unknown user, failed 5.2.1 in delivery. */
  | { readonly kind: 'disabled'; readonly address: string };

const DEFAULT_MAX_DEPTH = 10;
/** Role addresses a domain must accept even with no such user (RFC 5321 4.5.1, RFC 2142). */
const ROLE_LOCALS: ReadonlySet<string> = new Set(['postmaster', 'abuse']);

interface Mailbox {
  readonly local: string;
  /** Lower-cased. */
  readonly domain: string;
}

/** Splits at the last "@" (a quoted local part may contain one); a bare name lives in `domain`. */
function splitAddress(address: string, domain: string): Mailbox {
  const at = address.lastIndexOf('@');
  if (at === -1) return { local: address, domain: domain.toLowerCase() };
  return { local: address.slice(0, at), domain: address.slice(at + 1).toLowerCase() };
}

const show = (m: Mailbox): string => `${m.local}@${m.domain}`;

/**
 * Folded tables by the table they came from. A table is replaced, never changed,
 * when the file is re-read, so RCPT checks and deliveries fold it once, not once
 * per recipient.
 */
const foldedTables = new WeakMap<AliasTable, Map<string, readonly string[]>>();

/** Alias keys folded to lower case; keys that differ only by case pool their targets. */
function foldAliases(table: AliasTable): Map<string, readonly string[]> {
  const cached = foldedTables.get(table);
  if (cached) return cached;
  const folded = new Map<string, readonly string[]>();
  for (const [key, targets] of Object.entries(table)) {
    if (targets.length === 0) continue; // an empty alias would swallow mail silently: treat as absent
    const k = key.toLowerCase();
    folded.set(k, [...(folded.get(k) ?? []), ...targets]);
  }
  foldedTables.set(table, folded);
  return folded;
}

/**
 * The ways to read a local part: as written, then user + extension at each
 * delimiter from the right (qmail-getpw's longest-user-first), so "a-b-c" tries
 * "a-b-c", then "a-b" with extension "c", then "a" with extension "b-c".
 */
export function readings(local: string, delimiters: string): { base: string; extension?: string }[] {
  const out: { base: string; extension?: string }[] = [{ base: local }];
  if (delimiters === '') return out;
  for (let i = local.length - 1; i > 0; i--) {
    if (delimiters.includes(local[i]!)) out.push({ base: local.slice(0, i), extension: local.slice(i + 1) });
  }
  return out;
}

/**
 * Resolves `address` to the places its mail goes. For each reading of the local
 * part (see readings), first match wins: an alias ("local@domain" before
 * "local"), an existing user, the postmaster default for postmaster/abuse.
 * Alias targets in local domains are resolved again; others become 'forward'.
 * Extensions are not carried through aliases. A user's forwards are followed
 * like alias targets, and its mailbox kept unless deliverLocally is false; a
 * disabled user is a 'disabled' target. An alias listing its own name
 * delivers to that mailbox (the sendmail idiom `bob: bob, bob@backup.example`);
 * any longer cycle, or more than maxDepth expansions, is a 'loop'.
 */
export function resolveLocal(
  address: string,
  isLocalDomain: (domain: string) => boolean,
  o: LocalResolutionOptions,
): LocalTarget[] {
  const aliases = foldAliases(o.aliases);
  const maxDepth = o.maxDepth ?? DEFAULT_MAX_DEPTH;
  const results = new Map<string, LocalTarget>();
  const add = (key: string, target: LocalTarget): void => {
    if (!results.has(key)) results.set(key, target);
  };
  // Depth-first: an address on the current path again is a loop; one already
  // finished via another branch has contributed its targets (and is a duplicate).
  const onPath = new Set<string>();
  const finished = new Set<string>();

  const lookup = (m: Mailbox): readonly string[] | undefined =>
    aliases.get(`${m.local}@${m.domain}`.toLowerCase()) ?? aliases.get(m.local.toLowerCase());

  const mailbox = (m: Mailbox, extension?: string): void => {
    const target: LocalTarget =
      extension === undefined
        ? { kind: 'mailbox', local: m.local, domain: m.domain }
        : { kind: 'mailbox', local: m.local, domain: m.domain, extension };
    add(`mailbox:${show(m)}:${extension ?? ''}`, target);
  };

  /** An existing user: its mailbox, its forwards, or nothing but the note that it is disabled. */
  const user = (m: Mailbox, extension: string | undefined, depth: number): void => {
    const details = o.userDetails?.(m.local, m.domain);
    if (details?.disabled) {
      add(`disabled:${show(m)}`, { kind: 'disabled', address: show(m) });
      return;
    }
    const forwards = details?.forwards ?? [];
    let keep = forwards.length === 0 || details?.deliverLocally !== false;
    for (const f of forwards) {
      const next = splitAddress(f, m.domain);
      // A forward to oneself keeps the copy here, as an alias to its own name does.
      if (next.domain === m.domain && next.local.toLowerCase() === m.local.toLowerCase()) keep = true;
      else visit(next, depth + 1);
    }
    if (keep) mailbox(m, extension);
  };

  const visit = (m: Mailbox, depth: number): void => {
    const key = show(m);
    if (!isLocalDomain(m.domain)) {
      add(`forward:${key}`, { kind: 'forward', address: key });
      return;
    }
    if (onPath.has(key) || depth > maxDepth) {
      add(`loop:${key}`, { kind: 'loop', address: key });
      return;
    }
    if (finished.has(key)) return;
    onPath.add(key);
    expand(m, depth);
    onPath.delete(key);
    finished.add(key);
  };

  const expand = (m: Mailbox, depth: number): void => {
    for (const { base, extension } of readings(m.local, o.delimiters)) {
      const owner: Mailbox = { local: base, domain: m.domain };
      const targets = lookup(owner);
      if (targets) {
        for (const t of targets) {
          const next = splitAddress(t, m.domain);
          const self = next.domain === owner.domain && next.local.toLowerCase() === owner.local.toLowerCase();
          if (!self) visit(next, depth + 1);
          else if (o.userExists(next.local, next.domain)) user(next, undefined, depth);
          else add(`unknown:${show(next)}`, { kind: 'unknown', address: show(next) });
        }
        return;
      }
      if (o.userExists(base, m.domain)) {
        user(owner, extension, depth);
        return;
      }
      if (ROLE_LOCALS.has(base.toLowerCase())) {
        visit(splitAddress(o.postmaster, m.domain), depth + 1);
        return;
      }
    }
    add(`unknown:${show(m)}`, { kind: 'unknown', address: show(m) });
  };

  if (!address.includes('@')) return [{ kind: 'unknown', address }];
  visit(splitAddress(address, ''), 0);
  return [...results.values()];
}

/** A local part or domain that cannot name a mailbox directory; it never will (5.1.3, not a retry). */
export class UnsafeMailboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeMailboxError';
  }
}

/**
 * `${root}/${domain}/${local}/Maildir`, domain lower-cased. Throws an
 * UnsafeMailboxError for a local part (or domain) that could leave root or
 * name a hidden or special entry: empty, containing "/" or NUL, or starting
 * with "." (which covers "." and "..").
 */
export function mailboxPath(root: string, local: string, domain: string): string {
  const d = domain.toLowerCase();
  for (const [what, part] of [
    ['local part', local],
    ['domain', d],
  ] as const) {
    if (part === '' || part.includes('/') || part.includes('\0') || part.startsWith('.')) {
      throw new UnsafeMailboxError(`unsafe ${what} for a mailbox path: ${JSON.stringify(part)}`);
    }
  }
  return join(root, d, local, 'Maildir');
}

/** A YAML value for an error message; anchors can make a mapping contain itself, which JSON.stringify refuses. */
function shown(value: unknown): string {
  try {
    return String(JSON.stringify(value));
  } catch {
    return Array.isArray(value) ? 'a list' : 'a mapping';
  }
}

/**
 * Parses an aliases file: a YAML mapping from "local" or "local@domain" to one
 * address or a list of them. Strict, because a mistyped alias loses mail: each
 * target must be one address (no spaces or commas: use a list), programs and
 * files ("|cmd", "/path") are not supported, and keys may not repeat, even in
 * another case.
 */
export function parseAliasesYaml(text: string): AliasTable {
  return aliasTable(parse(text));
}

/** A wrong entry of an aliases file; `key` is the alias it is about (absent: the whole file). */
export class AliasError extends Error {
  constructor(
    readonly key: string | undefined,
    readonly problem: string,
  ) {
    super(key === undefined ? `aliases: ${problem}` : `aliases: ${JSON.stringify(key)}: ${problem}`);
  }
}

/** The table of an aliases file already read as YAML (the config loader reads it, to point into it). */
export function aliasTable(doc: unknown): AliasTable {
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new AliasError(undefined, 'expected a mapping of name: address(es)');
  const entries: [string, readonly string[]][] = [];
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(doc)) {
    const bad = (why: string): Error => new AliasError(key, why);
    const at = key.lastIndexOf('@');
    if (key === '' || at === 0 || at === key.length - 1) throw bad('not a name or name@domain');
    const earlier = seen.get(key.toLowerCase());
    if (earlier !== undefined) throw bad(`same name as ${JSON.stringify(earlier)} (names ignore case)`);
    seen.set(key.toLowerCase(), key);

    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.length === 0) throw bad('no targets');
    const targets: string[] = [];
    for (const t of values) {
      if (typeof t !== 'string') throw bad(`target ${shown(t)} is not a string`);
      if (t === '' || /[\s,]/.test(t)) throw bad(`target ${JSON.stringify(t)} is not one address (use a list)`);
      if (t.startsWith('|') || t.startsWith('/'))
        throw bad(`target ${JSON.stringify(t)}: program and file targets are not supported`);
      if (t.startsWith('@') || t.endsWith('@')) throw bad(`target ${JSON.stringify(t)} is not an address`);
      targets.push(t);
    }
    entries.push([key, targets]);
  }
  // fromEntries defines own properties, so even a key "__proto__" stays a plain entry.
  return Object.fromEntries(entries);
}
