/*
 * A raw SMTP peer for protocol tests: sends exact bytes (smuggling sequences,
 * garbage, pipelined batches) and reads replies as the server framed them.
 * Every wait (connect, TLS handshake, a reply, the close, room to write) has a
 * time limit, so a server that stops answering fails the test instead of
 * hanging the suite.
 */
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';

/** How long connecting or a TLS handshake with the gateway on loopback may take. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Resolves when `socket` emits `event`; rejects on its error, on its close
 * first, or after `timeoutMs` (then the socket is destroyed).
 */
function waitFor(socket: Socket, event: string, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off(event, onEvent);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onEvent = () => done();
    const onError = (err: Error) => done(new Error(`${what}: ${err.message}`, { cause: err }));
    const onClose = () => done(new Error(`${what}: the connection closed`));
    const timer = setTimeout(() => {
      socket.destroy();
      done(new Error(`${what}: nothing in ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(event, onEvent);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

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
    await waitFor(s, 'secureConnect', `TLS handshake with port ${port}`, CONNECT_TIMEOUT_MS);
    return new RawSmtp(s);
  }

  /** Starts TLS on this connection (after the server's 220 to STARTTLS); what was unread is dropped. */
  async startTls(options: ConnectionOptions = {}): Promise<TLSSocket> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    this.buffer = '';
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, ...options });
    await waitFor(secure, 'secureConnect', 'TLS handshake after STARTTLS', CONNECT_TIMEOUT_MS);
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

  static async open(port: number, host = '127.0.0.1'): Promise<RawSmtp> {
    const s = connect({ port, host });
    await waitFor(s, 'connect', `connect to ${host}:${port}`, CONNECT_TIMEOUT_MS);
    return new RawSmtp(s);
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

  /**
   * Writes `data` in pieces, each once the socket has room for it (what a
   * client streaming a large message does); rejects if the server stops
   * reading for `timeoutMs` or closes the connection.
   */
  async send(data: Buffer, timeoutMs = 30_000, piece = 65536): Promise<void> {
    for (let i = 0; i < data.length; i += piece) {
      if (!this.socket.write(data.subarray(i, i + piece))) {
        await waitFor(this.socket, 'drain', `writing octet ${i} of ${data.length}`, timeoutMs);
      }
    }
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
