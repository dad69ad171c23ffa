/*
 * One header field of a message (RFC 5322 2.2), unfolded. What the message hook
 * reads from the spool and what plugins add to a transaction.
 */

export interface HeaderField {
  /** Field name as written. */
  readonly name: string;
  /** Unfolded value, without the leading space. */
  readonly value: string;
}
