/*
 * The DATA stream decoder: removes dot-stuffing (RFC 5321 4.5.2) and finds the
 * end of the message, which is only ever <CR><LF>.<CR><LF>. Bare LF and bare CR
 * never end a message and never start a line that could end one, so the SMTP
 * smuggling sequences (\n.\n, \r\n.\n, \n.\r\n, \r.\r\n) stay message content.
 *
 * Policy follows Postfix's smtpd_forbid_bare_newline: with "reject" a bare CR or
 * LF is recorded (the session refuses the message at its end); with "normalize"
 * each bare CR or LF becomes CRLF in the stored message. Pure: bytes in,
 * bytes out through a callback, so it can be table-tested and streamed.
 */

export type BareNewlinePolicy = 'reject' | 'normalize';

export interface DecoderFindings {
  bareLf: boolean;
  bareCr: boolean;
  /** Longest text line seen, in octets without its line ending. */
  longestLine: number;
}

const CR = 13;
const LF = 10;
const DOT = 46;
const CRLF = Buffer.from('\r\n');
const DOT_BYTE = Buffer.from('.');

type LineStart = 'crlf' | 'bare' | null;

export class DataDecoder {
  readonly findings: DecoderFindings = { bareLf: false, bareCr: false, longestLine: 0 };
  /** Where the current line started: after a real CRLF (may end the message), after a bare newline, or mid-line. */
  private lineStart: LineStart = 'crlf';
  /** A CR was the last byte of the previous chunk; its partner is still unknown. */
  private pendingCr = false;
  /** 0: nothing held; 1: "." at a line start held; 2: ".\r" held. */
  private dotState = 0;
  /** Whether the held dot sits at a CRLF line start (only then can it end the message). */
  private dotAfterCrlf = false;
  private lineLength = 0;
  private ended = false;

  constructor(
    private readonly policy: BareNewlinePolicy,
    private readonly emit: (chunk: Buffer) => void,
  ) {}

  get done(): boolean {
    return this.ended;
  }

  private normalize(): boolean {
    return this.policy === 'normalize';
  }

  private endLine(kind: LineStart): void {
    if (this.lineLength > this.findings.longestLine) this.findings.longestLine = this.lineLength;
    this.lineLength = 0;
    this.lineStart = kind;
  }

  /**
   * Consumes bytes of `chunk`. Returns the offset just past the end-of-data
   * sequence if it was found in this chunk (the rest belongs to the next
   * command), or -1 if the message goes on.
   */
  feed(chunk: Buffer): number {
    if (this.ended) return 0;
    const n = chunk.length;
    let i = 0;
    let spanStart = 0;
    const flush = (to: number) => {
      if (to > spanStart) this.emit(chunk.subarray(spanStart, to));
    };
    let nextCr = -2;
    let nextLf = -2;

    while (i < n) {
      if (this.dotState === 1) {
        const b = chunk[i]!;
        if (b === CR) {
          this.dotState = 2;
          i++;
          spanStart = i;
          continue;
        }
        this.dotState = 0;
        if (b === LF) {
          // "." then a bare LF: not an end of data; keep the dot as content.
          this.findings.bareLf = true;
          this.emit(DOT_BYTE);
          if (this.normalize()) {
            this.emit(CRLF);
            i++;
            spanStart = i;
          } else {
            spanStart = i;
            i++;
          }
          this.lineLength = 1;
          this.endLine('bare');
          continue;
        }
        // A leading dot followed by text: the stuffed dot is removed.
        this.lineStart = null;
        this.lineLength = 1;
        spanStart = i;
        continue;
      }
      if (this.dotState === 2) {
        const b = chunk[i]!;
        this.dotState = 0;
        if (b === LF) {
          if (this.dotAfterCrlf) {
            this.ended = true;
            return i + 1;
          }
          // "." line after a bare newline, e.g. the \n.\r\n smuggling sequence: content.
          this.emit(DOT_BYTE);
          this.emit(CRLF);
          i++;
          spanStart = i;
          this.lineLength = 1;
          this.endLine('crlf');
          continue;
        }
        // ".\r" followed by something else: a bare CR.
        this.findings.bareCr = true;
        this.emit(DOT_BYTE);
        this.emit(this.normalize() ? CRLF : Buffer.from('\r'));
        spanStart = i;
        this.lineLength = this.normalize() ? 1 : 2;
        if (this.normalize()) this.endLine('bare');
        else this.lineStart = null;
        continue;
      }
      if (this.pendingCr) {
        this.pendingCr = false;
        if (chunk[i] === LF) {
          this.emit(CRLF);
          i++;
          spanStart = i;
          this.endLine('crlf');
        } else {
          this.findings.bareCr = true;
          this.emit(this.normalize() ? CRLF : Buffer.from('\r'));
          spanStart = i;
          if (this.normalize()) this.endLine('bare');
          else {
            this.lineLength++;
            this.lineStart = null;
          }
        }
        continue;
      }
      if (this.lineStart !== null && chunk[i] === DOT) {
        flush(i);
        this.dotAfterCrlf = this.lineStart === 'crlf';
        this.lineStart = null;
        this.dotState = 1;
        i++;
        spanStart = i;
        continue;
      }

      // Bulk: copy up to the next CR or LF.
      if (nextCr !== -1 && nextCr < i) nextCr = chunk.indexOf(CR, i);
      if (nextLf !== -1 && nextLf < i) nextLf = chunk.indexOf(LF, i);
      let j: number;
      if (nextCr === -1) j = nextLf === -1 ? n : nextLf;
      else j = nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
      if (j > i) {
        this.lineLength += j - i;
        this.lineStart = null;
      }
      if (j === n) {
        i = n;
        break;
      }
      if (chunk[j] === LF) {
        // An LF not preceded by CR in this chunk (a CR just before it was consumed with it below).
        this.findings.bareLf = true;
        if (this.normalize()) {
          flush(j);
          this.emit(CRLF);
          spanStart = j + 1;
        }
        i = j + 1;
        this.endLine('bare');
        continue;
      }
      // CR: look at its partner.
      if (j + 1 === n) {
        flush(j);
        this.pendingCr = true;
        i = n;
        spanStart = n;
        break;
      }
      if (chunk[j + 1] === LF) {
        i = j + 2;
        this.endLine('crlf');
        continue;
      }
      this.findings.bareCr = true;
      if (this.normalize()) {
        flush(j);
        this.emit(CRLF);
        spanStart = j + 1;
        i = j + 1;
        this.endLine('bare');
      } else {
        // A bare CR is content: the line goes on, so a dot after it starts nothing (\r.\r\n).
        i = j + 1;
        this.lineLength++;
        this.lineStart = null;
      }
    }
    // Held bytes (a CR or a leading dot awaiting their partner) sit before spanStart.
    flush(n);
    return -1;
  }
}
