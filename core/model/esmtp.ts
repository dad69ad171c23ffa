/*
 * ESMTP parameters of MAIL FROM and RCPT TO (RFC 1869, RFC 5321 4.1.2) as the
 * engine parsed them. The parser is core/smtp/command.ts.
 */

/** ESMTP parameters by upper-cased keyword; a keyword without "=value" maps to true. */
export type EsmtpParameters = ReadonlyMap<string, string | true>;
