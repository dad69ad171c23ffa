/*
 * The ESMTP parameters MAIL and RCPT take (RFC 5321 4.1.2, RFC 1869): the
 * core's own on MAIL (SIZE RFC 1870, BODY RFC 6152, SMTPUTF8 RFC 6531) and the
 * keywords plugins declared they handle, and the reply to each one refused,
 * in Postfix's words. Pure: the session passes what the pipeline declared;
 * what a plugin's parameter means is the plugin's business.
 */
import { type EsmtpParameters, type Reply, reply } from '../model/index.js';

/** What the core's MAIL parameters asked for. */
export interface MailParameters {
  /** SIZE=, the size the client declared (RFC 1870). */
  readonly size: number | undefined;
  /** BODY=, 7BIT unless declared (RFC 6152). */
  readonly body: '7BIT' | '8BITMIME';
}

/** Checks the parameters of MAIL; `declared`: the keywords plugins handle. A reply refuses the command. */
export function checkMailParameters(parameters: EsmtpParameters, declared: ReadonlySet<string>): Reply | MailParameters {
  let size: number | undefined;
  let body: '7BIT' | '8BITMIME' = '7BIT';
  for (const [keyword, value] of parameters) {
    if (keyword === 'SIZE') {
      // 15 digits: beyond any real size, and within what a double holds exactly.
      if (value === true || !/^\d{1,15}$/.test(value)) return reply(501, '5.5.4', 'Bad message size syntax');
      size = Number(value);
    } else if (keyword === 'BODY') {
      const v = value === true ? '' : value.toUpperCase();
      if (v !== '7BIT' && v !== '8BITMIME') return reply(501, '5.5.4', `Unsupported BODY type: ${v || '(none)'}`);
      body = v;
    } else if (keyword === 'SMTPUTF8') {
      if (value !== true) return reply(501, '5.5.4', 'SMTPUTF8 takes no value');
    } else if (!declared.has(keyword)) {
      return unsupported(keyword, value);
    }
  }
  return { size, body };
}

/** Checks the parameters of RCPT (the core has none of its own); undefined if all are handled. */
export function checkRcptParameters(parameters: EsmtpParameters, declared: ReadonlySet<string>): Reply | undefined {
  for (const [keyword, value] of parameters) if (!declared.has(keyword)) return unsupported(keyword, value);
  return undefined;
}

/** RFC 5321 4.1.1.11: 555 for a parameter not recognized or not implemented. */
function unsupported(keyword: string, value: string | true): Reply {
  return reply(555, '5.5.4', `Unsupported option: ${value === true ? keyword : `${keyword}=${value}`}`);
}
