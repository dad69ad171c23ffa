/*
 * A raw POP3 client for the tests that need to see the exact lines (response
 * codes, pipelining, what comes back after a refused command): one socket,
 * single-line and multi-line responses read with time limits, STLS; and the
 * listeners, pipeline and users file the POP3 tests configure.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import bcrypt from 'bcryptjs';
import { swaks } from './clients.js';
import type { TestCertificate } from './tls.js';

export const ALICE = 'alice@example.test';
export const PASSWORD = 'alice-pw';

/** Two POP3 listeners on the "pop3" pipeline: pop3 (STLS) and pop3s (implicit TLS, in starttls' implicit_listeners). */
export const POP3_LISTENERS = `
  - name: pop3
    address: 127.0.0.1
    port: 0
    pipeline: pop3
    protocol: pop3
  - name: pop3s
    address: 127.0.0.1
    port: 0
    pipeline: pop3
    protocol: pop3`;

/** The users file: alice and bob, bcrypt hashes. */
export function usersFile(dir: string): string {
  const file = join(dir, 'users.yaml');
  const hash = (pw: string) => bcrypt.hashSync(pw, 4).replace(/^\$2b\$/, '$2y$');
  writeFileSync(
    file,
    `domains: [example.test]
users:
  ${ALICE}:
    password: "${hash(PASSWORD)}"
  bob@example.test:
    password: "${hash('bob-pw')}"
`,
  );
  chmodSync(file, 0o600);
  return file;
}

export function pop3Pipeline(cert: TestCertificate, extra = ''): string {
  return `
  pop3:
    plugins:
      - use: starttls
        with: { cert: ${cert.cert}, key: ${cert.key}, implicit_listeners: [pop3s] }
      - use: file-users
        with: { file: users.yaml }${extra}`;
}

const REPLY_TIMEOUT_MS = 20_000;

export class RawPop3 {
  private buffer = '';
  private waiters: (() => void)[] = [];
  private closedFlag = false;

  private constructor(private socket: Socket) {
    this.listen(socket);
  }

  private listen(socket: Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
  }

  /** Connects (from `localAddress`, e.g. 127.0.0.2, to be another client) and reads the greeting. */
  static async open(port: number, tls = false, localAddress?: string): Promise<{ pop: RawPop3; greeting: string }> {
    const from = localAddress ? { localAddress } : {};
    const socket = tls
      ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...from })
      : connect({ host: '127.0.0.1', port, ...from });
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const pop = new RawPop3(socket);
    return { pop, greeting: await pop.line() };
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private async until(pred: () => number): Promise<number> {
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      const at = pred();
      if (at >= 0) return at;
      if (this.closedFlag) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      if (Date.now() > deadline) throw new Error(`no reply; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** One response line, without CRLF. */
  async line(): Promise<string> {
    const end = await this.until(() => this.buffer.indexOf('\r\n'));
    const text = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + 2);
    return text;
  }

  /** A multi-line response's body up to ".\r\n", still dot-stuffed, as raw text with CRLF. */
  async body(): Promise<string> {
    const end = await this.until(() => (this.buffer.startsWith('.\r\n') ? 0 : this.buffer.indexOf('\r\n.\r\n')));
    const cut = end === 0 ? 0 : end + 2;
    const text = this.buffer.slice(0, cut);
    this.buffer = this.buffer.slice(cut + 3);
    return text;
  }

  write(text: string): void {
    this.socket.write(text, 'latin1');
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.line();
  }

  /** A command with a multi-line answer: the status line and, after +OK, the body. */
  async multi(line: string): Promise<{ status: string; body: string }> {
    const status = await this.command(line);
    return { status, body: status.startsWith('+OK') ? await this.body() : '' };
  }

  async stls(): Promise<void> {
    const reply = await this.command('STLS');
    if (!reply.startsWith('+OK')) throw new Error(`STLS refused: ${reply}`);
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  async login(user: string, password: string): Promise<string> {
    const u = await this.command(`USER ${user}`);
    if (!u.startsWith('+OK')) return u;
    return this.command(`PASS ${password}`);
  }

  /** Waits for the server to close the connection. */
  async waitClosed(): Promise<void> {
    await this.until(() => (this.closedFlag ? 0 : -1)).catch(() => undefined);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** swaks from a roaming user to another domain, up to RCPT: 0 if the gateway lets it relay. */
export const relayAttempt = (port: number) =>
  swaks(port, ['--from', 'roaming@example.test', '--to', 'someone@elsewhere.test', '--quit-after', 'RCPT']);
