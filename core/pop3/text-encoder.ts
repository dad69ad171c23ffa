/*
 * A Maildir file as POP3 sends it (RFC 1939 3): lines end in CRLF (Maildir
 * files end them in LF; CRLF stays CRLF), a line that starts with "." gets
 * another one, and ".\r\n" ends the response. TOP sends the header, the blank
 * line and n lines of the body. Chunk by chunk, so a message is streamed and
 * never held whole. Pure. With `stuff: false` and no terminator it gives the
 * octets of the message in CRLF form: the size STAT, LIST and RETR announce.
 */

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CRLF_BUF = Buffer.from('\r\n');
const CR_BUF = Buffer.from('\r');
const DOT_BUF = Buffer.from('.');
const TERMINATOR = Buffer.from('.\r\n');

export interface EncoderOptions {
  /** Double a leading dot (true when sending; false when counting the size). */
  readonly stuff: boolean;
  /** TOP: lines of the body after the header; undefined: all of it (RETR). */
  readonly bodyLines?: number;
}

export class Pop3TextEncoder {
  private lineStart = true;
  /** Octets of the current line so far, without its end: 0 at its end means a blank line. */
  private lineLength = 0;
  /** A CR at the end of a chunk: the CR of a CRLF if the next chunk starts with LF. */
  private pendingCr = false;
  private inHeader = true;
  private bodyLeft: number;
  /** TOP has sent what it was asked for. */
  private done = false;

  constructor(private readonly options: EncoderOptions) {
    this.bodyLeft = options.bodyLines ?? Number.POSITIVE_INFINITY;
  }

  /** TOP has sent its lines: the rest of the file need not be read. */
  get finished(): boolean {
    return this.done;
  }

  /** The pieces to send for `chunk`, in order (views of it where they can be). */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n && !this.done) {
      if (this.lineStart) {
        this.lineStart = false;
        this.lineLength = 0;
        if (this.options.stuff && chunk[i] === DOT) out.push(DOT_BUF);
      }
      const lf = chunk.indexOf(LF, i);
      const stop = lf < 0 ? n : lf;
      if (stop > i) {
        if (this.pendingCr) {
          // The held CR was not before an LF: it is text.
          out.push(CR_BUF);
          this.lineLength++;
          this.pendingCr = false;
        }
        let end = stop;
        if (chunk[stop - 1] === CR) {
          end = stop - 1;
          // Before the LF: the CR of a CRLF, dropped (CRLF is sent below). At a chunk's end: wait and see.
          if (lf < 0) this.pendingCr = true;
        }
        if (end > i) {
          out.push(chunk.subarray(i, end));
          this.lineLength += end - i;
        }
      }
      if (lf < 0) break;
      this.pendingCr = false;
      out.push(CRLF_BUF);
      this.endLine();
      i = lf + 1;
    }
    return out;
  }

  /** The last pieces: a CRLF for a last line without one, then the terminator if asked. */
  end(terminator: boolean): Buffer[] {
    const out: Buffer[] = [];
    if (!this.done) {
      if (this.pendingCr) out.push(CR_BUF);
      if (!this.lineStart) out.push(CRLF_BUF);
    }
    this.pendingCr = false;
    this.lineStart = true;
    if (terminator) out.push(TERMINATOR);
    return out;
  }

  private endLine(): void {
    this.lineStart = true;
    if (this.inHeader) {
      if (this.lineLength === 0) this.inHeader = false;
    } else {
      this.bodyLeft--;
    }
    if (!this.inHeader && this.bodyLeft <= 0) this.done = true;
  }
}

/** The size of a message in CRLF form, from its chunks (RFC 1939 5, LIST: "the exact size"). */
export class CrlfSizeCounter {
  private readonly encoder = new Pop3TextEncoder({ stuff: false });
  private octets = 0;

  push(chunk: Buffer): void {
    for (const piece of this.encoder.push(chunk)) this.octets += piece.length;
  }

  get size(): number {
    let total = this.octets;
    for (const piece of this.encoder.end(false)) total += piece.length;
    return total;
  }
}
