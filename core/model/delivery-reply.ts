/*
 * The reply about one recipient's delivery: the SMTP reply of the host that
 * gave it (code, enhanced code, text, and that host), or a diagnosis of our
 * own written the same way, without a host. The delivery state, the logs,
 * `qgate queue` and DSNs read these fields; nothing parses a rendered reply
 * back. Text from outside (a server's reply line, a plugin's string, a state
 * file of an older version) is read once, by parseReply. Pure.
 */
import { formatReply, type Reply } from './reply.js';

export interface DeliveryReply extends Reply {
  /** The MTA that gave the reply (a DSN's Remote-MTA); absent for a diagnosis of our own. */
  readonly host?: string;
}

/** RFC 3463 status code: class, subject, detail. */
export const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;

export function deliveryReply(
  code: number,
  enhanced: string | undefined,
  text: string | readonly string[],
  host?: string,
): DeliveryReply {
  return {
    code,
    ...(enhanced === undefined ? {} : { enhanced }),
    text,
    ...(host === undefined || host === '' ? {} : { host }),
  };
}

/**
 * The reply on one line, for logs and `qgate queue`: "550 5.1.1 text". A
 * multi-line reply keeps each line's code, as Postfix logs and reports them
 * ("550-5.7.1 first 550 5.7.1 last").
 */
export function replyLine(r: Reply): string {
  return formatReply(r).trimEnd().replace(/\r\n/g, ' ');
}

/** A reply code: 2xx to 5xx, then a space, a "-" or the end of the line (RFC 5321 4.2). */
const CODE = /^([2-5]\d\d)(?:[ -]|$)/;
/** An RFC 2034 enhanced code right after the reply code, ended by white space or the line. */
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/;

/**
 * An SMTP reply as text (one line, or the lines of a multi-line reply joined
 * by LF or CRLF) read into its fields; undefined when it does not start with
 * a reply code. The enhanced code is taken from the first line and removed
 * from every line that repeats it (RFC 2034 3), so replyLine() gives back a
 * reply written the usual way.
 */
export function parseReply(text: string): Reply | undefined {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  const code = CODE.exec(lines[0]!);
  if (!code) return undefined;
  const enhanced = ENHANCED.exec(lines[0]!.slice(4))?.[1];
  const texts = lines.map((line) => {
    let rest = CODE.test(line) ? line.slice(4) : line;
    if (enhanced !== undefined && ENHANCED.exec(rest)?.[1] === enhanced) rest = rest.slice(enhanced.length + 1);
    return rest;
  });
  return { code: Number(code[1]), ...(enhanced === undefined ? {} : { enhanced }), text: texts.length === 1 ? texts[0]! : texts };
}
