/*
 * The work of one crypt(3) check, run in a worker thread of the crypt pool
 * (crypt-pool.ts): SHA-crypt, MD5-crypt and DES crypt are computed by
 * synchronous JavaScript, tens of milliseconds for SHA-crypt's default 5000
 * rounds. Returns the computed string; compares nothing (the caller does, in
 * constant time) and keeps no state between tasks.
 */
import md5Crypt from 'apache-md5';
import desCrypt from 'unix-crypt-td-js';
import { encrypt as shaCrypt } from 'unixcrypt';

export type CryptScheme = 'sha-crypt' | 'md5-crypt' | 'des-crypt';

export interface CryptTask {
  readonly scheme: CryptScheme;
  readonly password: string;
  /** The stored crypt string: its salt (and SHA-crypt's rounds) are read from it. */
  readonly stored: string;
}

/** crypt(3) of the task's password with the stored value's salt. */
export function computeCrypt({ scheme, password, stored }: CryptTask): string {
  switch (scheme) {
    case 'sha-crypt':
      // unixcrypt implements Drepper's SHA-crypt; "$6$rounds=N$salt" is everything before the last '$'.
      return shaCrypt(password, stored.slice(0, stored.lastIndexOf('$')));
    case 'md5-crypt':
      return md5Crypt(password, stored);
    case 'des-crypt':
      // Classic crypt(3) reads at most 8 characters of the password, by design of the scheme.
      return desCrypt(password, stored.slice(0, 2));
  }
}

export default computeCrypt;
