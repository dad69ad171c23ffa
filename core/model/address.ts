/*
 * A parsed envelope address (RFC 5321 4.1.2 path), as the SMTP engine hands it
 * to hooks and the delivery engine reads it. Only the shape lives here; the
 * parser is core/smtp/address.ts.
 */

export interface Address {
  /** The local part exactly as written (quoted strings keep their quotes). */
  readonly local: string;
  /** The domain, lower-cased; "" only for the special <postmaster> recipient. */
  readonly domain: string;
  /** local@domain (or "postmaster"). */
  readonly address: string;
  /** True if the local part is a quoted string. */
  readonly quoted: boolean;
  /** RFC 5321 source route (@a,@b:), obsolete; kept so policy can refuse it. */
  readonly sourceRoute?: readonly string[];
}
