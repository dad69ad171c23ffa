/*
 * RFC 5321 4.1.2 paths: "<" [source route ":"] local-part "@" domain ">".
 * Pure parsing only; policy (source routes, % hacks, quoted "@") belongs to
 * plugins, so the parse keeps what they need to see. SMTPUTF8 (RFC 6531) allows
 * UTF-8 in local parts and domains only when the client declared it.
 */

import { isIPv6 } from 'node:net';
import type { Address } from '../model/index.js';

export type PathParse =
  | { readonly ok: true; readonly address: Address | null; readonly rest: string }
  | { readonly ok: false; readonly error: 'syntax' | 'utf8'; readonly rest: string };

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;
const ATEXT_UTF8 = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;
const LDH = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const LDH_UTF8 = /^[A-Za-z0-9\u0080-\u{10FFFF}](?:[A-Za-z0-9\u0080-\u{10FFFF}-]*[A-Za-z0-9\u0080-\u{10FFFF}])?$/u;
const NON_ASCII = /[^\x00-\x7f]/;

export function isDomain(text: string, utf8 = false): boolean {
  if (text.length === 0 || text.length > 255) return false;
  const re = utf8 ? LDH_UTF8 : LDH;
  return text.split('.').every((label) => label.length <= 63 && re.test(label));
}

function isAddressLiteral(text: string): boolean {
  if (!text.startsWith('[') || !text.endsWith(']')) return false;
  const inner = text.slice(1, -1);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(inner)) return inner.split('.').every((n) => Number(n) <= 255);
  if (/^IPv6:/i.test(inner)) return isIPv6(inner.slice(5));
  // General-address-literal: Standardized-tag ":" 1*dcontent
  return /^[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+$/.test(inner);
}

function isLocalPart(text: string, utf8: boolean): boolean {
  if (text.length === 0) return false;
  if (text.startsWith('"')) {
    // Quoted-string: qtextSMTP / quoted-pairSMTP, no bare quotes or backslashes inside.
    if (text.length < 2 || !text.endsWith('"')) return false;
    const inner = text.slice(1, -1);
    const re = utf8
      ? /^(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]|\\[\x20-\x7e])*$/u
      : /^(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*$/;
    return re.test(inner);
  }
  const re = utf8 ? ATEXT_UTF8 : ATEXT;
  return text.split('.').every((atom) => re.test(atom));
}

/** Splits local@domain at the last "@" outside a quoted string. */
function splitMailbox(text: string): [string, string] | null {
  let inQuote = false;
  let at = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && inQuote) {
      i++;
    } else if (c === '"') {
      inQuote = !inQuote;
    } else if (c === '@' && !inQuote) {
      at = i;
    }
  }
  if (inQuote || at < 0) return null;
  return [text.slice(0, at), text.slice(at + 1)];
}

export interface PathOptions {
  /** Accept "<>" (reverse-path). */
  readonly allowNull?: boolean;
  /** Accept the bare <postmaster> recipient (RFC 5321 4.5.1). */
  readonly allowPostmaster?: boolean;
  /** SMTPUTF8 was declared: UTF-8 is allowed in the address. */
  readonly utf8?: boolean;
}

/** Finds the end of "<...>" honouring quoted strings, or the first space for a bare address. */
function takePath(text: string): [string, string] | null {
  if (!text.startsWith('<')) {
    const sp = text.indexOf(' ');
    return sp < 0 ? [text, ''] : [text.slice(0, sp), text.slice(sp)];
  }
  let inQuote = false;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && inQuote) i++;
    else if (c === '"') inQuote = !inQuote;
    else if (c === '>' && !inQuote) return [text.slice(1, i), text.slice(i + 1)];
  }
  return null;
}

/**
 * Parses the path at the start of `text` (what follows "FROM:" or "TO:").
 * Accepts the bracket-less form some clients send, as Postfix does.
 */
export function parsePath(text: string, opts: PathOptions = {}): PathParse {
  const taken = takePath(text);
  if (!taken) return { ok: false, error: 'syntax', rest: '' };
  const [inner, rest] = taken;
  if (rest.length > 0 && !rest.startsWith(' ')) return { ok: false, error: 'syntax', rest };
  if (inner === '') {
    return opts.allowNull ? { ok: true, address: null, rest } : { ok: false, error: 'syntax', rest };
  }
  // RFC 5321 4.5.3.1 limits are octets, also for UTF-8 addresses (a string's length counts UTF-16 units).
  if (Buffer.byteLength(inner) > 256) return { ok: false, error: 'syntax', rest };
  const utf8 = opts.utf8 === true;
  if (!utf8 && NON_ASCII.test(inner)) return { ok: false, error: 'utf8', rest };

  let mailbox = inner;
  let sourceRoute: string[] | undefined;
  if (inner.startsWith('@')) {
    const colon = inner.indexOf(':');
    if (colon < 0) return { ok: false, error: 'syntax', rest };
    sourceRoute = inner.slice(0, colon).split(',');
    if (!sourceRoute.every((hop) => hop.startsWith('@') && isDomain(hop.slice(1), utf8))) {
      return { ok: false, error: 'syntax', rest };
    }
    mailbox = inner.slice(colon + 1);
  }

  if (opts.allowPostmaster && mailbox.toLowerCase() === 'postmaster') {
    return { ok: true, address: { local: mailbox, domain: '', address: mailbox, quoted: false }, rest };
  }
  const parts = splitMailbox(mailbox);
  if (!parts) return { ok: false, error: 'syntax', rest };
  const [local, domainRaw] = parts;
  if (Buffer.byteLength(local) > 64 && !local.startsWith('"')) return { ok: false, error: 'syntax', rest };
  if (!isLocalPart(local, utf8)) return { ok: false, error: 'syntax', rest };
  if (!isDomain(domainRaw, utf8) && !isAddressLiteral(domainRaw)) return { ok: false, error: 'syntax', rest };
  const domain = domainRaw.toLowerCase();
  const address: Address = {
    local,
    domain,
    address: `${local}@${domain}`,
    quoted: local.startsWith('"'),
    ...(sourceRoute ? { sourceRoute } : {}),
  };
  return { ok: true, address, rest };
}
