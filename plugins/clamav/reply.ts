/*
 * clamd's answer to INSTREAM, parsed: "stream: OK", "stream: <name> FOUND", or
 * "<text> ERROR" (e.g. "INSTREAM size limit exceeded. ERROR"), each ended by the
 * NUL of the z-prefixed command. Anything else is a protocol error, never a
 * clean verdict: only clamd's own "OK" lets a message through as scanned. Pure.
 */

export type ScanVerdict = { readonly kind: 'clean' } | { readonly kind: 'infected'; readonly virus: string };

/** Why a scan gave no verdict; each is a temporary condition of the scanner, never of the message. */
export type ScanFailureKind = 'unavailable' | 'busy' | 'timeout' | 'size-limit' | 'error' | 'protocol';

export class ScanFailure extends Error {
  constructor(
    readonly kind: ScanFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ScanFailure';
  }
}

/** The longest answer we read; clamd's are short (a virus name is under 100 octets). */
export const MAX_REPLY = 4096;

/** A verdict, or the failure clamd's answer says (an answer that is not one is a protocol failure). */
export function parseReply(raw: string): ScanVerdict | ScanFailure {
  const text = raw.replace(/\0+$/, '').replace(/[\r\n]+$/, '');
  if (text === 'stream: OK') return { kind: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found && !found[1]!.includes('\0')) return { kind: 'infected', virus: found[1]! };
  if (/ ERROR$/.test(text)) {
    const what = text.slice(0, -' ERROR'.length);
    // clamd's StreamMaxLength: it stops reading, answers, and closes.
    if (/size limit exceeded/i.test(what)) return new ScanFailure('size-limit', `clamd: ${what}`);
    return new ScanFailure('error', `clamd: ${what}`);
  }
  return new ScanFailure('protocol', `clamd answered something that is no INSTREAM reply: ${JSON.stringify(text.slice(0, 200))}`);
}
