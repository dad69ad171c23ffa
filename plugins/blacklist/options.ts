/*
 * blacklist options: three lists (qmail badmailfrom, badrcptto/morebadrcptto,
 * badhelo), each with entries from YAML, entries from files and the reply text.
 * A YAML regex entry is checked by the config loader (format "regex": RE2
 * syntax), so a broken one is reported with its file:line:col before anything
 * starts.
 */
import { type Static, Type } from '../../core/plugin-api/index.js';

export const MAIL_FROM_MESSAGE = 'Sorry, your envelope sender is in my badmailfrom list';
export const RCPT_TO_MESSAGE = 'Sorry, your envelope recipient is in my badrcptto list';
export const HELO_MESSAGE = 'Sorry, your HELO/EHLO name is in my badhelo list';

/** Plain strings are never patterns (a "." in an address stays a dot); a regex is asked for by name. */
const RegexEntry = Type.Object({ regex: Type.String({ minLength: 1, format: 'regex' }) }, { additionalProperties: false });

function listOptions(plain: string, message: string, files: string, description: string) {
  return Type.Object(
    {
      entries: Type.Array(Type.Union([Type.String({ minLength: 1 }), RegexEntry]), {
        default: [],
        description: `${plain}, or { regex: "..." } (RE2 syntax) matched against the whole value, case-insensitively.`,
      }),
      files: Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description: `Files with more entries (${files}): one per line, # comments, "regex:..." lines. Re-read on SIGHUP.`,
      }),
      message: Type.String({ minLength: 1, default: message, description: 'Text of the 553 5.7.1 reply.' }),
    },
    {
      additionalProperties: false,
      default: {},
      description: `${description} Keys: entries, files, message (default "${message}").`,
    },
  );
}

const ADDRESSES = '"user@example.com" (exact) or "@example.com" (that domain, not its sub-domains)';

export const BlacklistOptions = Type.Object(
  {
    mail_from: listOptions(
      ADDRESSES,
      MAIL_FROM_MESSAGE,
      'control/badmailfrom',
      'Envelope senders refused at MAIL FROM (qmail badmailfrom); the null sender <> never is.',
    ),
    rcpt_to: listOptions(
      ADDRESSES,
      RCPT_TO_MESSAGE,
      'control/badrcptto, control/morebadrcptto',
      'Recipients refused at RCPT TO (badrcptto, badmailto, morebadrcptto).',
    ),
    helo: listOptions(
      '"host.example.com" (an exact name)',
      HELO_MESSAGE,
      'control/badhelo',
      'HELO/EHLO names refused at HELO and EHLO (badhelo).',
    ),
  },
  { additionalProperties: false },
);

export type BlacklistOptions = Static<typeof BlacklistOptions>;
export type ListOptions = BlacklistOptions['mail_from'];
