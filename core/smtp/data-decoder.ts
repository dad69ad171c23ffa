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
 *
 * Each feed() emits at most one buffer, a slice of the input when the output is
 * one run of it, else one copy: lines of "." or ".." cost what text does, never
 * a buffer per line (which cost 150 MB and 3 s of CPU per MiB of ".\n").
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
const CR_BYTE = Buffer.from('\r');
/** Bytes scanned by hand for a line end before asking indexOf (see the bulk step in feed). */
const SHORT_SCAN = 16;

/**
 * The output of one feed(). Pieces that continue each other in the input chunk
 * stay one slice of it (no copy: a plain chunk); once the output stops being one
 * run (a stuffing dot dropped, a CRLF put in, a held byte put back) everything is
 * copied into one buffer. Linear in the bytes, one emit per chunk.
 */
class ChunkOutput {
  private source: Buffer | null = null;
  private start = 0;
  private end = 0;
  private copy: Buffer | null = null;
  private length = 0;

  /** Output is never longer than twice the input plus the few bytes held from the previous chunk. */
  constructor(private readonly capacityHint: number) {}

  /** Appends input[from, to). */
  span(input: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.copy === null) {
      if (this.source === null) {
        this.source = input;
        this.start = from;
        this.end = to;
        return;
      }
      if (this.source === input && this.end === from) {
        this.end = to;
        return;
      }
      this.startCopy();
    }
    this.append(input, from, to);
  }

  /** Appends bytes that are not the continuation of the input (CRLF, a held dot or CR). */
  bytes(piece: Buffer): void {
    if (this.copy === null) this.startCopy();
    this.append(piece, 0, piece.length);
  }

  /** Hands the output, if any, to `emit` and forgets it. */
  flush(emit: (chunk: Buffer) => void): void {
    if (this.copy !== null) {
      if (this.length > 0) emit(this.copy.subarray(0, this.length));
    } else if (this.source !== null) {
      emit(this.source.subarray(this.start, this.end));
    }
    this.source = null;
    this.copy = null;
    this.length = 0;
  }

  private startCopy(): void {
    this.copy = Buffer.allocUnsafe(Math.max(64, this.capacityHint));
    this.length = 0;
    if (this.source !== null) this.append(this.source, this.start, this.end);
    this.source = null;
  }

  private append(from: Buffer, start: number, end: number): void {
    const n = end - start;
    let copy = this.copy!;
    if (this.length + n > copy.length) {
      // Not reached with the hint the decoder gives; kept so a wrong hint costs a copy, not data.
      const grown = Buffer.allocUnsafe(Math.max(copy.length * 2, this.length + n));
      copy.copy(grown, 0, 0, this.length);
      copy = grown;
      this.copy = grown;
    }
    if (n <= 32) {
      // Short pieces (a dot line's bytes) by hand: Buffer#copy makes a view per call, which
      // costs more than the copy.
      for (let k = 0; k < n; k++) copy[this.length + k] = from[start + k]!;
    } else {
      from.copy(copy, this.length, start, end);
    }
    this.length += n;
  }
}

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
   * A bare CR was read (its bytes are the caller's). Under "normalize" it ended
   * a line; else it is content: the line goes on, so a dot after it starts
   * nothing (\r.\r\n).
   */
  private bareCr(): void {
    this.findings.bareCr = true;
    if (this.normalize()) {
      this.endLine('bare');
    } else {
      this.lineLength++;
      this.lineStart = null;
    }
  }

  /**
   * Consumes bytes of `chunk`. Returns the offset just past the end-of-data
   * sequence if it was found in this chunk (the rest belongs to the next
   * command), or -1 if the message goes on.
   */
  feed(chunk: Buffer): number {
    if (this.ended) return 0;
    const n = chunk.length;
    // "reject" keeps every byte but drops stuffing dots; "normalize" may turn each byte into CRLF.
    // Either may put back up to two bytes held from the previous chunk.
    const out = new ChunkOutput((this.normalize() ? 2 * n : n) + 4);
    let i = 0;
    let spanStart = 0;
    const flush = (to: number) => {
      if (to > spanStart) out.span(chunk, spanStart, to);
    };
    /** Under "normalize", the bare CR or LF at `at` is stored as CRLF. */
    const normalizeAt = (at: number) => {
      flush(at);
      out.bytes(CRLF);
      spanStart = at + 1;
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
          out.bytes(DOT_BYTE);
          if (this.normalize()) {
            out.bytes(CRLF);
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
            out.flush(this.emit);
            return i + 1;
          }
          // "." line after a bare newline, e.g. the \n.\r\n smuggling sequence: content.
          out.bytes(DOT_BYTE);
          out.bytes(CRLF);
          i++;
          spanStart = i;
          this.lineLength = 1;
          this.endLine('crlf');
          continue;
        }
        // ".\r" followed by something else: a bare CR.
        out.bytes(DOT_BYTE);
        out.bytes(this.normalize() ? CRLF : CR_BYTE);
        spanStart = i;
        this.lineLength = 1;
        this.bareCr();
        continue;
      }
      if (this.pendingCr) {
        this.pendingCr = false;
        if (chunk[i] === LF) {
          out.bytes(CRLF);
          i++;
          spanStart = i;
          this.endLine('crlf');
        } else {
          out.bytes(this.normalize() ? CRLF : CR_BYTE);
          spanStart = i;
          this.bareCr();
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

      // Bulk: copy up to the next CR or LF. A few bytes are looked at here first: in short
      // lines (dot lines) two native searches per line cost far more than the line.
      let j = i;
      const near = Math.min(n, i + SHORT_SCAN);
      while (j < near && chunk[j] !== CR && chunk[j] !== LF) j++;
      if (j === near && j < n) {
        if (nextCr !== -1 && nextCr < j) nextCr = chunk.indexOf(CR, j);
        if (nextLf !== -1 && nextLf < j) nextLf = chunk.indexOf(LF, j);
        if (nextCr === -1) j = nextLf === -1 ? n : nextLf;
        else j = nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
      }
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
        if (this.normalize()) normalizeAt(j);
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
      if (this.normalize()) normalizeAt(j);
      i = j + 1;
      this.bareCr();
    }
    // Held bytes (a CR or a leading dot awaiting their partner) sit before spanStart.
    flush(n);
    out.flush(this.emit);
    return -1;
  }
}
