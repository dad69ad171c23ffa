/*
 * A notice the gateway writes itself to an administrator (transaction.notify:
 * "this message was refused / held, and why"): a short plain-text message from
 * MAILER-DAEMON, sent from the null sender <> like a bounce so that it is never
 * bounced in turn, marked Auto-Submitted (RFC 3834). Line ends CRLF, lines of
 * the text folded at 998 octets (RFC 5322 2.1.1). Pure.
 */
import { rfc5322Date } from './received.js';

export interface NoticeInput {
  readonly hostname: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly date: Date;
  readonly messageId: string;
}

/** The longest line of the text we keep whole; longer ones are cut into pieces of this length. */
const MAX_LINE = 998;

export function renderNotice(n: NoticeInput): Buffer {
  const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');
  const body = n.text
    .split(/\r?\n/)
    .flatMap((line) => {
      const pieces: string[] = [];
      for (let i = 0; i < line.length; i += MAX_LINE) pieces.push(line.slice(i, i + MAX_LINE));
      return pieces.length ? pieces : [''];
    })
    .join('\r\n');
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${n.hostname}>`,
    `To: <${oneLine(n.to)}>`,
    `Subject: ${oneLine(n.subject)}`,
    `Date: ${rfc5322Date(n.date)}`,
    `Message-ID: <${n.messageId}@${n.hostname}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}\r\n`);
}
