/*
 * A raw SMTP peer for protocol tests: sends exact bytes (smuggling sequences,
 * garbage, pipelined batches) and reads replies as the server framed them.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface ParsedReply {
  readonly code: number;
  /** All lines of the reply, without CRLF. */
  readonly lines: string[];
  readonly text: string;
}

export class RawSmtp {
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(public socket: Socket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (t: string) => {
      this.buffer += t;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connects with TLS from the first byte (implicit TLS, port 465). */
  static async openTls(port: number, options: ConnectionOptions = {}): Promise<RawSmtp> {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options });
    await once(s, 'secureConnect');
    return new RawSmtp(s);
  }

  /** Starts TLS on this connection (after the server's 220 to STARTTLS); what was unread is dropped. */
  async startTls(options: ConnectionOptions = {}): Promise<TLSSocket> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    this.buffer = '';
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, ...options });
    await once(secure, 'secureConnect');
    this.socket = secure;
    this.attach(secure);
    return secure;
  }

  /** True if a reply (or part of one) arrived that nobody read yet. */
  get pending(): boolean {
    return this.buffer.length > 0;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RawSmtp(s)));
      s.once('error', reject);
    });
  }

  /** Connects and reads the greeting. */
  static async session(port: number): Promise<{ smtp: RawSmtp; greeting: ParsedReply }> {
    const smtp = await RawSmtp.open(port);
    const greeting = await smtp.reply();
    return { smtp, greeting };
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  private takeReply(): ParsedReply | null {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const nl = this.buffer.indexOf('\r\n', offset);
      if (nl < 0) return null;
      const line = this.buffer.slice(offset, nl);
      lines.push(line);
      offset = nl + 2;
      if (line.length < 4 || line[3] !== '-') {
        this.buffer = this.buffer.slice(offset);
        return { code: Number(line.slice(0, 3)), lines, text: lines.join('\n') };
      }
    }
  }

  /** The next complete reply; rejects on close or after `timeoutMs`. */
  async reply(timeoutMs = 10_000): Promise<ParsedReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.takeReply();
      if (r) return r;
      if (this.closed) throw new Error(`connection closed; unparsed: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in ${timeoutMs} ms; buffer: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async command(line: string): Promise<ParsedReply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Reads `n` replies. */
  async replies(n: number): Promise<ParsedReply[]> {
    const out: ParsedReply[] = [];
    for (let i = 0; i < n; i++) out.push(await this.reply());
    return out;
  }

  /** Resolves when the server closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('server did not close the connection');
      await new Promise<void>((res) => {
        const t = setTimeout(res, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** EHLO + MAIL + RCPT, asserting success is left to the caller. */
export async function openTransaction(port: number, from = 'a@example.test', to = 'b@example.test'): Promise<RawSmtp> {
  const { smtp } = await RawSmtp.session(port);
  await smtp.command('EHLO client.test');
  await smtp.command(`MAIL FROM:<${from}>`);
  await smtp.command(`RCPT TO:<${to}>`);
  return smtp;
}
