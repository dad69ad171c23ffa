/*
 * Password checks for the hash schemes user directories hold: argon2 and bcrypt
 * (bare or as Dovecot's {ARGON2ID}/{BLF-CRYPT}), crypt(3) SHA-crypt ("$6$"/"$5$",
 * bare or as {SHA512-CRYPT}/{SHA256-CRYPT}/{CRYPT}), MD5-crypt ("$1$") and DES
 * crypt under {CRYPT}, LDAP's {SHA}/{SSHA}/{SSHA256}/{SSHA512}, and cleartext
 * ({PLAIN}, {CLEARTEXT}) only when the caller allows it. Comparisons are
 * constant-time; a value in no known scheme never matches. The crypt(3) schemes
 * are computed in worker threads (crypt-pool.ts): synchronous JavaScript there,
 * they would block every session meanwhile. CRAM-MD5 cannot use a hash: it needs
 * the cleartext secret on the server side.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type PasswordScheme =
  | 'argon2'
  | 'bcrypt'
  | 'sha-crypt'
  | 'md5-crypt'
  | 'des-crypt'
  | 'sha'
  | 'ssha'
  | 'sha256'
  | 'ssha256'
  | 'sha512'
  | 'ssha512'
  | 'plain';

/** What the caller's directory allows; the defaults are the safe ones. */
export interface PasswordPolicy {
  /** Compare {PLAIN}/{CLEARTEXT} values (and bare ones, with `defaultScheme: 'PLAIN'`). Default false. */
  readonly plaintext?: boolean;
  /**
   * How a value without a {SCHEME} prefix and not in a "$id$" form is read, like
   * Dovecot's default_pass_scheme: 'CRYPT' (DES crypt) or 'PLAIN' (needs `plaintext`).
   * Default: such a value never matches.
   */
  readonly defaultScheme?: 'PLAIN' | 'CRYPT';
}

/**
 * SHA-crypt's rounds are stored with the hash (up to 999,999,999 per Drepper's spec)
 * and each check holds a pool thread while it runs: a hash asking for more than this is
 * refused rather than tying up the pool. It covers every common default (glibc 5000, passlib 656000).
 */
export const MAX_SHA_CRYPT_ROUNDS = 1_000_000;

const CRYPT64 = '[./0-9A-Za-z]';
const ARGON2 = /^\$argon2(id|i|d)\$/;
const BCRYPT = new RegExp(`^\\$2[aby]\\$\\d\\d\\$${CRYPT64}{53}$`);
// Drepper: salt up to 16 characters, stopping at '$'; 43 (SHA-256) or 86 (SHA-512) characters of hash.
const SHA256_CRYPT = new RegExp(`^\\$5\\$(?:rounds=(\\d{1,9})\\$)?[^$\\n]{0,16}\\$${CRYPT64}{43}$`);
const SHA512_CRYPT = new RegExp(`^\\$6\\$(?:rounds=(\\d{1,9})\\$)?[^$\\n]{0,16}\\$${CRYPT64}{86}$`);
const MD5_CRYPT = new RegExp(`^\\$1\\$[^$\\n]{0,8}\\$${CRYPT64}{22}$`);
const DES_CRYPT = new RegExp(`^${CRYPT64}{13}$`);
const BASE64 = /^[A-Za-z0-9+/]+=*$/;

/** LDAP/Dovecot digest schemes: the base64 of the digest, followed by the salt for the salted ones. */
const DIGESTS: Record<string, { scheme: PasswordScheme; algorithm: string; length: number; salted: boolean }> = {
  SHA: { scheme: 'sha', algorithm: 'sha1', length: 20, salted: false },
  SSHA: { scheme: 'ssha', algorithm: 'sha1', length: 20, salted: true },
  SHA256: { scheme: 'sha256', algorithm: 'sha256', length: 32, salted: false },
  SSHA256: { scheme: 'ssha256', algorithm: 'sha256', length: 32, salted: true },
  SHA512: { scheme: 'sha512', algorithm: 'sha512', length: 64, salted: false },
  SSHA512: { scheme: 'ssha512', algorithm: 'sha512', length: 64, salted: true },
};

interface Parsed {
  readonly scheme: PasswordScheme;
  /** The value the scheme's check reads: the crypt string, the base64 digest, or the cleartext. */
  readonly payload: string;
  readonly digest?: (typeof DIGESTS)[string];
}

/** A bare "$id$" crypt form, or undefined. */
function cryptForm(value: string): PasswordScheme | undefined {
  if (ARGON2.test(value)) return 'argon2';
  if (BCRYPT.test(value)) return 'bcrypt';
  const sha = SHA512_CRYPT.exec(value) ?? SHA256_CRYPT.exec(value);
  if (sha) return sha[1] === undefined || Number(sha[1]) <= MAX_SHA_CRYPT_ROUNDS ? 'sha-crypt' : undefined;
  if (MD5_CRYPT.test(value)) return 'md5-crypt';
  return undefined;
}

function parse(stored: string, policy: PasswordPolicy): Parsed | undefined {
  const prefixed = /^\{([A-Za-z0-9.-]{1,20})\}/.exec(stored);
  if (!prefixed) {
    const scheme = cryptForm(stored);
    if (scheme) return { scheme, payload: stored };
    if (policy.defaultScheme === 'CRYPT' && DES_CRYPT.test(stored)) return { scheme: 'des-crypt', payload: stored };
    if (policy.defaultScheme === 'PLAIN' && policy.plaintext) return { scheme: 'plain', payload: stored };
    return undefined;
  }
  const name = prefixed[1]!.toUpperCase();
  const payload = stored.slice(prefixed[0].length);
  const crypt = cryptForm(payload);
  switch (name) {
    case 'ARGON2ID':
    case 'ARGON2I':
      return crypt === 'argon2' ? { scheme: crypt, payload } : undefined;
    case 'BLF-CRYPT':
      return crypt === 'bcrypt' ? { scheme: crypt, payload } : undefined;
    case 'SHA512-CRYPT':
      return SHA512_CRYPT.test(payload) && crypt === 'sha-crypt' ? { scheme: crypt, payload } : undefined;
    case 'SHA256-CRYPT':
      return SHA256_CRYPT.test(payload) && crypt === 'sha-crypt' ? { scheme: crypt, payload } : undefined;
    case 'MD5-CRYPT':
      return crypt === 'md5-crypt' ? { scheme: crypt, payload } : undefined;
    case 'CRYPT':
      if (crypt && crypt !== 'argon2') return { scheme: crypt, payload };
      return DES_CRYPT.test(payload) ? { scheme: 'des-crypt', payload } : undefined;
    case 'PLAIN':
    case 'CLEARTEXT':
      return policy.plaintext ? { scheme: 'plain', payload } : undefined;
  }
  const digest = DIGESTS[name];
  if (!digest || !BASE64.test(payload)) return undefined;
  const length = Buffer.from(payload, 'base64').length;
  if (digest.salted ? length <= digest.length : length !== digest.length) return undefined;
  return { scheme: digest.scheme, payload, digest };
}

/** The scheme of a stored value, or undefined when it is in none that this module checks (or that `policy` allows). */
export function passwordScheme(stored: string, policy: PasswordPolicy = {}): PasswordScheme | undefined {
  return parse(stored, policy)?.scheme;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function sameText(a: string, b: string): boolean {
  return sameBytes(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Whether `password` matches `stored`; false for a value in no known or allowed scheme. */
export async function verifyPassword(stored: string, password: string, policy: PasswordPolicy = {}): Promise<boolean> {
  const parsed = parse(stored, policy);
  if (!parsed) return false;
  const { scheme, payload } = parsed;
  switch (scheme) {
    // Each scheme's library is loaded at its first check: every plugin imports this
    // module through the plugin API, and most gateways check no passwords.
    case 'argon2': {
      const { verify } = await import('@node-rs/argon2');
      return verify(payload, password).catch(() => false);
    }
    case 'bcrypt': {
      const { default: bcrypt } = await import('bcryptjs');
      // bcryptjs reads "$2y$" (PHP, htpasswd, Dovecot) as the "$2b$" it is.
      return bcrypt.compare(password, payload.replace(/^\$2y\$/, '$2b$'));
    }
    case 'sha-crypt':
    case 'md5-crypt':
    case 'des-crypt': {
      const { cryptOffThread } = await import('./crypt-pool.js');
      return sameText(await cryptOffThread({ scheme, password, stored: payload }), payload);
    }
    case 'plain':
      return sameText(payload, password);
    default: {
      const digest = parsed.digest!;
      const raw = Buffer.from(payload, 'base64');
      const computed = createHash(digest.algorithm).update(password, 'utf8').update(raw.subarray(digest.length)).digest();
      return sameBytes(computed, raw.subarray(0, digest.length));
    }
  }
}

/** RFC 2195: the client's digest is HMAC-MD5(secret, challenge) in lower-case hex. */
export function verifyCramMd5(secret: string, challenge: string, response: string): boolean {
  const expected = createHmac('md5', secret).update(challenge).digest('hex');
  return sameBytes(Buffer.from(expected), Buffer.from(response.toLowerCase()));
}
