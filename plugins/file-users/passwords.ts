/*
 * Password checks for the hash schemes a users file may hold: argon2id
 * ("$argon2id$..."), bcrypt ("$2b$...", "$2y$...", "$2a$..."), salted SHA-1
 * ("{SSHA}base64", as OpenLDAP and Dovecot write it) and "{PLAIN}cleartext".
 * Comparisons of secrets are constant-time. CRAM-MD5 cannot use a hash: it
 * needs the cleartext secret on the server side.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { verify as verifyArgon2 } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';

export type Scheme = 'argon2' | 'bcrypt' | 'ssha' | 'plain';

export function schemeOf(stored: string): Scheme | undefined {
  if (/^\$argon2(id|i|d)\$/.test(stored)) return 'argon2';
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(stored)) return 'bcrypt';
  if (/^\{SSHA\}[A-Za-z0-9+/]+=*$/i.test(stored) && Buffer.from(stored.slice(6), 'base64').length > 20) return 'ssha';
  if (stored.startsWith('{PLAIN}')) return 'plain';
  return undefined;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  switch (schemeOf(stored)) {
    case 'argon2':
      return verifyArgon2(stored, password).catch(() => false);
    case 'bcrypt':
      // bcryptjs reads "$2y$" (PHP, htpasswd) as the "$2b$" it is.
      return bcrypt.compare(password, stored.replace(/^\$2y\$/, '$2b$'));
    case 'ssha': {
      const raw = Buffer.from(stored.slice(6), 'base64');
      const digest = raw.subarray(0, 20);
      const salt = raw.subarray(20);
      const computed = createHash('sha1').update(password, 'utf8').update(salt).digest();
      return sameBytes(computed, digest);
    }
    case 'plain':
      return sameBytes(Buffer.from(stored.slice(7), 'utf8'), Buffer.from(password, 'utf8'));
    default:
      return false;
  }
}

/** RFC 2195: the client's digest is HMAC-MD5(secret, challenge) in lower-case hex. */
export function verifyCramMd5(secret: string, challenge: string, response: string): boolean {
  const expected = createHmac('md5', secret).update(challenge).digest('hex');
  return sameBytes(Buffer.from(expected), Buffer.from(response.toLowerCase()));
}
