/*
 * The test kit's SMTP client: a real TCP (and, after STARTTLS, TLS) client
 * that sends exactly what a test asks and returns every reply as the server
 * framed it. Written here rather than taken from a mail library because such
 * libraries hide what a plugin test must see: each reply, its enhanced code,
 * pipelined batches, bytes sent as they are. What it buffers is bounded.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/** One SMTP reply, as received. */
export interface SmtpReply {
  readonly code: number;
  /** RFC 3463 enhanced status code of the first line ("5.7.1"), if it has one. */
  readonly enhanced: string | undefined;
  /** Text of each line, after the code and the enhanced code. */
  readonly lines: readonly string[];
  /** The whole reply as sent, lines joined with "\n": "554 5.7.1 <a@b.test>: Relay access denied". */
  readonly full: string;
}

/** Longest reply the client keeps waiting for; a server sending more is broken. */
const MAX_BUFFER = 1024 * 1024;

/** Parses the lines of one complete reply (without CRLF). Pure; table-tested. */
export function parseReply(rawLines: readonly string[]): SmtpReply {
  const first = rawLines[0] ?? '';
  const code = Number(first.slice(0, 3));
  if (!/^[2-5]\d\d$/.test(first.slice(0, 3))) throw new Error(`not an SMTP reply: ${JSON.stringify(first)}`);
  const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?: |$)/.exec(first)?.[1];
  const lines = rawLines.map((line) => {
    const text = line.slice(4);
    return enhanced !== undefined && text.startsWith(enhanced) ? text.slice(enhanced.length).replace(/^ /, '') : text;
  });
  return { code, enhanced, lines, full: rawLines.join('\n') };
}

export class SmtpTestClient {
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private ended = false;
  /** The server's greeting (read by connect()). */
  greeting!: SmtpReply;
  /** Local port of this connection (the gateway logs it as the client's port). */
  readonly localPort: number;

  private constructor(private socket: Socket) {
    this.localPort = socket.localPort ?? 0;
    this.attach(socket);
  }

  /** Connects to host:port and reads the greeting. */
  static async connect(port: number, host = '127.0.0.1'): Promise<SmtpTestClient> {
    const socket = connect({ port, host });
    await once(socket, 'connect');
    const client = new SmtpTestClient(socket);
    client.greeting = await client.reply();
    return client;
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.ended;
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      if (this.buffer.length > MAX_BUFFER) socket.destroy(new Error(`more than ${MAX_BUFFER} octets without a complete reply`));
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private takeReply(): SmtpReply | undefined {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n', offset);
      if (end < 0) return undefined;
      const line = this.buffer.subarray(offset, end).toString('utf8');
      lines.push(line);
      offset = end + 2;
      if (line[3] !== '-') {
        this.buffer = this.buffer.subarray(offset);
        return parseReply(lines);
      }
    }
  }

  /** The next reply; rejects if the connection closes first or nothing comes within `timeoutMs`. */
  async reply(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.takeReply();
      if (reply) return reply;
      if (this.ended) throw new Error(`connection closed before a reply; unread: ${JSON.stringify(this.buffer.toString())}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await this.wait(left);
    }
  }

  /** Until more bytes arrive, the connection closes, or `ms` pass. */
  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sends bytes as they are (pipelined commands, broken input). */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async command(line: string): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /**
   * DATA with a message: on 354, sends `message` with bare LFs made CRLF and
   * lines starting with "." doubled (RFC 5321 4.5.2), then the final ".", and
   * returns the reply to it; otherwise returns the refusal of DATA.
   */
  async data(message: string | Buffer): Promise<SmtpReply> {
    const go = await this.command('DATA');
    if (go.code !== 354) return go;
    this.write(Buffer.concat([encodeMessage(message), Buffer.from('.\r\n')]));
    return this.reply();
  }

  /** STARTTLS, then the TLS handshake; returns the reply to STARTTLS (the handshake runs only on 220). */
  async startTls(options: ConnectionOptions = {}): Promise<SmtpReply> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) return reply;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    this.buffer = Buffer.alloc(0);
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, ...options });
    await once(secure, 'secureConnect');
    this.socket = secure;
    this.attach(secure);
    return reply;
  }

  /** QUIT, its reply, and the close. */
  async quit(): Promise<SmtpReply> {
    const reply = await this.command('QUIT');
    await this.waitClosed();
    return reply;
  }

  /** Resolves when the server has closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the server did not close the connection within ${timeoutMs} ms`);
      await this.wait(left);
    }
  }

  /** Drops the connection without QUIT. */
  close(): void {
    this.socket.destroy();
  }
}

/** The message as a client sends it: CRLF line ends, dot-stuffed, ending in CRLF. Pure. */
export function encodeMessage(message: string | Buffer): Buffer {
  const text = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const lines = text.toString('latin1').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return Buffer.from(lines.map((line) => (line.startsWith('.') ? `.${line}` : line)).join('\r\n') + '\r\n', 'latin1');
}
