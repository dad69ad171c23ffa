/*
 * The SMTP client connection: nodemailer's SMTPConnection with its events
 * turned into promises, so every step of a session can be awaited and raced
 * against the connection breaking. It knows whether the server greeted 2xx,
 * whether a STARTTLS handshake was under way when the session failed, and how
 * to end the connection (QUIT, then close, within a bound). It decides nothing
 * about recipients (deliver.ts) and keeps no connection for later (cache.ts).
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

/** The outcome is known once QUIT is sent; a silent server must not hold the caller longer than this. */
const QUIT_WAIT_MS = 5_000;

export type SMTPError = SMTPConnection.SMTPError;
type Logger = Exclude<SMTPConnection.Options['logger'], boolean | undefined>;

let Connection: typeof SMTPConnection | undefined;

/**
 * Loads nodemailer's client; call it before the first `new SmtpClientConnection`.
 * Loaded on first use, so a process that never relays (the SMTP side, a gateway
 * with only local delivery) does not carry it.
 */
export async function loadSmtpClient(): Promise<void> {
  Connection ??= (await import('nodemailer/lib/smtp-connection/index.js')).default;
}

/**
 * nodemailer's connection with its events turned into promises. nodemailer
 * reports a broken connection only as an 'error' or 'end' event, never to the
 * callback of the command in flight, so every step also ends with them.
 */
export class SmtpClientConnection {
  readonly conn: SMTPConnection;
  /** The server's first reply was 2xx, so this host is the one that delivers. */
  greeted = false;
  /** The connection failed or closed; no more commands, no QUIT. */
  get broken(): boolean {
    return this.ended !== undefined;
  }
  /** The server said yes to STARTTLS: a failure before TLS is up is the handshake's. */
  handshaking = false;
  /** Transactions begun on this connection. */
  transactions = 0;
  /** Settles once the connection failed or closed. */
  readonly gone: Promise<void>;
  /** Why the connection ended (its first 'error', or the 'end'), once it has. */
  private ended: { readonly reason: unknown } | undefined;
  /**
   * How to fail each step in flight when the connection ends. A step leaves this set
   * as it settles: a connection carries up to max_reuse transactions, and a race
   * against one promise of the connection's lifetime kept every step's result alive
   * until the connection closed (old-generation garbage on the delivery thread).
   */
  private readonly inFlight = new Set<(reason: unknown) => void>();
  /** Server replies read so far, the greeting included. */
  replies = 0;
  /** The last of them: 354 says the body may go now. */
  private lastReply = '';
  private startTlsSent = false;
  private held = true;

  constructor(options: SMTPConnection.Options) {
    // The transaction log is the only place nodemailer shows the server's replies as they come.
    const logger = this.transcript();
    if (!Connection) throw new Error('loadSmtpClient() was not awaited before the first connection');
    this.conn = new Connection({ ...options, logger, transactionLog: true });
    let markGone!: () => void;
    this.gone = new Promise<void>((resolve) => {
      markGone = resolve;
    });
    const end = (reason: unknown) => {
      if (this.ended) return;
      this.ended = { reason };
      for (const fail of this.inFlight) fail(reason);
      this.inFlight.clear();
      markGone();
    };
    this.conn.on('error', end);
    this.conn.on('end', () => end(new Error('connection closed')));
  }

  /** Runs one command (or the whole transaction): settles with it, or fails when the connection ends first. */
  step<T>(start: (resolve: (value: T) => void, reject: (err: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.ended) return reject(this.ended.reason);
      this.inFlight.add(reject);
      const done = () => this.inFlight.delete(reject);
      try {
        start(
          (value) => {
            done();
            resolve(value);
          },
          (err) => {
            done();
            reject(err);
          },
        );
      } catch (err) {
        done();
        reject(err);
      }
    });
  }

  tlsInfo(): { protocol: string; cipher: string } | undefined {
    const socket: unknown = this.conn._socket;
    if (!(socket instanceof TLSSocket) || !this.conn.secure) return undefined;
    return { protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().name };
  }

  /** Whether the socket keeps the process alive: an idle connection must not. */
  hold(active: boolean): void {
    const socket: Socket | false | undefined = this.conn._socket;
    if (!socket) return;
    if (active) socket.ref();
    else socket.unref();
    this.held = active;
  }

  /** The socket timeout of the transaction about to start, which may not be the one that opened it. */
  retime(socketMs: number): void {
    this.conn.options.socketTimeout = socketMs;
    const socket: Socket | false | undefined = this.conn._socket;
    if (socket) socket.setTimeout(socketMs);
  }

  /**
   * Has a message body and its final "." line leave in as few writes as they fit in:
   * nodemailer writes each chunk and the final line with a write of its own, and each
   * write is a system call that, on a loopback or LAN hop, also wakes the server. The
   * socket is corked when the body starts to flow after 354, and uncorked once the
   * body has ended and the final line is queued behind it, as soon as a full socket
   * buffer is waiting (a corked socket never drains, so a large body would wait for
   * itself), or at once if the body fails.
   */
  coalesce(body: Readable): void {
    const socket: Socket | false | undefined = this.conn._socket;
    if (!socket) return;
    let corked = false;
    const uncork = () => {
      if (!corked) return;
      corked = false;
      socket.uncork();
    };
    body.once('resume', () => {
      // A refused transaction has nodemailer drain the body into nothing: no 354, no cork.
      if (!this.lastReply.startsWith('354') || socket.destroyed) return;
      socket.cork();
      corked = true;
      // After nodemailer's own listener (pipe), which has written the chunk by now.
      body.on('data', () => {
        if (socket.writableLength >= socket.writableHighWaterMark) uncork();
      });
      body.once('end', () => setImmediate(uncork));
      body.once('close', () => setImmediate(uncork));
      body.once('error', uncork);
    });
  }

  /** QUITs if the session still stands, then waits until the socket is closed. */
  async settle(quit: boolean): Promise<void> {
    const socket: Socket | false | undefined = this.conn._socket;
    if (quit && !this.broken) this.conn.quit();
    else this.conn.close();
    if (!socket || socket.closed) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), QUIT_WAIT_MS);
      // An idle connection's QUIT is no reason to keep the process alive either.
      if (!this.held) timer.unref();
    });
    if ((await Promise.race([closed, late])) === 'late') {
      this.conn.close();
      socket.destroy();
      await closed;
    }
    clearTimeout(timer);
  }

  private transcript(): Logger {
    const ignore = () => {};
    return {
      level: ignore,
      trace: ignore,
      info: ignore,
      warn: ignore,
      error: ignore,
      fatal: ignore,
      debug: (...params: unknown[]) => {
        const tnx = (params[0] as { tnx?: unknown } | undefined)?.tnx;
        const line = String(params[1]);
        if (tnx === 'client' && line === 'STARTTLS') this.startTlsSent = true;
        if (tnx !== 'server') return;
        this.lastReply = line;
        // The first reply is the greeting; nodemailer itself insists on exactly 220.
        if (this.replies++ === 0) this.greeted = /^2\d\d/.test(line);
        if (this.startTlsSent) {
          this.startTlsSent = false;
          this.handshaking = line.startsWith('2');
        }
      },
    };
  }
}

/** nodemailer's error code ("ECONNECTION", "EENVELOPE", ...). */
export function errorCode(err: unknown): string | undefined {
  return (err as SMTPError | undefined)?.code;
}

/** What went wrong, in a few words: the server's reply if there was one. */
export function describe(err: unknown): string {
  const e = err as SMTPError;
  // nodemailer appends the server's reply to its own message; the reply alone says it better.
  if (e?.response) return e.response;
  return e instanceof Error ? e.message : String(err);
}
