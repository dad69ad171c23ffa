/*
 * The recipient list of a relay route (Postfix relay_recipient_maps): who
 * exists on the mailstore behind the route. Parsing the file and matching an
 * address against it; pure, the caller reads the file. Matching ignores case
 * and strips an extension (user+tag falls back to user), as delivery does.
 */
import { parsePath } from '../smtp/address.js';
import { readings } from './local-address.js';

export interface RecipientList {
  /** "local@domain", lower-cased. */
  readonly addresses: ReadonlySet<string>;
  /** Domains listed as "@domain" (every address there), lower-cased. */
  readonly domains: ReadonlySet<string>;
}

/**
 * Parses a list: one address per line, "@domain" for a whole domain, "#"
 * starts a comment (at the start of a line or after white space: "#" is a
 * valid character inside a local part). Strict, because a typo would refuse
 * mail: a bad line throws an Error naming `name:line`. Postfix's "address OK"
 * map lines are refused too, rather than guessed at.
 */
export function parseRecipientList(text: string, name: string): RecipientList {
  const addresses = new Set<string>();
  const domains = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const bad = (why: string): Error =>
      new Error(
        `${name}:${index + 1}: ${/\s/.test(line) ? 'expected one address per line (user@example.net or @example.net)' : why}, got ${JSON.stringify(line)}`,
      );
    // Checked as RCPT would parse it, so every entry is an address a client can send.
    if (line.startsWith('@')) {
      const domain = parsePath(`<postmaster${line}>`, { utf8: true });
      if (!domain.ok || domain.rest !== '') throw bad('expected a domain after "@"');
      domains.add(line.slice(1).toLowerCase());
      continue;
    }
    const parsed = parsePath(`<${line}>`, { utf8: true });
    if (!parsed.ok || parsed.rest !== '' || !parsed.address || parsed.address.sourceRoute) {
      throw bad('expected an address (user@example.net) or a domain (@example.net)');
    }
    addresses.add(parsed.address.address.toLowerCase());
  }
  return { addresses, domains };
}

/**
 * The entry that lets `local@domain` in, or undefined: the address itself,
 * then its local part without extension (longest first, as local delivery
 * tries it), then "@domain".
 */
export function listedEntry(list: RecipientList, local: string, domain: string, delimiters: string): string | undefined {
  const d = domain.toLowerCase();
  for (const { base } of readings(local, delimiters)) {
    const entry = `${base}@${d}`.toLowerCase();
    if (list.addresses.has(entry)) return entry;
  }
  return list.domains.has(d) ? `@${d}` : undefined;
}
