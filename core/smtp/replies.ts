/*
 * The replies the session gives by itself to commands it cannot take, in
 * Postfix's words (the oracle for reply texts), each with its RFC 3463
 * enhanced code: a MAIL or RCPT argument that does not parse, a verb we do not
 * know or do not implement, a queue that cannot store the message. Pure: the
 * outcome in, the reply out.
 */
import { type Reply, reply } from '../model/index.js';
import type { PathCommandParse } from './command.js';

type PathError = Extract<PathCommandParse, { ok: false }>;

/** The reply to a MAIL FROM or RCPT TO argument that parsePathCommand refused. */
export function pathErrorReply(verb: 'MAIL' | 'RCPT', parsed: PathError): Reply {
  switch (parsed.error) {
    case 'syntax':
      return reply(501, '5.5.4', verb === 'MAIL' ? 'Syntax: MAIL FROM:<address>' : 'Syntax: RCPT TO:<address>');
    case 'address':
      // RFC 3463 3.2: 5.1.7 is a bad sender's mailbox address, 5.1.3 a bad destination's.
      return reply(501, verb === 'MAIL' ? '5.1.7' : '5.1.3', `Bad ${verb === 'MAIL' ? 'sender' : 'recipient'} address syntax`);
    case 'utf8':
      return reply(553, '5.6.7', 'Must declare SMTPUTF8 to send unicode address');
    default:
      return reply(555, '5.5.4', `Unsupported option: ${parsed.detail ?? ''}`);
  }
}

/** Verbs we know but do not implement unless a plugin does (through the command hook). */
const KNOWN_UNIMPLEMENTED = new Set(['EXPN', 'TURN', 'ETRN', 'BDAT', 'STARTTLS', 'AUTH', 'ATRN', 'VERB', 'SEND', 'SOML', 'SAML']);

/** The reply to a verb no plugin took and the core does not implement ("" for an empty line). */
export function unknownVerbReply(verb: string): Reply {
  if (KNOWN_UNIMPLEMENTED.has(verb)) return reply(502, '5.5.1', 'Error: command not implemented');
  if (!/^[A-Z]{1,16}$/.test(verb)) return reply(500, '5.5.2', 'Error: bad syntax');
  // RFC 5321 4.2.4: 500 for a command we do not recognize (Postfix answers the same).
  return reply(500, '5.5.2', 'Error: command not recognized');
}

/**
 * The reply when the queue cannot store a message: 452 for a full disk or quota
 * (RFC 3463 4.3.1, the client may try again later), 451 for any other failure.
 */
export function storageReply(err: unknown): Reply {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return reply(452, '4.3.1', 'Error: insufficient system storage');
  return reply(451, '4.3.0', 'Error: queue file write error');
}
