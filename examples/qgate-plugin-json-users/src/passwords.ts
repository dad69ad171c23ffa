/*
 * Password hashes for the users file: scrypt from node:crypto (RFC 7914), in a
 * PHC-style string "$scrypt$ln=15,r=8,p=1$<salt>$<hash>" (base64), so the file
 * never holds a password and no native module is needed. Verification runs on
 * libuv's thread pool and compares in constant time.
 */
import { randomBytes, type ScryptOptions, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

function scrypt(password: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFC'), salt, length, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** Parameters within these bounds only: a hash in the file must not make a login cost minutes or gigabytes. */
function parse(hash: string): { ln: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  const m = FORMAT.exec(hash);
  if (!m) return undefined;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 16 || p < 1 || p > 4) return undefined;
  const key = Buffer.from(m[5]!, 'base64');
  return key.length >= 16 && key.length <= 64 ? { ln, r, p, salt: Buffer.from(m[4]!, 'base64'), key } : undefined;
}

export function isPasswordHash(hash: string): boolean {
  return parse(hash) !== undefined;
}

export async function hashPassword(password: string, ln = 15): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { N: 2 ** ln, r: 8, p: 1, maxmem: 256 * 2 ** ln * 8 });
  return `$scrypt$ln=${ln},r=8,p=1$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const parsed = parse(hash);
  if (!parsed) return false;
  const { ln, r, p, salt, key } = parsed;
  const actual = await scrypt(password, salt, key.length, { N: 2 ** ln, r, p, maxmem: 256 * 2 ** ln * r });
  return timingSafeEqual(actual, key);
}
