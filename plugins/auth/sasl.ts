/*
 * The SASL exchanges of SMTP AUTH (RFC 4954) for PLAIN (RFC 4616), LOGIN
 * (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195): decoding, and the
 * replies for malformed input. Talks to the client only through `ask`, so it
 * is tested without sockets.
 */
import { randomBytes } from 'node:crypto';
import type { Credentials } from '../../core/plugin-api/index.js';

export type SaslOutcome =
  | { readonly kind: 'credentials'; readonly credentials: Credentials }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'malformed'; readonly why: string };

/** Sends a 334 challenge (base64 text, may be empty) and resolves with the client's line. */
export type Ask = (challenge: string) => Promise<string>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/**
 * RFC 4616 2: the fields are UTF-8. Buffer's decoder would turn each invalid
 * sequence into U+FFFD, so different octets would reach the user directory as
 * the same name or password; fatal makes them malformed instead, and ignoreBOM
 * keeps a leading U+FEFF as the client sent it.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(text: string): string | undefined {
  if (text === '=') return ''; // RFC 4954 4: an empty initial response
  if (!BASE64.test(text)) return undefined;
  try {
    return UTF8.decode(Buffer.from(text, 'base64'));
  } catch {
    return undefined;
  }
}

async function response(initial: string | undefined, ask: Ask, challenge: string): Promise<string | 'cancel' | undefined> {
  const line = initial ?? (await ask(challenge));
  if (line === '*') return 'cancel';
  return decode(line.trim());
}

export async function plain(initial: string | undefined, ask: Ask): Promise<SaslOutcome> {
  const text = await response(initial, ask, '');
  if (text === 'cancel') return { kind: 'cancelled' };
  if (text === undefined) return { kind: 'malformed', why: 'not base64 of UTF-8' };
  const parts = text.split('\0');
  if (parts.length !== 3 || !parts[1]) return { kind: 'malformed', why: 'PLAIN needs authzid NUL authcid NUL password' };
  const [authzid, username, password] = parts as [string, string, string];
  // Acting for another identity is not supported: authzid must be empty or the user itself.
  if (authzid && authzid !== username) return { kind: 'malformed', why: 'authorization identity differs' };
  return { kind: 'credentials', credentials: { mechanism: 'PLAIN', username, password } };
}

export async function login(initial: string | undefined, ask: Ask): Promise<SaslOutcome> {
  const username = await response(initial, ask, Buffer.from('Username:').toString('base64'));
  if (username === 'cancel') return { kind: 'cancelled' };
  if (!username) return { kind: 'malformed', why: 'user name empty or not base64 of UTF-8' };
  const password = await response(undefined, ask, Buffer.from('Password:').toString('base64'));
  if (password === 'cancel') return { kind: 'cancelled' };
  if (password === undefined) return { kind: 'malformed', why: 'password not base64 of UTF-8' };
  return { kind: 'credentials', credentials: { mechanism: 'LOGIN', username, password } };
}

/** RFC 2195: the challenge is a unique msg-id-like string. */
export function cramChallenge(hostname: string): string {
  return `<${randomBytes(8).readBigUInt64BE().toString()}.${Date.now()}@${hostname}>`;
}

export async function cramMd5(initial: string | undefined, ask: Ask, challenge: string): Promise<SaslOutcome> {
  // CRAM-MD5 has no initial response (RFC 4954 4: the server answers 501 to one).
  if (initial !== undefined) return { kind: 'malformed', why: 'CRAM-MD5 takes no initial response' };
  const text = await response(undefined, ask, Buffer.from(challenge).toString('base64'));
  if (text === 'cancel') return { kind: 'cancelled' };
  const m = text === undefined ? null : /^(\S+) ([0-9a-fA-F]{32})$/.exec(text);
  if (!m) return { kind: 'malformed', why: 'CRAM-MD5 response is not "user digest"' };
  return {
    kind: 'credentials',
    credentials: { mechanism: 'CRAM-MD5', username: m[1]!, challenge, response: m[2]! },
  };
}
