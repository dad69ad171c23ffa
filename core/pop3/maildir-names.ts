/*
 * Maildir file names as the POP3 server reads and writes them: the unique
 * part (the UID, stable across sessions and the move from new/ to cur/), the
 * size fields Dovecot and Courier put after it (",S=" stored octets, ",W="
 * octets in CRLF form) and the info part after ":2,". Pure.
 */
import { createHash } from 'node:crypto';

export interface MaildirName {
  /** The unique part: everything before the first "," or ":". */
  readonly base: string;
  /** The CRLF size cached in the name (",W="), if there. */
  readonly crlfSize: number | undefined;
  /** The name without its info part (base and fields). */
  readonly stem: string;
  /** The info part after ":" ("2,S"), or undefined. */
  readonly info: string | undefined;
}

export function parseMaildirName(name: string): MaildirName {
  const colon = name.indexOf(':');
  const stem = colon < 0 ? name : name.slice(0, colon);
  const info = colon < 0 ? undefined : name.slice(colon + 1);
  const comma = stem.indexOf(',');
  const base = comma < 0 ? stem : stem.slice(0, comma);
  let crlfSize: number | undefined;
  if (comma >= 0) {
    for (const field of stem.slice(comma + 1).split(',')) {
      const m = /^W=([0-9]{1,15})$/.exec(field);
      if (m) crlfSize = Number(m[1]);
    }
  }
  return { base, crlfSize, stem, info };
}

/** The name in cur/ with the CRLF size cached: "<stem>,W=<size>:<info>" (info "2," if it had none). */
export function nameWithSize(parsed: MaildirName, size: number): string {
  return `${parsed.stem},W=${size}:${parsed.info ?? '2,'}`;
}

/**
 * The UIDL of a message (RFC 1939 7): 1 to 70 characters from 0x21 to 0x7E. The unique
 * part is that when it fits; a longer one (a long host name) or one with other characters
 * becomes 40 hex digits of its SHA-1, which is as stable.
 */
export function uidOf(base: string): string {
  if (base.length >= 1 && base.length <= 70 && /^[\x21-\x7e]+$/.test(base)) return base;
  return createHash('sha1').update(base).digest('hex');
}

/** Sort key: the seconds the name starts with (delivery order), then the name. */
export function compareNames(a: string, b: string): number {
  const sa = Number.parseInt(a, 10);
  const sb = Number.parseInt(b, 10);
  if (Number.isFinite(sa) && Number.isFinite(sb) && sa !== sb) return sa - sb;
  return a < b ? -1 : a > b ? 1 : 0;
}
