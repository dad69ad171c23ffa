/*
 * SMTP replies: the value every hook and the protocol engine produce, and how it
 * is written on the wire (RFC 5321 4.2, multi-line with "-", RFC 2034/3463
 * enhanced status codes). Pure: no sockets here.
 */

export interface Reply {
  /** Basic reply code, 2xx..5xx. */
  readonly code: number;
  /** RFC 3463 enhanced code ("5.7.1"); omitted on the greeting and HELO/EHLO replies (RFC 2034 3). */
  readonly enhanced?: string;
  /** One or more lines of human text. */
  readonly text: string | readonly string[];
}

export function reply(code: number, enhanced: string | undefined, text: string | readonly string[]): Reply {
  return enhanced === undefined ? { code, text } : { code, enhanced, text };
}

/** Renders a reply as wire bytes; CR/LF in texts are replaced so a plugin cannot inject reply lines. */
export function formatReply(r: Reply): string {
  const lines = typeof r.text === 'string' ? [r.text] : r.text.length ? r.text : [''];
  const prefix = r.enhanced ? `${r.enhanced} ` : '';
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? ' ' : '-';
    const text = lines[i]!.replace(/[\r\n]+/g, ' ');
    // Enhanced codes go on every line of a multi-line reply (RFC 2034 3).
    out += `${r.code}${sep}${prefix}${text}\r\n`;
  }
  return out;
}

export function isTemporary(r: Reply): boolean {
  return r.code >= 400 && r.code < 500;
}

export function replyText(r: Reply): string {
  return typeof r.text === 'string' ? r.text : r.text.join(' ');
}
