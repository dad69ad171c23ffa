/*
 * Cuts the command stream into lines. Enforces the command line limit
 * (RFC 5321 4.5.3.1.4: 512 octets with CRLF) without buffering an over-long
 * line: its bytes are dropped and one "too long" event comes out when its end
 * arrives. Reports bare LF line ends for smtpd_forbid_bare_newline. Pure.
 */

export type CommandInput =
  | { readonly kind: 'line'; readonly text: string; readonly bareLf: boolean }
  | { readonly kind: 'too-long' };

export class CommandReader {
  private buffer: Buffer | null = null;
  private skipping = false;

  constructor(private readonly maxLine: number) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer?.length ? Buffer.concat([this.buffer, chunk]) : chunk;
  }

  /** Unprocessed bytes (handed to the DATA decoder after 354). */
  take(): Buffer | null {
    const b = this.buffer;
    this.buffer = null;
    return b?.length ? b : null;
  }

  /** Drops everything buffered (RFC 3207 after STARTTLS, on QUIT). */
  discard(): void {
    this.buffer = null;
  }

  get buffered(): number {
    return this.buffer ? this.buffer.length : 0;
  }

  next(): CommandInput | null {
    const buf = this.buffer;
    if (!buf || buf.length === 0) return null;
    const lf = buf.indexOf(10);
    if (lf < 0) {
      if (buf.length >= this.maxLine) {
        // Over-long: drop what we have, keep dropping until the line ends.
        this.skipping = true;
        this.buffer = null;
      }
      return null;
    }
    this.buffer = lf + 1 < buf.length ? buf.subarray(lf + 1) : null;
    if (this.skipping || lf + 1 > this.maxLine) {
      this.skipping = false;
      return { kind: 'too-long' };
    }
    const bareLf = lf === 0 || buf[lf - 1] !== 13;
    const text = buf.toString('utf8', 0, bareLf ? lf : lf - 1);
    return { kind: 'line', text, bareLf };
  }
}
