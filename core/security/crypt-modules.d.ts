/*
 * Types for the two crypt(3) packages that ship none: MD5-crypt ("$1$", as
 * apache-md5 computes it for "$1$" salts) and the classic DES crypt.
 */
declare module 'apache-md5' {
  /** The full "$1$salt$hash" (or "$apr1$...") string for `password` with the salt of `salt`. */
  export default function md5Crypt(password: string, salt: string): string;
}

declare module 'unix-crypt-td-js' {
  /** The 13-character DES crypt(3) string for `password` with the two-character salt of `salt`. */
  export default function desCrypt(password: string, salt: string): string;
}
