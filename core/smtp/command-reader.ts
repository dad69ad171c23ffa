/*
 * Cuts the command stream into lines. Enforces the command line limit
 * (RFC 5321 4.5.3.1.4: 512 octets with CRLF) without buffering an over-long
 * line: its bytes are dropped and one "too long" event comes out when its end
 * arrives. Reports bare LF line ends (smtpd_forbid_bare_newline), a bare CR
 * inside a line, and lines that are not UTF-8; only valid lines carry text.
 * Notes since when an unfinished line has been arriving, for the command
 * deadline. Pure: the caller passes the time with the bytes.
 */
import { isUtf8 } from 'node:buffer';

export type CommandInput =
  | { readonly kind: 'line'; readonly text: string; readonly bareLf: boolean }
  /** A CR inside the line, not just before its end ("EHLO a\rX-Injected: b"). */
  | { readonly kind: 'bare-cr'; readonly bareLf: boolean }
  /** Bytes that are not UTF-8 (RFC 3629): overlong forms, surrogates, stray 0x80-0xff. */
  | { readonly kind: 'bad-utf8'; readonly bareLf: boolean }
  | { readonly kind: 'too-long' };

const CR = 13;
const LF = 10;

export class CommandReader {
  /** What was received and not yet cut into lines, in the pieces it came in. */
  private pieces: Buffer[] = [];
  private bytes = 0;
  /**
   * Everything held was looked at and holds no LF: nothing to do until a piece
   * with an LF comes (or the limit is reached). Pieces are joined only then, so
   * a line trickled in n pieces costs n, not n² (a join per piece did that).
   */
  private waiting = false;
  private skipping = false;
  private partialSince: number | undefined;

  constructor(private readonly maxLine: number) {}

  /** Adds bytes received at `now` (any clock; only differences of it are used). */
  push(chunk: Buffer, now = 0): void {
    if (chunk.length === 0) return;
    this.pieces.push(chunk);
    this.bytes += chunk.length;
    const endsLine = chunk[chunk.length - 1] === LF;
    const hasLf = endsLine || chunk.includes(LF);
    if (hasLf) this.waiting = false;
    if (endsLine) this.partialSince = undefined;
    else if (this.partialSince === undefined || hasLf) this.partialSince = now;
  }

  /**
   * When the first byte of the line that has not ended yet arrived; undefined if
   * every byte received so far belongs to a complete line.
   */
  get lineStartedAt(): number | undefined {
    return this.partialSince;
  }

  /** Counts the unfinished line as begun at `now` (time the caller did not read does not count). */
  restartLineClock(now: number): void {
    if (this.partialSince !== undefined) this.partialSince = now;
  }

  /** Unprocessed bytes (handed to the DATA decoder after 354). */
  take(): Buffer | null {
    const b = this.bytes ? this.joined() : null;
    this.discard();
    return b;
  }

  /** Drops everything buffered (RFC 3207 after STARTTLS, on QUIT). */
  discard(): void {
    this.pieces = [];
    this.bytes = 0;
    this.waiting = false;
    this.partialSince = undefined;
  }

  get buffered(): number {
    return this.bytes;
  }

  /** The held bytes as one buffer (there are some). */
  private joined(): Buffer {
    if (this.pieces.length > 1) this.pieces = [Buffer.concat(this.pieces, this.bytes)];
    return this.pieces[0]!;
  }

  next(): CommandInput | null {
    if (this.bytes === 0) return null;
    const buf = this.waiting ? undefined : this.joined();
    const lf = buf === undefined ? -1 : buf.indexOf(LF);
    if (buf === undefined || lf < 0) {
      this.waiting = true;
      if (this.bytes >= this.maxLine) {
        // Over-long: drop what we have, keep dropping until the line ends.
        this.skipping = true;
        this.pieces = [];
        this.bytes = 0;
      }
      return null;
    }
    const rest = buf.subarray(lf + 1);
    this.pieces = rest.length ? [rest] : [];
    this.bytes = rest.length;
    if (this.skipping || lf + 1 > this.maxLine) {
      this.skipping = false;
      return { kind: 'too-long' };
    }
    const bareLf = lf === 0 || buf[lf - 1] !== CR;
    // CRs right before the line end are dropped, as Postfix's smtp_get does: "QUIT\r\r\n" is
    // what openssl s_client -crlf sends for input that already ends in CRLF.
    let end = lf;
    while (end > 0 && buf[end - 1] === CR) end--;
    const line = buf.subarray(0, end);
    // Anywhere else a CR is a line end to some parsers and text to others, which is how
    // commands are smuggled past a filter in front of us: never pass one on.
    if (line.includes(CR)) return { kind: 'bare-cr', bareLf };
    // toString() would replace bad bytes with U+FFFD, and every bad address would become
    // the same mailbox.
    if (!isUtf8(line)) return { kind: 'bad-utf8', bareLf };
    return { kind: 'line', text: line.toString('utf8'), bareLf };
  }
}
