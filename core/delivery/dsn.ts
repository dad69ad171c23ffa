/*
 * Delivery status notifications: renders a bounce or delay warning as a complete
 * RFC 5322 message, multipart/report (RFC 6522) with an RFC 3464 report, laid out
 * as Postfix lays it out. Each recipient's Status, Diagnostic-Code and Remote-MTA
 * come from the fields of its reply. Guarantees CRLF line ends, lines of at most
 * 998 octets, a 7-bit report (8-bit only inside the returned original). Pure:
 * dates, ids and the boundary are inputs; it neither decides whom to notify nor
 * sends anything.
 */
import { rfc5322Date } from '../message/received.js';
import { type DeliveryReply, ENHANCED_CODE, type Reply, replyLine } from '../model/index.js';

export interface DsnRecipient {
  /** The original envelope recipient, reported as "rfc822; addr". */
  readonly recipient: string;
  readonly action: 'failed' | 'delayed';
  /**
   * The reply that decided it: reported as "Status: 5.1.1" (deliveryStatus), "Diagnostic-Code:
   * smtp; 550 5.1.1 ..." and, when a remote host gave it, "Remote-MTA: dns; mx.example.com".
   */
  readonly reply: DeliveryReply;
  readonly lastAttempt?: Date;
  /** Reported for delayed recipients only (RFC 3464 2.3.9). */
  readonly willRetryUntil?: Date;
}

export interface DsnInput {
  /** Our host name: "Reporting-MTA: dns; ...". */
  readonly reportingMta: string;
  /** The bounce's From: address, "MAILER-DAEMON@mx.example.net". */
  readonly from: string;
  /** The original envelope sender, who receives the notification. */
  readonly to: string;
  readonly queueId: string;
  readonly arrivalDate: Date;
  /** Date: of the notification. */
  readonly date: Date;
  /** Message-ID: of the notification, "<...@mx.example.net>". */
  readonly messageId: string;
  /** MIME boundary, unique to this notification (RFC 2046 5.1.1 syntax). */
  readonly boundary: string;
  readonly recipients: readonly DsnRecipient[];
  /** The original message, headers and body; the caller may have cut it a little past maxBytes. */
  readonly original: Buffer;
  /** qmail's bouncemaxbytes: the most octets of the original a notification returns. */
  readonly maxBytes: number;
  /** Return only the original's header section; Postfix does so in delay warnings. */
  readonly headersOnly?: boolean;
}

const CRLF = '\r\n';
const CR = 0x0d;
const LF = 0x0a;
/** RFC 5322 2.1.1: the recommended width, kept wherever the words allow. */
const SOFT_LINE = 78;
/** Longer words are cut, so even an indented piece stays far below RFC 5322's 998 octets. */
const MAX_WORD = 900;

/** RFC 2046 5.1.1 bchars, 1 to 70 of them, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * The RFC 3463 status reported for a reply: its enhanced code ("550 5.1.1 ..." ->
 * 5.1.1), else the class of its reply code ("550 no such user" -> 5.0.0). The
 * reply code decides the class (RFC 3463 2: the two must agree, and the code is
 * what the client acted on), so "554 4.4.7" is 5.4.7, and a recipient that
 * expired after "451 4.4.1" replies is reported as 4.4.1, as Postfix does.
 */
export function deliveryStatus(r: Reply): string {
  const cls = r.code >= 400 && r.code < 500 ? 4 : 5;
  if (r.enhanced === undefined || !ENHANCED_CODE.test(r.enhanced)) return `${cls}.0.0`;
  const [, subject, detail] = r.enhanced.split('.');
  return `${cls}.${Number(subject)}.${Number(detail)}`;
}

/** Remote replies and host names are foreign text: one line of printable ASCII, so they can neither add fields nor make the report 8-bit. */
function printable(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
}

/** Addresses for the human-readable part and the top-level header: UTF-8 stays (SMTPUTF8 senders), controls do not. */
function addressText(address: string): string {
  return address.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/** RFC 3464 address field: rfc822 for an ASCII address, else RFC 6533's utf-8 type with \x{..} escapes, which is 7-bit. */
function addressField(address: string): string {
  if (/^[\x20-\x7e]+$/.test(address)) return `rfc822; ${address}`;
  let escaped = '';
  for (const ch of address) {
    const cp = ch.codePointAt(0)!;
    // RFC 6533 QCHAR: printable ASCII but "+", "=" and "\", which xtext reserves.
    const qchar = cp >= 0x21 && cp <= 0x7e && ch !== '+' && ch !== '=' && ch !== '\\';
    escaped += qchar ? ch : `\\x{${cp.toString(16).toUpperCase().padStart(2, '0')}}`;
  }
  return `utf-8; ${escaped}`;
}

function octets(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Cuts a word into pieces of at most MAX_WORD octets, at code point boundaries. */
function pieces(word: string): string[] {
  if (octets(word) <= MAX_WORD) return [word];
  const out: string[] = [];
  let piece = '';
  for (const ch of word) {
    if (octets(piece) + octets(ch) > MAX_WORD) {
      out.push(piece);
      piece = '';
    }
    piece += ch;
  }
  out.push(piece);
  return out;
}

/**
 * Breaks single-spaced `text` at its spaces into lines of at most SOFT_LINE
 * octets where the words allow; continuation lines start with `indent`. With
 * indent " " this is RFC 5322 folding: unfolding gives `text` back, except where
 * a word longer than MAX_WORD had to be cut (a fold needs white space).
 */
function wrap(text: string, indent: string): string[] {
  const words = text.split(' ').flatMap(pieces);
  const lines: string[] = [];
  let line = words[0]!;
  for (const word of words.slice(1)) {
    if (octets(line) + 1 + octets(word) <= SOFT_LINE) {
      line += ` ${word}`;
    } else {
      lines.push(line);
      line = indent + word;
    }
  }
  lines.push(line);
  return lines;
}

/** A header field (or report field), folded. */
function field(name: string, value: string): string {
  return wrap(`${name}: ${value}`, ' ').join(CRLF) + CRLF;
}

/** Human-readable paragraph, wrapped as Postfix wraps its bounce log: continuation lines indented by four. */
function paragraph(text: string, indent = ''): string {
  return wrap(text, indent).join(CRLF) + CRLF;
}

function date(d: Date, what: string): string {
  if (Number.isNaN(d.getTime())) throw new RangeError(`dsn: ${what} is not a valid date`);
  return rfc5322Date(d);
}

/** Bare CR or LF become CRLF: a message on the wire has no other line end. */
function crlf(message: Buffer): Buffer {
  let bare = false;
  for (let i = 0; i < message.length && !bare; i++) {
    if (message[i] === LF) bare = i === 0 || message[i - 1] !== CR;
    else if (message[i] === CR) bare = message[i + 1] !== LF;
  }
  if (!bare) return message;
  const out = Buffer.allocUnsafe(message.length * 2);
  let n = 0;
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    if (b === CR || b === LF) {
      out[n++] = CR;
      out[n++] = LF;
      if (b === CR && message[i + 1] === LF) i++;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

/** The header section up to and including the CRLF of its last field; all of `message` when it has no body. */
function headerSection(message: Buffer): Buffer {
  if (message.subarray(0, 2).equals(Buffer.from(CRLF))) return message.subarray(0, 0);
  const end = message.indexOf('\r\n\r\n');
  return end < 0 ? message : message.subarray(0, end + 2);
}

interface Returned {
  readonly type: 'message/rfc822' | 'text/rfc822-headers';
  readonly content: Buffer;
  /** The original passed maxBytes, so it is returned cut (and the text says so). */
  readonly oversize: boolean;
  /** The returned content is shorter than the original (cut at a line boundary). */
  readonly cut: boolean;
}

/** The longest prefix of `data` that ends at a line end and fits in `max` octets. */
function cutAtLineEnd(data: Buffer, max: number): Buffer {
  if (data.length <= max) return data;
  const lastLineEnd = max < 2 ? -1 : data.lastIndexOf('\r\n', max - 2);
  return data.subarray(0, lastLineEnd < 0 ? 0 : lastLineEnd + 2);
}

/**
 * What part 3 returns: qmail's bouncemaxbytes, the first maxBytes octets of the
 * original, cut at a line end, as message/rfc822 (the header section is always
 * whole unless it alone passes the limit; then it is cut and sent as
 * text/rfc822-headers). Postfix instead returns only the headers of a large
 * message so as not to damage its MIME structure; a cut body is more useful to
 * the sender, and MIME parsers read a truncated multipart without trouble.
 */
function returnedOriginal(input: DsnInput): Returned {
  const oversize = input.original.length > input.maxBytes;
  const message = crlf(input.original);
  if (!oversize && !input.headersOnly) return { type: 'message/rfc822', content: message, oversize, cut: false };
  const headers = headerSection(message);
  if (headers.length > input.maxBytes) {
    return { type: 'text/rfc822-headers', content: cutAtLineEnd(headers, input.maxBytes), oversize, cut: true };
  }
  if (input.headersOnly) return { type: 'text/rfc822-headers', content: headers, oversize, cut: false };
  return { type: 'message/rfc822', content: cutAtLineEnd(message, input.maxBytes), oversize, cut: true };
}

function hasEightBit(bytes: Buffer): boolean {
  for (const b of bytes) if (b >= 0x80) return true;
  return false;
}

/** The reply as reported: one printable line. */
function diagnosticOf(r: DsnRecipient): string {
  return printable(replyLine(r.reply));
}

/** The host that gave the reply, printable, or undefined for a diagnosis of our own. */
function remoteMtaOf(r: DsnRecipient): string | undefined {
  const host = r.reply.host === undefined ? '' : printable(r.reply.host);
  return host === '' ? undefined : host;
}

/** One recipient's paragraph in the human-readable part, as Postfix writes its bounce log entries. */
function reason(r: DsnRecipient): string {
  const who = `<${addressText(r.recipient)}>:`;
  const host = remoteMtaOf(r);
  return host ? `${who} host ${host} said: ${diagnosticOf(r)}` : `${who} ${diagnosticOf(r)}`;
}

function elapsed(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  return minutes >= 60 ? `${Math.floor(minutes / 60)} hour(s)` : `${minutes} minute(s)`;
}

/** Part 1: who we are, what happened, one paragraph per recipient. */
function notification(input: DsnInput, original: Returned): string {
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const delayed = input.recipients.filter((r) => r.action === 'delayed');
  const out: string[] = [paragraph(`This is the mail system at host ${printable(input.reportingMta)}.`), CRLF];
  const attached =
    original.type === 'message/rfc822' ? 'Your message is attached below.' : 'The headers of your message are attached below.';
  if (failed.length > 0) {
    out.push(
      paragraph(`I'm sorry to have to tell you that your message could not be delivered to one or more recipients. ${attached}`),
    );
  } else {
    const until = delayed
      .map((r) => r.willRetryUntil)
      .filter((d): d is Date => d !== undefined)
      .reduce<Date | undefined>((latest, d) => (latest && latest >= d ? latest : d), undefined);
    out.push(paragraph('This is a warning only. You do not need to resend your message.'), CRLF);
    out.push(
      paragraph(
        `Your message could not be delivered for ${elapsed(input.date.getTime() - input.arrivalDate.getTime())} to one or more recipients.` +
          (until ? ` It will be retried until ${date(until, 'willRetryUntil')}.` : '') +
          ` ${attached}`,
      ),
    );
  }
  if (original.oversize) {
    const what = original.type === 'message/rfc822' ? 'it is returned' : 'its header section is returned';
    out.push(
      CRLF,
      paragraph(
        `Your message was larger than ${input.maxBytes} octets, so ${what} cut to its first ${original.content.length} octets.`,
      ),
    );
  }
  out.push(CRLF, paragraph('For further assistance, please send mail to postmaster and include this report.'));
  out.push(CRLF, `${' '.repeat(19)}The mail system${CRLF}`);
  for (const r of failed) out.push(CRLF, paragraph(reason(r), '    '));
  if (failed.length > 0 && delayed.length > 0) {
    out.push(
      CRLF,
      paragraph(
        'Delivery to the following recipients is delayed and is still being retried. You do not need to resend your message to them.',
      ),
    );
  }
  for (const r of delayed) out.push(CRLF, paragraph(reason(r), '    '));
  return out.join('');
}

/** Part 2: the RFC 3464 report, per-message fields, then one group per recipient. */
function report(input: DsnInput): string {
  const out = [
    field('Reporting-MTA', `dns; ${printable(input.reportingMta)}`),
    field('X-Qgate-Queue-ID', printable(input.queueId)),
    field('Arrival-Date', date(input.arrivalDate, 'arrivalDate')),
  ];
  for (const r of input.recipients) {
    out.push(
      CRLF,
      field('Final-Recipient', addressField(r.recipient)),
      field('Action', r.action),
      field('Status', deliveryStatus(r.reply)),
    );
    const remoteMta = remoteMtaOf(r);
    if (remoteMta !== undefined) out.push(field('Remote-MTA', `dns; ${remoteMta}`));
    out.push(field('Diagnostic-Code', `smtp; ${diagnosticOf(r)}`));
    if (r.lastAttempt) out.push(field('Last-Attempt-Date', date(r.lastAttempt, 'lastAttempt')));
    if (r.action === 'delayed' && r.willRetryUntil) out.push(field('Will-Retry-Until', date(r.willRetryUntil, 'willRetryUntil')));
  }
  return out.join('');
}

/**
 * The notification as wire bytes. Throws RangeError on input no valid report can
 * carry: no recipients, the null sender as recipient, an invalid date or
 * boundary, or a boundary that occurs in the returned original.
 */
export function renderDsn(input: DsnInput): Buffer {
  if (input.recipients.length === 0) throw new RangeError('dsn: no recipients to report');
  // RFC 5321 4.5.5: notifications never go to the null sender.
  if (input.to === '') throw new RangeError('dsn: no notification to the null sender');
  if (!BOUNDARY.test(input.boundary)) throw new RangeError('dsn: boundary is not RFC 2046 syntax');
  if (!Number.isSafeInteger(input.maxBytes) || input.maxBytes < 0) throw new RangeError('dsn: maxBytes must be an integer >= 0');

  const original = returnedOriginal(input);
  const delimiter = `--${input.boundary}`;
  if (
    original.content.subarray(0, delimiter.length).toString('latin1') === delimiter ||
    original.content.includes(CRLF + delimiter)
  ) {
    throw new RangeError('dsn: the boundary occurs in the returned original');
  }
  const text = notification(input, original);
  const textEightBit = /[^\x00-\x7f]/.test(text);
  const originalEightBit = hasEightBit(original.content);
  const failed = input.recipients.some((r) => r.action === 'failed');

  // From and To keep a non-ASCII address as is: such a sender can only be reached with SMTPUTF8 (RFC 6532).
  const head = [
    field('From', `Mail Delivery System <${addressText(input.from)}>`),
    field('To', `<${addressText(input.to)}>`),
    field('Subject', failed ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'),
    field('Date', date(input.date, 'date')),
    field('Message-ID', printable(input.messageId)),
    // RFC 3834 5: keeps auto-responders from answering the bounce.
    field('Auto-Submitted', 'auto-replied'),
    field('MIME-Version', '1.0'),
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF}\tboundary="${input.boundary}"${CRLF}`,
    // RFC 2045 6.4: a multipart says 8bit when any of its parts is.
    textEightBit || originalEightBit ? field('Content-Transfer-Encoding', '8bit') : '',
    CRLF,
    `This is a MIME-encapsulated message.${CRLF}`,
    CRLF,
    delimiter + CRLF,
    field('Content-Description', 'Notification'),
    field('Content-Type', `text/plain; charset=${textEightBit ? 'utf-8' : 'us-ascii'}`),
    textEightBit ? field('Content-Transfer-Encoding', '8bit') : '',
    CRLF,
    text,
    CRLF + delimiter + CRLF,
    field('Content-Description', 'Delivery report'),
    field('Content-Type', 'message/delivery-status'),
    CRLF,
    report(input),
    CRLF + delimiter + CRLF,
    field('Content-Description', original.type === 'message/rfc822' ? 'Undelivered Message' : 'Undelivered Message Headers'),
    field('Content-Type', original.type),
    // RFC 2046 5.2.1: message/rfc822 takes no encoding but 7bit, 8bit or binary, so an 8-bit original goes as is.
    originalEightBit ? field('Content-Transfer-Encoding', '8bit') : '',
    CRLF,
  ].join('');
  return Buffer.concat([Buffer.from(head, 'utf8'), original.content, Buffer.from(`${CRLF}${delimiter}--${CRLF}`, 'latin1')]);
}
