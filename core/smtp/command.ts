/*
 * Splits an SMTP command line into verb and argument, parses the MAIL/RCPT
 * argument into a path plus ESMTP parameters (RFC 5321 4.1.2, RFC 1869), and
 * says whether a line is too long for a command. Pure: the session decides
 * what each outcome means.
 */
import type { Address, EsmtpParameters } from '../model/index.js';
import { parsePath } from './address.js';

export interface CommandLine {
  /** Upper-cased verb ("MAIL"); "" for an empty line. */
  readonly verb: string;
  /** Everything after the verb and its separating space(s). */
  readonly argument: string;
}

/**
 * Verbs and keywords are case-insensitive in ASCII only (RFC 5321 2.4), as
 * Postfix compares them; toUpperCase() alone would make "maıl" MAIL and
 * "ſMTPUTF8" SMTPUTF8 ("ı" and "ſ" upper-case to "I" and "S").
 */
function asciiUpperCase(text: string): string {
  return text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

export function splitCommand(line: string): CommandLine {
  const sp = line.indexOf(' ');
  const verb = asciiUpperCase(sp < 0 ? line : line.slice(0, sp));
  const argument = sp < 0 ? '' : line.slice(sp + 1).trim();
  return { verb, argument };
}

/** RFC 4954 4: AUTH command lines and SASL responses may be 12,288 octets. */
export const MAX_AUTH_LINE = 12_288;

/**
 * Is this line (without its CRLF) longer than `limit` octets with it (RFC 5321
 * 4.5.3.1.4: 512)? An AUTH line may be MAX_AUTH_LINE long, or `limit` if that
 * is more.
 */
export function commandTooLong(line: string, limit: number): boolean {
  const octets = Buffer.byteLength(line) + 2;
  return octets > (isAuthLine(line) ? Math.max(limit, MAX_AUTH_LINE) : limit);
}

function isAuthLine(line: string): boolean {
  return line.length > 5 && line[4] === ' ' && line.slice(0, 4).toUpperCase() === 'AUTH';
}

export type PathCommandParse =
  | { readonly ok: true; readonly address: Address | null; readonly parameters: EsmtpParameters }
  | { readonly ok: false; readonly error: 'syntax' | 'address' | 'utf8' | 'parameter'; readonly detail?: string };

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+$/u;

export function parseParameters(text: string): Map<string, string | true> | string {
  const params = new Map<string, string | true>();
  for (const token of text.split(' ')) {
    if (token === '') continue;
    const eq = token.indexOf('=');
    const keyword = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? true : token.slice(eq + 1);
    if (!KEYWORD.test(keyword) || (value !== true && !VALUE.test(value))) return token;
    params.set(asciiUpperCase(keyword), value);
  }
  return params;
}

/**
 * Parses "FROM:<path> params" or "TO:<path> params". `prefix` is "FROM" or "TO".
 * SMTPUTF8 in the parameters of MAIL enables UTF-8 for that transaction
 * (RFC 6531 3.4); for RCPT pass `utf8` from the transaction.
 */
export function parsePathCommand(argument: string, prefix: 'FROM' | 'TO', opts: { utf8?: boolean } = {}): PathCommandParse {
  const colon = argument.indexOf(':');
  if (colon < 0 || argument.slice(0, colon).trim().toUpperCase() !== prefix) return { ok: false, error: 'syntax' };
  const afterColon = argument.slice(colon + 1).replace(/^ +/, '');
  if (afterColon === '') return { ok: false, error: 'syntax' };
  // The parameters follow the path, but SMTPUTF8 among them governs the path (RFC 6531 3.4):
  // parse permissively first, then hold the path to what was declared.
  const path = parsePath(afterColon, { allowNull: prefix === 'FROM', allowPostmaster: prefix === 'TO', utf8: true });
  if (!path.ok) return { ok: false, error: 'address' };
  const parameters = parseParameters(path.rest.trim());
  if (typeof parameters === 'string') return { ok: false, error: 'parameter', detail: parameters };
  const utf8 = opts.utf8 === true || (prefix === 'FROM' && parameters.has('SMTPUTF8'));
  if (!utf8) {
    const strict = parsePath(afterColon, { allowNull: prefix === 'FROM', allowPostmaster: prefix === 'TO' });
    if (!strict.ok) return { ok: false, error: strict.error === 'utf8' ? 'utf8' : 'address' };
  }
  return { ok: true, address: path.address, parameters };
}
