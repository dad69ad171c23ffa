/*
 * The Received: trace header the gateway prepends to every message
 * (RFC 5321 4.4, with the protocol names of RFC 3848). Pure.
 */
export interface TraceInfo {
  readonly heloDomain: string | undefined;
  readonly clientAddress: string;
  readonly hostname: string;
  readonly esmtp: boolean;
  readonly tls: { protocol: string; cipher: string } | undefined;
  readonly authenticated: boolean;
  readonly queueId: string;
  /** Named only when there is exactly one, as Postfix does (privacy of Bcc lists). */
  readonly recipient: string | undefined;
  readonly date: Date;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** RFC 5322 date-time in the local time zone: "Mon, 23 Nov 2026 11:17:51 +0000". */
export function rfc5322Date(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${two(d.getHours())}:${two(
    d.getMinutes(),
  )}:${two(d.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/** "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" or "SMTP" (RFC 3848). */
export function protocolName(t: Pick<TraceInfo, 'esmtp' | 'tls' | 'authenticated'>): string {
  if (!t.esmtp) return t.tls ? 'SMTPS' : 'SMTP';
  return `ESMTP${t.tls ? 'S' : ''}${t.authenticated ? 'A' : ''}`;
}

function clientLiteral(address: string): string {
  return address.includes(':') ? `[IPv6:${address}]` : `[${address}]`;
}

/** The HELO argument is the client's word: keep it printable ASCII so it cannot bend the header. */
function printable(text: string): string {
  return text.replace(/[^\x21-\x7e]/g, '?');
}

export function receivedHeader(t: TraceInfo): string {
  const from = `from ${t.heloDomain ? printable(t.heloDomain) : 'unknown'} (${clientLiteral(t.clientAddress)})`;
  const tls = t.tls ? ` (using ${t.tls.protocol} with cipher ${t.tls.cipher})` : '';
  const by = `by ${t.hostname} (qgate) with ${protocolName(t)}${tls} id ${t.queueId}`;
  // Folded at its clauses, as Postfix does, so each reads on its own line.
  const date = rfc5322Date(t.date);
  if (!t.recipient) return `Received: ${from}\r\n\t${by};\r\n\t${date}\r\n`;
  return `Received: ${from}\r\n\t${by}\r\n\tfor <${t.recipient}>; ${date}\r\n`;
}
