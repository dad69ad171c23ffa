/*
 * qmail-style block lists (badmailfrom, badrcptto, badhelo), pure: no files,
 * no sockets. Exact entries and "@domain" entries are hash lookups, so a list
 * of 100,000 addresses costs one Map probe each; regexes (RE2 syntax, matched
 * in linear time: compilePattern) are compiled once when the list is built,
 * joined in groups so a miss costs one pass per group, and always match the
 * whole value, case-insensitively.
 */
import { type Address, compilePattern, type Pattern } from '../../core/plugin-api/index.js';

export interface ListEntry {
  /** An exact value (or "@domain" in address lists), or a regex source. */
  readonly text: string;
  readonly regex: boolean;
  /** Where the entry was written ("control/badmailfrom:3", "rcpt_to.entries[2]"), for errors. */
  readonly origin: string;
}

/** address: values are mailboxes and "@domain" entries cover a domain; name: values are host names. */
export type ListKind = 'address' | 'name';

/** How an entry is written in files and logs: as given, or "regex:..." for a pattern. */
export function entryText(entry: ListEntry): string {
  return entry.regex ? `regex:${entry.text}` : entry.text;
}

/** A compiled pattern, or why it does not compile. */
function compile(source: string): Pattern | string {
  try {
    return compilePattern(source);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Patterns joined into one alternation, so a miss (the common case) costs one pass per group. */
const GROUP_SIZE = 64;

interface PatternGroup {
  /** Matches when any member does. */
  readonly any: Pattern;
  readonly members: readonly { readonly re: Pattern; readonly entry: ListEntry }[];
}

export class BlockList {
  private readonly exact = new Map<string, ListEntry>();
  private readonly domains = new Map<string, ListEntry>();
  private readonly groups: PatternGroup[] = [];
  private patternCount = 0;

  /** Throws an Error naming the entry's origin if a regex does not compile or an entry is empty. */
  constructor(
    readonly kind: ListKind,
    entries: Iterable<ListEntry>,
  ) {
    const patterns: PatternGroup['members'][number][] = [];
    for (const entry of entries) {
      if (entry.regex) {
        const re = entry.text === '' ? 'empty pattern' : compile(entry.text);
        if (typeof re === 'string') {
          throw new Error(`${entry.origin}: invalid regular expression "${entryText(entry)}": ${re}`);
        }
        patterns.push({ re, entry });
        continue;
      }
      const value = entry.text.trim().toLowerCase();
      if (value === '' || (kind === 'address' && value === '@')) {
        throw new Error(`${entry.origin}: empty entry "${entry.text}"`);
      }
      // First entry wins, so the decision names the line an admin wrote first.
      const table = kind === 'address' && value.startsWith('@') ? this.domains : this.exact;
      const key = table === this.domains ? value.slice(1) : value;
      if (!table.has(key)) table.set(key, entry);
    }
    // Each pattern compiled alone first, so an error names its entry; joining them is safe as RE2
    // has no backreferences to renumber. Groups stay small so no one program grows large.
    this.patternCount = patterns.length;
    for (let i = 0; i < patterns.length; i += GROUP_SIZE) {
      const members = patterns.slice(i, i + GROUP_SIZE);
      const any = members.length === 1 ? members[0]!.re : compilePattern(members.map((m) => `(?:${m.re.source})`).join('|'));
      this.groups.push({ any, members });
    }
  }

  get size(): number {
    return this.exact.size + this.domains.size + this.patternCount;
  }

  /** The entry that blocks `value` (a mailbox or a host name), or undefined. */
  match(value: string): ListEntry | undefined {
    const v = value.toLowerCase();
    const hit = this.exact.get(v);
    if (hit) return hit;
    if (this.kind === 'address' && this.domains.size) {
      const at = v.lastIndexOf('@');
      const byDomain = at >= 0 ? this.domains.get(v.slice(at + 1)) : undefined;
      if (byDomain) return byDomain;
    }
    // Only a group that matches is searched for the entry (the decision names it), in list
    // order: the first pattern written wins, as with one test per pattern.
    for (const { any, members } of this.groups) {
      if (!any.matches(v)) continue;
      for (const { re, entry } of members) if (re.matches(v)) return entry;
    }
    return undefined;
  }
}

/**
 * The mailbox a list is checked against: local@domain, with a quoted local part
 * unquoted, so "<\"spam\"@example.com>" cannot slip past an entry spam@example.com
 * (RFC 5321 4.1.2: both name the same mailbox). "postmaster" stays as is.
 */
export function mailbox(address: Address): string {
  if (!address.quoted || address.domain === '') return address.address;
  const local = address.local.slice(1, -1).replace(/\\(.)/g, '$1');
  return `${local}@${address.domain}`;
}

/**
 * Entries of a list file: one per line, blank lines ignored, "#" starts a
 * comment at the start of a line or after white space (a "#" inside an address
 * or a pattern, as in a#b@example.com, is part of it). "regex:..." is a pattern.
 */
export function parseListFile(text: string, file: string): ListEntry[] {
  const entries: ListEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/(^|\s)#.*/, '').trim();
    if (!line) continue;
    const origin = `${file}:${i + 1}`;
    if (line.startsWith('regex:')) entries.push({ text: line.slice('regex:'.length).trim(), regex: true, origin });
    else entries.push({ text: line, regex: false, origin });
  }
  return entries;
}
