/*
 * The SPAMD/1.x response (SpamAssassin's spamd/PROTOCOL): a status line
 * ("SPAMD/1.1 0 EX_OK"), header lines ("Spam: True ; 7.3 / 5.0",
 * "Content-length: 42") and, for SYMBOLS, REPORT and PROCESS, a body. Pure: it
 * parses bytes the client has already bounded, and says what is wrong with a
 * broken answer instead of guessing.
 */

/** What spamd said about one message. */
export interface SpamdResponse {
  /** The protocol version in the status line ("1.1"). */
  readonly version: string;
  /** 0 (EX_OK) is success; anything else is a sysexits code naming spamd's failure. */
  readonly code: number;
  readonly message: string;
  /** From the Spam: header; absent on errors and PING. */
  readonly verdict?: SpamVerdict;
  /** Header lines, names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body (rule names for SYMBOLS, the report for REPORT, the message for PROCESS). */
  readonly body: Buffer;
}

export interface SpamVerdict {
  readonly spam: boolean;
  readonly score: number;
  /** The required score spamd applied (its required_score). */
  readonly required: number;
}

export class SpamdProtocolError extends Error {
  override readonly name = 'SpamdProtocolError';
}

const STATUS = /^SPAMD\/(\d+\.\d+) +(\d+) *(.*)$/;
/** "Spam: True ; 1000.0 / 5.0", also "Yes"/"No" of old spamd; scores may be negative. */
const SPAM = /^(True|False|Yes|No) *; *(-?\d+(?:\.\d+)?) *\/ *(-?\d+(?:\.\d+)?)$/i;
const CRLF = Buffer.from('\r\n');
const BLANK = Buffer.from('\r\n\r\n');

/** Parses a complete response (the bytes up to spamd's close). Throws SpamdProtocolError on anything else. */
export function parseSpamdResponse(bytes: Buffer): SpamdResponse {
  const statusEnd = bytes.indexOf(CRLF);
  if (statusEnd < 0) throw new SpamdProtocolError(`no status line in ${describe(bytes)}`);
  const status = STATUS.exec(bytes.subarray(0, statusEnd).toString('latin1'));
  if (!status) throw new SpamdProtocolError(`not a SPAMD status line: ${describe(bytes.subarray(0, statusEnd))}`);
  const [, version, code, message] = status as unknown as [string, string, string, string];
  const headers = new Map<string, string>();
  let body: Buffer = Buffer.alloc(0);
  const headEnd = bytes.indexOf(BLANK, statusEnd);
  // An error answer may end right after its status line (spamd closes without a blank line).
  const headText = headEnd < 0 ? bytes.subarray(statusEnd + 2) : bytes.subarray(statusEnd + 2, headEnd);
  for (const line of headText.toString('latin1').split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SpamdProtocolError(`not a header line: ${describe(Buffer.from(line, 'latin1'))}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headEnd >= 0) body = bytes.subarray(headEnd + 4);
  else if (Number(code) === 0 && headText.length > 0) throw new SpamdProtocolError('the header section does not end');
  const length = headers.get('content-length');
  if (length !== undefined) {
    if (!/^\d+$/.test(length)) throw new SpamdProtocolError(`bad Content-length "${length}"`);
    // spamd ends the body where it says; a short one was cut off on the way.
    if (body.length < Number(length)) {
      throw new SpamdProtocolError(`the body ended after ${body.length} of ${length} octets`);
    }
    body = body.subarray(0, Number(length));
  }
  const spam = headers.get('spam');
  let verdict: SpamVerdict | undefined;
  if (spam !== undefined) {
    const m = SPAM.exec(spam);
    if (!m) throw new SpamdProtocolError(`bad Spam header "${spam}"`);
    verdict = { spam: /^(true|yes)$/i.test(m[1]!), score: Number(m[2]), required: Number(m[3]) };
  }
  return { version, code: Number(code), message, ...(verdict ? { verdict } : {}), headers, body };
}

/** The rule names of a SYMBOLS body ("GTUBE,NO_RECEIVED"), without empty or odd entries. */
export function parseSymbols(body: Buffer): string[] {
  return body
    .toString('latin1')
    .split(/[,\s]+/)
    .filter((name) => /^[A-Za-z0-9_.-]+$/.test(name));
}

function describe(bytes: Buffer): string {
  return JSON.stringify(bytes.subarray(0, 80).toString('latin1'));
}
