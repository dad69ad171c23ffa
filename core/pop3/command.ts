/*
 * POP3 command lines (RFC 1939 3, RFC 2449, RFC 5034): the verb, its
 * arguments, and which verbs each state takes. Pure: no sockets, no mailbox.
 * Does not check what the arguments mean beyond their syntax (a message number
 * names a message only once the session looks it up).
 */

/** AUTHORIZATION until a login succeeds, then TRANSACTION; UPDATE is QUIT's work, not a state a command can see. */
export type Pop3State = 'authorization' | 'transaction';

export interface Pop3Command {
  /** Upper-cased keyword. */
  readonly verb: string;
  /** The rest of the line after the keyword and one space ("" if none). PASS takes it whole: a password may hold spaces. */
  readonly rest: string;
  /** `rest` split at spaces. */
  readonly args: readonly string[];
}

/** RFC 1939 3: keywords are three or four characters; RFC 2449 allows longer ones, which nobody uses. */
const VERB = /^[A-Za-z]{3,8}$/;

export function parseCommand(line: string): Pop3Command | undefined {
  const space = line.indexOf(' ');
  const verb = space < 0 ? line : line.slice(0, space);
  if (!VERB.test(verb)) return undefined;
  const rest = space < 0 ? '' : line.slice(space + 1);
  const args = rest === '' ? [] : rest.split(' ');
  return { verb: verb.toUpperCase(), rest, args };
}

/** The verbs each state takes (RFC 1939 4-6, RFC 2449 5, RFC 2595 4, RFC 5034 4); others get -ERR. */
export const VERBS: Readonly<Record<Pop3State, ReadonlySet<string>>> = {
  authorization: new Set(['USER', 'PASS', 'AUTH', 'CAPA', 'STLS', 'QUIT']),
  transaction: new Set(['STAT', 'LIST', 'RETR', 'DELE', 'NOOP', 'RSET', 'QUIT', 'UIDL', 'TOP', 'CAPA']),
};

/** Every verb this server knows in some state: the rest are "unknown command". */
export const KNOWN_VERBS: ReadonlySet<string> = new Set([...VERBS.authorization, ...VERBS.transaction]);

/**
 * A message number (RFC 1939 5: 1 up to the number of messages) or a line count (TOP: 0 or
 * more); undefined if it is not one. Ten digits at most: no mailbox holds more messages and
 * no client asks for more lines, and a longer one must not turn into a float.
 */
export function parseNumber(text: string | undefined, min: 0 | 1): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min ? n : undefined;
}

/**
 * AUTH PLAIN's message (RFC 4616): authzid NUL authcid NUL passwd, base64. An authorization
 * identity other than the login's own is refused (undefined): acting as another user is a
 * privilege this server grants nobody. "=" is the empty initial response (RFC 5034 4).
 */
export function decodePlain(base64: string): { username: string; password: string } | undefined {
  if (base64 === '=' || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return undefined;
  const parts = Buffer.from(base64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) return undefined;
  const [authzid, username, password] = parts as [string, string, string];
  if (!username || !password) return undefined;
  if (authzid !== '' && authzid !== username) return undefined;
  return { username, password };
}
