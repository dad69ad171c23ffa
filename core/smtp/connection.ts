/*
 * The transport of one SMTP connection: the socket, input buffering with
 * back-pressure, the swap to TLS (STARTTLS or implicit, RFC 8314; renegotiation
 * refused), the timers (idle timeout, a deadline per command line, a minimum
 * data rate in DATA), the half-close, ordered output and the close. Command
 * lines and message data go to the session one at a time, each after the reply
 * to the one before; replies to pipelined commands leave in one write when the
 * buffered commands are used up. A client that half-closes gets the replies to
 * everything it sent before, then the close.
 *
 * It knows no verbs, hooks or transactions: what a line means is the session's
 * (session.ts), through the small ConnectionHandler and MessageInput interfaces.
 */
import { constants as cryptoConstants } from 'node:crypto';
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket, type TLSSocketOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/schema.js';
import type { Endpoint, TlsInfo } from '../hooks/types.js';
import { formatReply, type Reply, reply } from '../model/index.js';
import { type CommandInput, CommandReader } from './command-reader.js';
import { DataRateBudget } from './data-rate.js';

/** Pause reading when this much command input waits (a client flooding pipelined commands). */
const MAX_PENDING_INPUT = 64 * 1024;
/** Pause reading when this much output waits: the client does not read its replies. */
const MAX_PENDING_OUTPUT = 1 << 20;

/** greeting: before the connect hooks let the client in; data: between 354 and the end of data. */
export type ConnectionState = 'greeting' | 'command' | 'data' | 'closed';

export interface ConnectionSettings {
  readonly listener: Pick<ListenerConfig, 'timeout' | 'command_deadline' | 'min_data_rate' | 'smtpd_forbid_bare_newline'>;
  /** The name in the 421 replies the connection sends by itself (timeouts, internal errors). */
  readonly hostname: string;
  /** The longest line read, CRLF included; longer ones are refused unread. */
  readonly maxLine: number;
  readonly log: Logger;
}

/** What the session does with the connection's input. */
export interface ConnectionHandler {
  /**
   * A command line (without CRLF): shorter than maxLine, UTF-8, no bare CR.
   * The next line waits until the returned promise settles.
   */
  command(line: string): Promise<void>;
  /** A line refused before it became a command (too long, not UTF-8): the reply counts as an error. */
  refused(reply: Reply): void;
  /** Everything buffered so far is answered (the connection waits for the client now). */
  answered(): void;
  /** The socket is closed. `byPeer`: the client closed it before we did. */
  closed(byPeer: boolean): void;
}

/** Where the bytes after 354 go, until the end of data. */
export interface MessageInput {
  /** Takes message bytes; returns the offset just past the end of data if this chunk holds it, else -1. */
  feed(chunk: Buffer): number;
  /** The end of data was read: answers the message. Commands pipelined after it wait for it. Never rejects. */
  end(): Promise<void>;
  /** The connection ends before the end of data: nothing was acknowledged (`reason` for the log). */
  abort(reason: string): void;
}

export class SmtpConnection {
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /**
   * Why the connection ended, for the session's log line: whoever ends it names
   * the reason (close(reply, reason)); a client that just goes away leaves this.
   */
  endReason = 'client closed';

  private mode: ConnectionState = 'greeting';
  private readonly reader: CommandReader;
  private readonly out: string[] = [];
  private pumping = false;
  /** A message between its end of data and its reply: the next commands wait for it. */
  private finishing = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Fires when the command line deadline or the DATA rate budget may have run out. */
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The client half-closed: answer what it sent before, then close. */
  private peerEnded = false;
  private lineWaiter: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  private message: { readonly input: MessageInput; readonly rate: DataRateBudget } | undefined;
  private pausedForInput = false;

  constructor(
    private socket: Socket,
    private readonly settings: ConnectionSettings,
    private readonly handler: ConnectionHandler,
  ) {
    this.remote = { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
    this.local = { address: normalizeAddress(socket.localAddress), port: socket.localPort ?? 0 };
    this.reader = new CommandReader(settings.maxLine);
  }

  get state(): ConnectionState {
    return this.mode;
  }

  get closed(): boolean {
    return this.mode === 'closed';
  }

  /** A command is being answered. */
  get answering(): boolean {
    return this.pumping;
  }

  /**
   * Starts watching the socket and the idle timer. The socket arrives paused
   * (the listener accepts with pauseOnConnect) and stays so until resume(): the
   * first bytes may be a TLS ClientHello (implicit TLS, asked for at connect).
   */
  attach(): void {
    this.socket.setNoDelay(true);
    this.attachSocket(this.socket);
    this.armIdleTimer();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Sends the greeting and starts reading commands. */
  acceptCommands(greeting: Reply): void {
    this.mode = 'command';
    this.send(greeting);
    void this.pump();
  }

  /** Sends an intermediate reply (334) and resolves with the client's next line (SASL, RFC 4954). */
  exchange(reply: Reply): Promise<string> {
    if (this.mode === 'closed') return Promise.reject(new Error('connection closed'));
    this.send(reply);
    this.flush();
    return new Promise((resolve, reject) => {
      this.lineWaiter = { resolve, reject };
      this.serveLineWaiter();
    });
  }

  /** After 354: the bytes that follow are message data, for `input`, until the end of data. */
  receiveMessage(input: MessageInput): void {
    const { listener } = this.settings;
    this.message = { input, rate: new DataRateBudget(listener.timeout, listener.min_data_rate, performance.now()) };
    this.mode = 'data';
    this.armDeadline();
  }

  /** The store is behind (a spool write returned false): stop reading until `whenDrained` calls back. */
  holdInput(whenDrained: (resume: () => void) => void): void {
    if (this.socket.isPaused()) return;
    this.socket.pause();
    whenDrained(() => {
      if (this.mode !== 'closed' && !this.pausedForInput) this.socket.resume();
    });
  }

  private attachSocket(s: Socket): void {
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('end', () => this.onPeerEnded());
    s.on('error', (err) => this.settings.log.debug({ err }, 'socket error'));
    s.on('close', () => this.onSocketClosed());
    s.on('drain', () => this.resumeIfPossible());
  }

  /**
   * Switches the connection to TLS after the reply that announced it (220 to
   * STARTTLS) or before the greeting (implicit TLS, RFC 8314). Plaintext that
   * arrived after the STARTTLS command is thrown away unread (RFC 3207 4.2,
   * CVE-2011-0411); the session forgets what it learnt before. Resolves with
   * the TLS facts, or undefined if the handshake failed: the connection is
   * closed then.
   */
  async upgradeToTls(options: TLSSocketOptions): Promise<TlsInfo | undefined> {
    this.flush();
    this.reader.discard();
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('end');
    raw.removeAllListeners('close');
    raw.removeAllListeners('drain');
    const secure = new TLSSocket(raw, { ...withoutRenegotiation(options), isServer: true });
    this.socket = secure;
    this.attachSocket(secure);
    secure.setNoDelay(true);
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.settings.listener.timeout);
      secure.once('secure', () => {
        clearTimeout(timer);
        resolve(true);
      });
      // The socket is half-open capable: a client that closes mid-handshake must not wait for the timer.
      secure.once('end', () => {
        clearTimeout(timer);
        resolve(false);
      });
      secure.once('error', (err) => {
        clearTimeout(timer);
        this.settings.log.info({ event: 'tls', client: this.remote.address, error: err.message }, 'TLS handshake failed');
        resolve(false);
      });
      secure.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ok || this.mode === 'closed') {
      this.endReason = 'TLS handshake failed';
      this.mode = 'closed';
      secure.destroy();
      raw.destroy();
      return undefined;
    }
    const cipher = secure.getCipher();
    const tls: TlsInfo = {
      protocol: secure.getProtocol() ?? 'unknown',
      cipher: cipher.standardName ?? cipher.name,
      ...(secure.servername ? { servername: secure.servername } : {}),
    };
    this.settings.log.info({ event: 'tls', client: this.remote.address, ...tls }, 'TLS established');
    // Every later handshake is a client-initiated renegotiation (we never start one). OpenSSL
    // refuses it (withoutRenegotiation), and whatever context a plugin built, the session
    // ends here: one handshake per connection, so a client cannot make us do the costly
    // half of a handshake again and again (CVE-2011-1473) for the price of one connection.
    secure.on('secure', () => setImmediate(() => this.renegotiationRefused()));
    return tls;
  }

  // ---- input -------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.mode === 'closed') return;
    this.armIdleTimer();
    if (this.mode === 'data' && this.message && this.reader.buffered === 0 && !this.pumping) {
      this.feedData(chunk);
      this.armDeadline();
      return;
    }
    this.reader.push(chunk, performance.now());
    if (this.lineWaiter) this.serveLineWaiter();
    if (this.reader.buffered > MAX_PENDING_INPUT && !this.pausedForInput) {
      this.pausedForInput = true;
      this.socket.pause();
    }
    void this.pump();
    this.armDeadline();
  }

  /**
   * The client half-closed (FIN). Net servers would end our side at once and lose
   * the replies still to come (the 250 for a message sent with QUIT right before
   * the FIN, which a client would then send again); the listener keeps sockets
   * half-open instead, so everything read before the FIN is answered first.
   */
  private onPeerEnded(): void {
    if (this.mode === 'closed') return;
    this.peerEnded = true;
    this.serveLineWaiter();
    if (this.lineWaiter) {
      const waiter = this.lineWaiter;
      this.lineWaiter = undefined;
      waiter.reject(new Error('connection closed'));
    }
    void this.pump();
    this.closeIfPeerDone();
  }

  /** After a half-close: once nothing the client sent is still being answered, close. */
  private closeIfPeerDone(): void {
    if (!this.peerEnded || this.pumping || this.finishing || this.mode === 'closed' || this.mode === 'greeting') return;
    // The FIN came before the end of data: nothing was acknowledged, nothing is kept.
    this.abortMessage('connection closed during DATA');
    this.close();
  }

  private serveLineWaiter(): void {
    if (!this.lineWaiter) return;
    const input = this.reader.next();
    if (!input) return;
    const waiter = this.lineWaiter;
    this.lineWaiter = undefined;
    // (refusedLine always closes for a bare CR; the kind test is for the compiler.)
    if (this.refusedLine(input) || input.kind === 'bare-cr') {
      waiter.reject(new Error('connection closed'));
      return;
    }
    if (input.kind === 'too-long') waiter.reject(new Error('line too long'));
    // Bytes that are not UTF-8 are not base64 either (RFC 4954 4): the mechanism refuses
    // the response as undecodable, as it does any other text that is not base64.
    else if (input.kind === 'bad-utf8') waiter.resolve('\ufffd');
    else waiter.resolve(input.text);
  }

  /**
   * A bare CR inside a line, or a bare LF line end under "reject", closes the
   * connection with 550 (README: smtpd_forbid_bare_newline). True if it did.
   */
  private refusedLine(input: CommandInput): boolean {
    if (input.kind === 'too-long') return false;
    if (input.bareLf && this.settings.listener.smtpd_forbid_bare_newline === 'reject') {
      this.close(reply(550, '5.5.2', 'Error: bare <LF> received'), 'bare LF in command');
      return true;
    }
    if (input.kind === 'bare-cr') {
      // Under either policy: "normalize" would have to split the line into two commands.
      this.close(reply(550, '5.5.2', 'Error: bare <CR> received'), 'bare CR in command');
      return true;
    }
    return false;
  }

  private resumeIfPossible(): void {
    if (this.mode === 'closed') return;
    if (this.pausedForInput && this.reader.buffered <= MAX_PENDING_INPUT && this.socket.writableLength < MAX_PENDING_OUTPUT) {
      this.pausedForInput = false;
      this.socket.resume();
    }
  }

  /** Processes buffered input until it is used up or we must wait (for hooks, for the disk). */
  private async pump(): Promise<void> {
    if (this.pumping || this.finishing || this.mode === 'greeting') return;
    this.pumping = true;
    try {
      while (this.mode === 'command' || this.mode === 'data') {
        if (this.mode === 'data') {
          const rest = this.reader.take();
          if (!rest) break;
          this.feedData(rest);
          break;
        }
        if (this.lineWaiter) break;
        const input = this.reader.next();
        if (!input) break;
        if (input.kind === 'too-long') {
          this.handler.refused(reply(500, '5.5.2', 'Error: line too long'));
          continue;
        }
        if (this.refusedLine(input) || input.kind === 'bare-cr') break;
        if (input.kind === 'bad-utf8') {
          // RFC 6531 3.3: commands are UTF-8, and we offer SMTPUTF8 to everyone. Postfix
          // answers this (with smtputf8_enable) in the same words; 500 because no verb
          // or argument of a malformed line can be trusted enough to answer 501/553 for it.
          this.handler.refused(reply(500, '5.5.2', 'Error: bad UTF-8 syntax'));
          continue;
        }
        await this.handler.command(input.text);
      }
    } catch (err) {
      this.settings.log.error({ err }, 'internal error in session; closing');
      this.close(
        reply(421, '4.3.0', `${this.settings.hostname} Error: internal error, closing transmission channel`),
        'internal error',
      );
    } finally {
      this.pumping = false;
      this.flush();
      this.resumeIfPossible();
    }
    this.handler.answered();
    this.closeIfPeerDone();
    this.armDeadline();
  }

  // ---- DATA --------------------------------------------------------------

  private feedData(chunk: Buffer): void {
    const message = this.message;
    if (!message) return;
    const end = message.input.feed(chunk);
    const now = performance.now();
    message.rate.received(end < 0 ? chunk.length : end, now);
    if (end < 0) return;
    // End of data: what follows belongs to the next commands (pipelining).
    if (end < chunk.length) this.reader.push(chunk.subarray(end), now);
    this.mode = 'command';
    this.message = undefined;
    // Commands pipelined after the message wait for its reply (RFC 2920 3.1: replies in order).
    this.finishing = true;
    void message.input.end().finally(() => {
      this.finishing = false;
      this.flush();
      void this.pump();
    });
  }

  /** The connection ends with a message still arriving: the session drops it. */
  private abortMessage(reason: string): void {
    const message = this.message;
    if (!message) return;
    this.message = undefined;
    message.input.abort(reason);
  }

  // ---- output ------------------------------------------------------------

  send(reply: Reply): void {
    if (this.mode === 'closed') return;
    this.out.push(formatReply(reply));
  }

  flush(): void {
    if (this.out.length === 0 || this.socket.destroyed) return;
    this.socket.write(this.out.length === 1 ? this.out[0]! : this.out.join(''));
    this.out.length = 0;
    if (this.socket.writableLength >= MAX_PENDING_OUTPUT && !this.pausedForInput) {
      // The client does not read its replies; stop reading its commands until it does.
      this.pausedForInput = true;
      this.socket.pause();
    }
  }

  /** Sends `reply` (if any) and what is queued before it, then ends the connection. */
  close(reply?: Reply, reason?: string): void {
    if (reason !== undefined) this.endReason = reason;
    if (this.mode === 'closed') return;
    if (reply) this.send(reply);
    this.flush();
    this.mode = 'closed';
    this.reader.discard();
    this.clearTimers();
    this.lineWaiter?.reject(new Error('connection closed'));
    this.lineWaiter = undefined;
    const socket = this.socket;
    socket.end();
    // Closed as soon as the last reply is with the kernel, as Postfix's smtpd does: waiting
    // for the client's FIN holds the slot, and a client that resets instead (smtp-source
    // and many others after QUIT) costs an error with a stack trace per connection.
    socket.once('finish', () => socket.destroy());
    // A client that does not read its replies never lets the last one go out. Cleared on
    // close, which is mostly at once: the timer would hold the closed socket for 10 s.
    const lingering = setTimeout(() => socket.destroy(), 10_000).unref();
    socket.once('close', () => clearTimeout(lingering));
  }

  // ---- timers ------------------------------------------------------------

  private armIdleTimer(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => this.onIdle(), this.settings.listener.timeout);
  }

  private clearTimers(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private onIdle(): void {
    if (this.mode === 'closed') return;
    if ((this.pumping || this.finishing) && !this.lineWaiter && this.mode !== 'data') {
      // We are the slow side (a hook is running): not the client's fault.
      this.idleTimer?.refresh();
      return;
    }
    this.hangUp('timeout', reply(421, '4.4.2', `${this.settings.hostname} Error: timeout exceeded`));
  }

  /**
   * Arms the timer for the deadline that applies now: the command line deadline
   * while a line is arriving, the data rate budget in DATA. Cheap when a timer
   * is set already: it fires at the earliest time the deadline can have passed
   * and looks again (onDeadline), so bytes never cost a timer operation.
   */
  private armDeadline(): void {
    if (this.deadlineTimer || this.mode === 'closed') return;
    const left = this.deadlineLeft(performance.now());
    if (left === undefined) return;
    this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(1, Math.ceil(left)));
  }

  /** Milliseconds until the current deadline; undefined if none applies. */
  private deadlineLeft(now: number): number | undefined {
    if (this.mode === 'data' && this.message) {
      const left = this.message.rate.left(now);
      return Number.isFinite(left) ? left : undefined;
    }
    if (this.mode !== 'command') return undefined;
    const since = this.reader.lineStartedAt;
    return since === undefined ? undefined : since + this.settings.listener.command_deadline - now;
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    if (this.mode === 'closed') return;
    const now = performance.now();
    if (this.socket.isPaused()) {
      // We stopped reading (queue disk behind, or replies unread): not the client's slowness.
      this.message?.rate.restart(now);
      this.reader.restartLineClock(now);
      this.armDeadline();
      return;
    }
    const left = this.deadlineLeft(now);
    if (left === undefined) return;
    if (left > 0) {
      this.armDeadline();
      return;
    }
    const { hostname, listener } = this.settings;
    if (this.mode === 'data') {
      const rate = listener.min_data_rate;
      this.hangUp('data too slow', reply(421, '4.4.2', `${hostname} Error: message data too slow (under ${rate} bytes/s)`));
    } else {
      this.hangUp('command deadline', reply(421, '4.4.2', `${hostname} Error: command line not completed in time`));
    }
  }

  /** Ends the connection from our side (timeouts, refusals): a message still arriving is dropped. */
  private hangUp(endReason: string, reply: Reply): void {
    this.endReason = endReason;
    this.abortMessage(endReason);
    this.close(reply);
  }

  /** A second handshake on this connection: see upgradeToTls. */
  private renegotiationRefused(): void {
    if (this.mode === 'closed') return;
    this.settings.log.info({ event: 'tls', client: this.remote.address }, 'client-initiated TLS renegotiation refused; closing');
    this.hangUp('TLS renegotiation', reply(421, '4.7.0', `${this.settings.hostname} Error: TLS renegotiation refused`));
  }

  private onSocketClosed(): void {
    const byPeer = this.mode !== 'closed';
    this.mode = 'closed';
    this.clearTimers();
    this.lineWaiter?.reject(new Error('connection closed'));
    this.lineWaiter = undefined;
    // Client went away mid-DATA: nothing was acknowledged, nothing is kept.
    this.abortMessage('connection lost during DATA');
    this.handler.closed(byPeer);
  }
}

/** The client's address as logged and matched: IPv4 without its IPv6-mapped prefix. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The plugin's TLS options with OpenSSL's SSL_OP_NO_RENEGOTIATION: a client's
 * ClientHello after the handshake gets a no_renegotiation alert (TLS 1.2;
 * TLS 1.3 has no renegotiation). Node's own limit (tls.CLIENT_RENEG_LIMIT)
 * reports only through a tls.Server, which these sockets are not made by. A
 * context a plugin built is shared by its sessions, so the flag is set on it
 * (through its native handle: Node offers no other way to change a built
 * context); the session also closes on any second handshake (upgradeToTls).
 */
export function withoutRenegotiation(options: TLSSocketOptions): TLSSocketOptions {
  const flag = BigInt(cryptoConstants.SSL_OP_NO_RENEGOTIATION);
  if (options.secureContext) {
    const native = (options.secureContext as SecureContext & { context?: { setOptions?: (o: number) => void } }).context;
    native?.setOptions?.(Number(flag));
    return options;
  }
  // BigInt: OpenSSL 3 options go past 32 bits, where | on numbers would cut them off.
  return { ...options, secureOptions: Number(BigInt(options.secureOptions ?? 0) | flag) };
}
