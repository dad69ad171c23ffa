/*
 * The SMTP protocol engine for one connection (RFC 5321, with PIPELINING
 * RFC 2920, 8BITMIME RFC 6152, ENHANCEDSTATUSCODES RFC 2034, SMTPUTF8
 * RFC 6531). It reads commands, runs the pipeline's hooks, streams DATA
 * through the decoder into a queue spool and answers 250 only after the queue
 * committed the message. Replies to pipelined commands are sent in order, in
 * one write when the client's buffered commands are used up; a client that
 * half-closes gets the replies to everything it sent before, then the close.
 * Slow clients are bounded by the idle timeout, a deadline per command line
 * and a minimum data rate in DATA; TLS renegotiation is refused.
 *
 * It does not know how the queue stores messages, and policy (who may relay,
 * which sizes) is left to plugins.
 */
import { constants as cryptoConstants } from 'node:crypto';
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket, type TLSSocketOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/schema.js';
import { Notes } from '../hooks/notes.js';
import { RECORD } from '../hooks/record.js';
import type { AcceptResult, DisconnectResult, HookResult, RejectResult } from '../hooks/results.js';
import type { Decision, HeloInfo, Session, SpooledMessage, TlsInfo } from '../hooks/types.js';
import { parseHeaderSection } from '../message/headers.js';
import { receivedHeader } from '../message/received.js';
import type { Address, Envelope, EsmtpParameters, HeaderField } from '../model/index.js';
import { createEnvelope, formatReply, type Reply, replyText } from '../model/index.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { MessageQueue, Spool } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import { parsePathCommand, splitCommand } from './command.js';
import { type CommandInput, CommandReader } from './command-reader.js';
import { DataDecoder } from './data-decoder.js';
import { DataRateBudget } from './data-rate.js';
import { CapabilityList, SmtpTransaction } from './transaction.js';

export interface SessionSettings {
  readonly listener: ListenerConfig;
  readonly hostname: string;
  readonly pipeline: Pipeline;
  readonly queue: MessageQueue;
  readonly log: Logger;
  /** Asked about every recipient the pipeline or relay permission accepted; absent: no check. */
  readonly recipientCheck?: RecipientCheck;
}

export type RecipientVerdict = AcceptResult | RejectResult;

/**
 * Can this recipient be delivered here? Built from the delivery configuration
 * (core/delivery/recipient-check.ts), so the engine refuses unknown users at
 * RCPT without knowing how delivery finds them. undefined: not a recipient it
 * validates. Never throws; a lookup that fails is a 4xx verdict.
 */
export interface RecipientCheck {
  check(recipient: Address): Promise<RecipientVerdict | undefined>;
}

const CORE_MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8']);
/** Verbs we know but do not implement unless a plugin does (through the command hook). */
const KNOWN_UNIMPLEMENTED = new Set(['EXPN', 'TURN', 'ETRN', 'BDAT', 'STARTTLS', 'AUTH', 'ATRN', 'VERB', 'SEND', 'SOML', 'SAML']);
const MAX_HEADER_READ = 256 * 1024;
/** Pause reading when this much command input waits (a client flooding pipelined commands). */
const MAX_PENDING_INPUT = 64 * 1024;
/** RFC 4954 4: AUTH command lines and SASL responses may be 12,288 octets. */
const MAX_AUTH_LINE = 12_288;

let sessionCounter = 0;

type Mode = 'greeting' | 'command' | 'data' | 'closed';

const r = (code: number, enhanced: string | undefined, text: string | string[]): Reply => ({
  code,
  ...(enhanced ? { enhanced } : {}),
  text,
});

interface DataState {
  readonly transaction: SmtpTransaction;
  readonly spool: Spool;
  readonly decoder: DataDecoder;
  readonly rate: DataRateBudget;
  bodyBytes: number;
  tooBig: boolean;
}

export class SmtpSession implements Session {
  readonly id: string;
  readonly listener: string;
  readonly remote: { address: string; port: number };
  readonly local: { address: string; port: number };
  readonly hostname: string;
  readonly notes = new Notes();
  readonly log: Logger;
  helo: HeloInfo | undefined;
  tls: TlsInfo | undefined;
  authenticatedUser: string | undefined;
  relayAllowed = false;
  transaction: SmtpTransaction | undefined;
  readonly decisions: Decision[] = [];

  private mode: Mode = 'greeting';
  private readonly reader: CommandReader;
  private readonly out: string[] = [];
  private pumping = false;
  private errors = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Fires when the command line deadline or the DATA rate budget may have run out. */
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The client half-closed: answer what it sent before, then close. */
  private peerEnded = false;
  /** A message between its end of data and its reply; it logs its own outcome. */
  private finishing = false;
  private lineWaiter: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  private data: DataState | undefined;
  private draining = false;
  private readonly startedAt = Date.now();
  private messages = 0;
  private transactions = 0;
  private endReason = 'client closed';
  private pausedForInput = false;
  private closedCallbacks: (() => void)[] = [];
  private pendingTls: TLSSocketOptions | undefined;

  constructor(
    private socket: Socket,
    private readonly settings: SessionSettings,
  ) {
    sessionCounter = (sessionCounter + 1) % 0x7fffffff;
    this.id = `${Date.now().toString(36)}.${sessionCounter.toString(36)}`;
    this.listener = settings.listener.name;
    this.hostname = settings.hostname;
    this.remote = { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
    this.local = { address: normalizeAddress(socket.localAddress), port: socket.localPort ?? 0 };
    this.log = settings.log.child({ session: this.id });
    this.reader = new CommandReader(Math.max(settings.listener.max_command_line, MAX_AUTH_LINE));
  }

  /** Decisions from guarded hook handlers land in the open transaction, else on the session. */
  [RECORD](decision: Decision): void {
    (this.transaction ?? this.data?.transaction)?.decisions.push(decision) ?? this.decisions.push(decision);
  }

  get closed(): boolean {
    return this.mode === 'closed';
  }

  onClosed(cb: () => void): void {
    if (this.mode === 'closed') cb();
    else this.closedCallbacks.push(cb);
  }

  /**
   * Runs the connect hooks, then greets. The socket arrives paused (the
   * listener accepts with pauseOnConnect), so nothing is read before a plugin
   * could ask for implicit TLS: the first bytes may be a TLS ClientHello.
   */
  async start(): Promise<void> {
    this.socket.setNoDelay(true);
    this.attachSocket(this.socket);
    this.armIdleTimer();

    const result = await this.settings.pipeline.hooks.connect.promise(this);
    if (this.closed) return;
    if (this.pendingTls && !(await this.upgradeToTls())) return;
    this.socket.resume();
    if (isRefusal(result)) {
      // RFC 5321 3.1: a refused connection gets 554 (or 421 when temporary) and is closed.
      const temporary = result.reply.code < 500;
      this.endReason = `refused by ${this.lastPlugin() ?? 'plugin'}`;
      this.close(r(temporary ? 421 : 554, temporary ? '4.3.0' : '5.7.1', replyText(result.reply)));
      return;
    }
    this.mode = 'command';
    this.send(r(220, undefined, `${this.hostname} ${this.settings.listener.banner}`));
    void this.pump();
  }

  /** Graceful shutdown: idle sessions get 421 now, busy ones after their transaction. */
  shutdown(force: boolean): void {
    if (this.mode === 'closed') return;
    this.draining = true;
    if (force || (!this.transaction && !this.data && !this.pumping)) {
      this.endReason = 'shutdown';
      if (this.data) void this.data.spool.discard();
      this.close(r(421, '4.3.2', `${this.hostname} Service shutting down, closing transmission channel`));
    }
  }

  startTls(options: TLSSocketOptions): void {
    if (this.tls || this.pendingTls) throw new Error('TLS is already active on this session');
    this.pendingTls = options;
  }

  exchange(reply: Reply): Promise<string> {
    if (this.mode === 'closed') return Promise.reject(new Error('connection closed'));
    this.send(reply);
    this.flush();
    return new Promise((resolve, reject) => {
      this.lineWaiter = { resolve, reject };
      this.serveLineWaiter();
    });
  }

  private attachSocket(s: Socket): void {
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('end', () => this.onPeerEnded());
    s.on('error', (err) => this.log.debug({ err }, 'socket error'));
    s.on('close', () => this.onSocketClosed());
    s.on('drain', () => this.resumeIfPossible());
  }

  /**
   * Switches the connection to TLS after the reply that announced it (220 to
   * STARTTLS) or before the greeting (implicit TLS, RFC 8314). Plaintext that
   * arrived after the STARTTLS command is thrown away unread (RFC 3207 4.2,
   * CVE-2011-0411), and everything learnt from the client before is
   * forgotten: HELO, the transaction, the authentication. Resolves false if
   * the handshake failed; the connection is closed then.
   */
  private async upgradeToTls(): Promise<boolean> {
    const options = this.pendingTls!;
    this.pendingTls = undefined;
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
        this.log.info({ event: 'tls', client: this.remote.address, error: err.message }, 'TLS handshake failed');
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
      return false;
    }
    const cipher = secure.getCipher();
    this.tls = {
      protocol: secure.getProtocol() ?? 'unknown',
      cipher: cipher.standardName ?? cipher.name,
      ...(secure.servername ? { servername: secure.servername } : {}),
    };
    this.log.info({ event: 'tls', client: this.remote.address, ...this.tls }, 'TLS established');
    // Every later handshake is a client-initiated renegotiation (we never start one). OpenSSL
    // refuses it (withoutRenegotiation), and whatever context a plugin built, the session
    // ends here: one handshake per connection, so a client cannot make us do the costly
    // half of a handshake again and again (CVE-2011-1473) for the price of one connection.
    secure.on('secure', () => setImmediate(() => this.renegotiationRefused()));
    await this.endTransaction('starttls');
    this.helo = undefined;
    if (this.authenticatedUser !== undefined) {
      // Relay permission that came with the authentication goes with it.
      this.authenticatedUser = undefined;
      this.relayAllowed = false;
    }
    return true;
  }

  // ---- input -------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.mode === 'closed') return;
    this.armIdleTimer();
    if (this.mode === 'data' && this.data && this.reader.buffered === 0 && !this.pumping) {
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
    if (this.data) {
      // The FIN came before the end of data: nothing was acknowledged, nothing is kept.
      const { spool, transaction } = this.data;
      this.data = undefined;
      void spool.discard();
      this.logTransaction(transaction, 'aborted', undefined, 'connection closed during DATA');
    }
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
      this.endReason = 'bare LF in command';
      this.close(r(550, '5.5.2', 'Error: bare <LF> received'));
      return true;
    }
    if (input.kind === 'bare-cr') {
      // Under either policy: "normalize" would have to split the line into two commands.
      this.endReason = 'bare CR in command';
      this.close(r(550, '5.5.2', 'Error: bare <CR> received'));
      return true;
    }
    return false;
  }

  private resumeIfPossible(): void {
    if (this.mode === 'closed') return;
    if (this.pausedForInput && this.reader.buffered <= MAX_PENDING_INPUT && this.socket.writableLength < 1 << 20) {
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
          this.error(r(500, '5.5.2', 'Error: line too long'));
          continue;
        }
        if (this.refusedLine(input) || input.kind === 'bare-cr') break;
        if (input.kind === 'bad-utf8') {
          // RFC 6531 3.3: commands are UTF-8, and we offer SMTPUTF8 to everyone. Postfix
          // answers this (with smtputf8_enable) in the same words; 500 because no verb
          // or argument of a malformed line can be trusted enough to answer 501/553 for it.
          this.error(r(500, '5.5.2', 'Error: bad UTF-8 syntax'));
          continue;
        }
        if (Buffer.byteLength(input.text) + 2 > this.settings.listener.max_command_line && !isAuthLine(input.text)) {
          this.error(r(500, '5.5.2', 'Error: line too long'));
          continue;
        }
        await this.command(input.text);
      }
    } catch (err) {
      this.log.error({ err }, 'internal error in session; closing');
      this.endReason = 'internal error';
      this.close(r(421, '4.3.0', `${this.hostname} Error: internal error, closing transmission channel`));
    } finally {
      this.pumping = false;
      this.flush();
      this.resumeIfPossible();
    }
    if (this.draining && this.mode === 'command' && !this.transaction) this.shutdown(false);
    this.closeIfPeerDone();
    this.armDeadline();
  }

  // ---- output ------------------------------------------------------------

  private send(reply: Reply): void {
    if (this.mode === 'closed') return;
    this.out.push(formatReply(reply));
  }

  private flush(): void {
    if (this.out.length === 0 || this.socket.destroyed) return;
    this.socket.write(this.out.length === 1 ? this.out[0]! : this.out.join(''));
    this.out.length = 0;
    if (this.socket.writableLength >= 1 << 20 && !this.pausedForInput) {
      // The client does not read its replies; stop reading its commands until it does.
      this.pausedForInput = true;
      this.socket.pause();
    }
  }

  private close(reply?: Reply): void {
    if (this.mode === 'closed') return;
    if (reply) this.send(reply);
    this.flush();
    this.mode = 'closed';
    this.reader.discard();
    this.clearIdleTimer();
    this.lineWaiter?.reject(new Error('connection closed'));
    this.lineWaiter = undefined;
    this.socket.end();
    // A peer that never closes its side must not hold the slot.
    setTimeout(() => this.socket.destroy(), 10_000).unref();
  }

  private error(reply: Reply): void {
    this.errors++;
    if (this.errors >= this.settings.listener.max_errors) {
      this.endReason = 'too many errors';
      this.close(r(421, '4.7.0', `${this.hostname} Error: too many errors`));
      return;
    }
    this.send(reply);
  }

  // ---- timers ------------------------------------------------------------

  private armIdleTimer(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => this.onIdle(), this.settings.listener.timeout);
  }

  private clearIdleTimer(): void {
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
    this.hangUp('timeout', r(421, '4.4.2', `${this.hostname} Error: timeout exceeded`));
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
    if (this.mode === 'data' && this.data) {
      const left = this.data.rate.left(now);
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
      this.data?.rate.restart(now);
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
    if (this.mode === 'data') {
      const rate = this.settings.listener.min_data_rate;
      this.hangUp('data too slow', r(421, '4.4.2', `${this.hostname} Error: message data too slow (under ${rate} bytes/s)`));
    } else {
      this.hangUp('command deadline', r(421, '4.4.2', `${this.hostname} Error: command line not completed in time`));
    }
  }

  /** Ends the session from our side (timeouts, refusals): a message still arriving is dropped. */
  private hangUp(endReason: string, reply: Reply): void {
    this.endReason = endReason;
    if (this.data) {
      const { spool, transaction } = this.data;
      this.data = undefined;
      void spool.discard();
      this.logTransaction(transaction, 'aborted', undefined, endReason);
    }
    this.close(reply);
  }

  /** A second handshake on this connection: see upgradeToTls. */
  private renegotiationRefused(): void {
    if (this.mode === 'closed') return;
    this.log.info({ event: 'tls', client: this.remote.address }, 'client-initiated TLS renegotiation refused; closing');
    this.hangUp('TLS renegotiation', r(421, '4.7.0', `${this.hostname} Error: TLS renegotiation refused`));
  }

  private onSocketClosed(): void {
    const wasOpen = this.mode !== 'closed';
    this.mode = 'closed';
    this.clearIdleTimer();
    this.lineWaiter?.reject(new Error('connection closed'));
    this.lineWaiter = undefined;
    if (this.data) {
      // Client went away mid-DATA: nothing was acknowledged, nothing is kept.
      const { spool, transaction } = this.data;
      this.data = undefined;
      void spool.discard();
      this.logTransaction(transaction, 'aborted', undefined, 'connection lost during DATA');
    } else if (this.transaction && !this.finishing) {
      // A message past its end of data logs its own outcome: it may still be queued.
      this.logTransaction(this.transaction, 'aborted', undefined, wasOpen ? 'connection closed' : this.endReason);
    }
    this.transaction = undefined;
    this.log.info(
      {
        event: 'connection',
        client: this.remote.address,
        port: this.remote.port,
        helo: this.helo?.domain,
        ...(this.tls ? { tls: `${this.tls.protocol} ${this.tls.cipher}` } : {}),
        ...(this.authenticatedUser !== undefined ? { user: this.authenticatedUser } : {}),
        messages: this.messages,
        transactions: this.transactions,
        errors: this.errors,
        end: this.endReason,
        ms: Date.now() - this.startedAt,
        ...(this.decisions.length ? { decisions: this.decisions } : {}),
      },
      'connection closed',
    );
    void this.settings.pipeline.hooks.disconnect.promise(this).catch(() => undefined);
    for (const cb of this.closedCallbacks) cb();
    this.closedCallbacks = [];
  }

  // ---- commands ----------------------------------------------------------

  private lastPlugin(): string | undefined {
    const list = this.transaction?.decisions ?? this.decisions;
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.action !== 'continue') return list[i]!.plugin;
    return undefined;
  }

  /** Applies a final hook result; returns true if it ended the command. */
  private applyResult(result: HookResult | undefined, success?: Reply): boolean {
    if (!result || result.action === 'continue') return false;
    if (result.action === 'accept') {
      if (success || result.reply) this.send(result.reply ?? success!);
      return true;
    }
    if (result.action === 'disconnect') {
      this.endReason = `disconnected by ${this.lastPlugin() ?? 'plugin'}`;
      this.close(result.reply);
      return true;
    }
    this.send(result.reply);
    return true;
  }

  private async command(line: string): Promise<void> {
    const { verb, argument } = splitCommand(line);
    const hooks = this.settings.pipeline.hooks;
    // Only a command handler (or connect) may ask for TLS; a request from any other hook is void.
    this.pendingTls = undefined;
    if (hooks.command.taps.length) {
      const result = await hooks.command.promise(this, { verb, argument });
      if (this.closed) return;
      // TLS starts only after a command a plugin accepted (its 220); any other outcome cancels the request.
      const startTls = this.pendingTls !== undefined && result?.action === 'accept';
      if (!startTls) this.pendingTls = undefined;
      if (result && result.action !== 'continue') {
        this.applyResult(result, r(250, '2.0.0', 'Ok'));
        if (startTls && !this.closed) await this.upgradeToTls();
        return;
      }
    }
    switch (verb) {
      case 'HELO':
      case 'EHLO':
        return this.heloCommand(verb, argument);
      case 'MAIL':
        return this.mailCommand(argument);
      case 'RCPT':
        return this.rcptCommand(argument);
      case 'DATA':
        return this.dataCommand(argument);
      case 'RSET':
        await this.endTransaction('reset');
        this.send(r(250, '2.0.0', 'Ok'));
        return;
      case 'NOOP':
        this.send(r(250, '2.0.0', 'Ok'));
        return;
      case 'QUIT':
        this.endReason = 'quit';
        await this.endTransaction('quit');
        this.close(r(221, '2.0.0', 'Bye'));
        return;
      case 'VRFY':
        if (!argument) return this.error(r(501, '5.5.4', 'Syntax: VRFY address'));
        // RFC 5321 3.5.3: we do not reveal mailboxes.
        this.send(r(252, '2.0.0', 'Cannot VRFY user, but will accept message and attempt delivery'));
        return;
      case 'HELP':
        this.send(r(214, '2.0.0', ['Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP', 'See RFC 5321']));
        return;
      case '':
        return this.error(r(500, '5.5.2', 'Error: bad syntax'));
      default:
        if (KNOWN_UNIMPLEMENTED.has(verb)) return this.error(r(502, '5.5.1', `Error: command not implemented`));
        if (!/^[A-Z]{1,16}$/.test(verb)) return this.error(r(500, '5.5.2', 'Error: bad syntax'));
        // RFC 5321 4.2.4: 500 for a command we do not recognize (Postfix answers the same).
        return this.error(r(500, '5.5.2', 'Error: command not recognized'));
    }
  }

  private async heloCommand(verb: 'HELO' | 'EHLO', argument: string): Promise<void> {
    const domain = argument.split(' ')[0] ?? '';
    if (!domain) return this.error(r(501, undefined, `Syntax: ${verb} hostname`));
    // RFC 5321 4.1.4: HELO/EHLO in a session resets any transaction.
    await this.endTransaction('helo');
    const result = await this.settings.pipeline.hooks.helo.promise(this, { verb, domain });
    if (this.closed) return;
    if (isRefusal(result)) {
      this.applyResult(result);
      return;
    }
    this.helo = { verb, domain };
    if (verb === 'HELO') {
      this.send(r(250, undefined, this.hostname));
      return;
    }
    const caps = new CapabilityList(['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SMTPUTF8']);
    await this.settings.pipeline.hooks.capabilities.promise(this, caps);
    if (this.closed) return;
    this.send(r(250, undefined, [this.hostname, ...caps.list]));
  }

  private checkMailParameters(parameters: EsmtpParameters): Reply | { size: number | undefined; body: '7BIT' | '8BITMIME' } {
    let size: number | undefined;
    let body: '7BIT' | '8BITMIME' = '7BIT';
    for (const [keyword, value] of parameters) {
      if (keyword === 'SIZE') {
        if (value === true || !/^\d{1,15}$/.test(value)) return r(501, '5.5.4', 'Bad message size syntax');
        size = Number(value);
      } else if (keyword === 'BODY') {
        const v = value === true ? '' : value.toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME') return r(501, '5.5.4', `Unsupported BODY type: ${v || '(none)'}`);
        body = v;
      } else if (keyword === 'SMTPUTF8') {
        if (value !== true) return r(501, '5.5.4', 'SMTPUTF8 takes no value');
      } else if (!CORE_MAIL_PARAMETERS.has(keyword) && !this.settings.pipeline.parameters.MAIL.has(keyword)) {
        return r(555, '5.5.4', `Unsupported option: ${parameterText(keyword, value)}`);
      }
    }
    return { size, body };
  }

  private async mailCommand(argument: string): Promise<void> {
    if (!this.helo && this.settings.listener.require_helo) return this.error(r(503, '5.5.1', 'Error: send HELO/EHLO first'));
    if (this.transaction) return this.error(r(503, '5.5.1', 'Error: nested MAIL command'));
    if (this.draining) {
      this.close(r(421, '4.3.2', `${this.hostname} Service shutting down, closing transmission channel`));
      return;
    }
    const parsed = parsePathCommand(argument, 'FROM');
    if (!parsed.ok) {
      switch (parsed.error) {
        case 'syntax':
          return this.error(r(501, '5.5.4', 'Syntax: MAIL FROM:<address>'));
        case 'address':
          return this.error(r(501, '5.1.7', 'Bad sender address syntax'));
        case 'utf8':
          return this.error(r(553, '5.6.7', 'Must declare SMTPUTF8 to send unicode address'));
        default:
          return this.error(r(555, '5.5.4', `Unsupported option: ${parsed.detail ?? ''}`));
      }
    }
    const checked = this.checkMailParameters(parsed.parameters);
    if ('code' in checked) return this.error(checked);
    const txn = new SmtpTransaction(
      newQueueId(),
      parsed.address,
      parsed.parameters,
      parsed.parameters.has('SMTPUTF8'),
      checked.body,
      checked.size,
    );
    this.transaction = txn;
    this.transactions++;
    const result = await this.settings.pipeline.hooks.mail.promise(this, txn, {
      address: parsed.address,
      parameters: parsed.parameters,
    });
    if (this.closed) return;
    if (isRefusal(result)) {
      this.applyResult(result);
      this.logTransaction(txn, 'rejected', result.reply, result.reason);
      await this.endTransaction(null);
      return;
    }
    this.send((result?.action === 'accept' ? result.reply : undefined) ?? r(250, '2.1.0', 'Ok'));
  }

  private async rcptCommand(argument: string): Promise<void> {
    const txn = this.transaction;
    if (!txn) return this.error(r(503, '5.5.1', 'Error: need MAIL command'));
    const parsed = parsePathCommand(argument, 'TO', { utf8: txn.utf8 });
    if (!parsed.ok) {
      switch (parsed.error) {
        case 'syntax':
          return this.error(r(501, '5.5.4', 'Syntax: RCPT TO:<address>'));
        case 'address':
          return this.error(r(501, '5.1.3', 'Bad recipient address syntax'));
        case 'utf8':
          return this.error(r(553, '5.6.7', 'Must declare SMTPUTF8 to send unicode address'));
        default:
          return this.error(r(555, '5.5.4', `Unsupported option: ${parsed.detail ?? ''}`));
      }
    }
    const address = parsed.address!;
    for (const [keyword, value] of parsed.parameters) {
      if (!this.settings.pipeline.parameters.RCPT.has(keyword)) {
        return this.error(r(555, '5.5.4', `Unsupported option: ${parameterText(keyword, value)}`));
      }
    }
    if (txn.recipients.length >= this.settings.listener.max_recipients) {
      // RFC 5321 4.5.3.1.10: the client sends the rest in another transaction.
      txn.refused.push({ address: address.address, code: 452 });
      this.send(r(452, '4.5.3', 'Error: too many recipients'));
      return;
    }
    const result = await this.settings.pipeline.hooks.rcpt.promise(this, txn, { address, parameters: parsed.parameters });
    if (this.closed) return;
    let accepted: Reply | undefined;
    if (result?.action === 'accept') {
      accepted = result.reply ?? r(250, '2.1.5', 'Ok');
    } else if (isRefusal(result)) {
      txn.refused.push({ address: address.address, code: result.reply.code });
      this.applyResult(result);
      return;
    } else if (this.relayAllowed) {
      // A plugin trusted this client to relay (relay list, AUTH): any destination.
      txn.decisions.push({ plugin: 'core', hook: 'rcpt', action: 'accept', reason: 'client may relay', ms: 0 });
      accepted = r(250, '2.1.5', 'Ok');
    }
    if (accepted) {
      // Accepted by policy; now, does the recipient exist? Refused here, not bounced later (backscatter).
      const check = this.settings.recipientCheck;
      const started = performance.now();
      const verdict = await check?.check(address).catch((err: unknown): RecipientVerdict => {
        this.log.error({ err }, 'recipient check failed; RCPT gets 451 4.3.0');
        return { action: 'reject', reply: r(451, '4.3.0', 'Error: internal error, please try again later') };
      });
      if (this.closed) return;
      if (verdict) {
        const ms = Math.round((performance.now() - started) * 1000) / 1000;
        const { action, reason } = verdict;
        const code = action === 'reject' ? verdict.reply.code : undefined;
        txn.decisions.push({
          plugin: 'core',
          hook: 'rcpt',
          action,
          ms,
          ...(reason ? { reason } : {}),
          ...(code ? { code } : {}),
        });
      }
      if (verdict?.action === 'reject') {
        // Counted like Postfix counts refused recipients (smtpd_hard_error_limit): a dictionary attack ends at max_errors.
        txn.refused.push({ address: address.address, code: verdict.reply.code });
        return this.error(verdict.reply);
      }
      txn.recipients.push({ address, parameters: parsed.parameters });
      this.send(accepted);
      return;
    }
    // No plugin took the recipient: never an open relay by default.
    txn.decisions.push({
      plugin: 'core',
      hook: 'rcpt',
      action: 'reject',
      reason: 'no plugin accepted the recipient',
      code: 554,
      ms: 0,
    });
    txn.refused.push({ address: address.address, code: 554 });
    this.send(r(554, '5.7.1', `<${address.address}>: Relay access denied`));
  }

  private async dataCommand(argument: string): Promise<void> {
    const txn = this.transaction;
    if (!txn) return this.error(r(503, '5.5.1', 'Error: need MAIL command'));
    if (argument) return this.error(r(501, '5.5.4', 'Syntax: DATA'));
    if (txn.recipients.length === 0) {
      // RFC 2920 3.1: with pipelining, DATA after only refused recipients gets 554.
      if (txn.refused.length) return this.error(r(554, '5.5.1', 'Error: no valid recipients'));
      return this.error(r(503, '5.5.1', 'Error: need RCPT command'));
    }
    const result = await this.settings.pipeline.hooks.data.promise(this, txn);
    if (this.closed) return;
    if (isRefusal(result)) {
      this.applyResult(result);
      return;
    }
    const spool = this.settings.queue.createSpool(txn.id);
    const header = receivedHeader({
      heloDomain: this.helo?.domain,
      clientAddress: this.remote.address,
      hostname: this.hostname,
      esmtp: this.helo?.verb === 'EHLO',
      tls: this.tls,
      authenticated: this.authenticatedUser !== undefined,
      queueId: txn.id,
      recipient: txn.recipients.length === 1 ? txn.recipients[0]!.address.address : undefined,
      date: new Date(),
    });
    spool.write(Buffer.from(header));
    const state: DataState = {
      transaction: txn,
      spool,
      rate: new DataRateBudget(this.settings.listener.timeout, this.settings.listener.min_data_rate, performance.now()),
      bodyBytes: 0,
      tooBig: false,
      decoder: new DataDecoder(this.settings.listener.smtpd_forbid_bare_newline, (chunk) => {
        state.bodyBytes += chunk.length;
        if (state.tooBig) return;
        if (txn.sizeLimit !== undefined && state.bodyBytes > txn.sizeLimit) {
          // RFC 1870 / qmail databytes: stop storing, keep reading, refuse at the end.
          state.tooBig = true;
          return;
        }
        if (!spool.write(chunk) && !this.socket.isPaused()) {
          this.socket.pause();
          spool.onDrain(() => {
            if (this.mode !== 'closed' && !this.pausedForInput) this.socket.resume();
          });
        }
      }),
    };
    this.data = state;
    this.transaction = undefined;
    this.mode = 'data';
    this.armDeadline();
    this.send(r(354, undefined, 'End data with <CR><LF>.<CR><LF>'));
  }

  // ---- DATA --------------------------------------------------------------

  private feedData(chunk: Buffer): void {
    const state = this.data;
    if (!state) return;
    const end = state.decoder.feed(chunk);
    const now = performance.now();
    state.rate.received(end < 0 ? chunk.length : end, now);
    if (end < 0) return;
    // End of data: what follows belongs to the next commands (pipelining).
    if (end < chunk.length) this.reader.push(chunk.subarray(end), now);
    this.mode = 'command';
    this.data = undefined;
    this.transaction = state.transaction;
    // Commands pipelined after the message wait for its reply (RFC 2920 3.1: replies in order).
    this.finishing = true;
    this.finishMessage(state)
      .catch((err: unknown) => {
        this.log.error({ err }, 'internal error finishing a message');
        this.send(r(451, '4.3.0', 'Error: internal error, please try again later'));
      })
      .finally(() => {
        this.finishing = false;
        this.flush();
        void this.pump();
      });
  }

  private async finishMessage(state: DataState): Promise<void> {
    const { transaction: txn, spool, decoder } = state;
    const listener = this.settings.listener;
    const refuse = async (reply: Reply, reason: string, plugin?: string) => {
      await spool.discard();
      this.send(reply);
      this.logTransaction(txn, 'rejected', reply, reason, plugin);
      await this.endTransaction(null);
    };

    if ((decoder.findings.bareLf || decoder.findings.bareCr) && listener.smtpd_forbid_bare_newline === 'reject') {
      const what = decoder.findings.bareLf ? '<LF>' : '<CR>';
      await refuse(
        r(550, '5.5.2', `Error: bare ${what} received`),
        `bare ${what} in message (smtpd_forbid_bare_newline = reject)`,
      );
      // Like Postfix: a client that mixes line endings is not trusted with the rest of the session.
      this.endReason = `bare ${what} in DATA`;
      this.close();
      return;
    }
    if (state.tooBig) {
      await refuse(r(552, '5.3.4', 'Error: message file too big'), `message exceeds ${txn.sizeLimit} octets`);
      return;
    }
    if (decoder.findings.longestLine + 2 > listener.max_text_line) {
      await refuse(
        r(554, '5.6.0', `Error: message contains a line longer than ${listener.max_text_line} octets`),
        `line of ${decoder.findings.longestLine + 2} octets`,
      );
      return;
    }
    const hooks = this.settings.pipeline.hooks;
    if (hooks.message.taps.length || hooks.queue.taps.length) {
      // Plugins read the spooled file; without them the commit writes it in one go.
      try {
        await spool.finish();
      } catch (err) {
        await refuse(storageReply(err), `spool write failed: ${(err as Error).message}`);
        this.log.error({ err, queueId: txn.id }, 'cannot write the spool file; check the queue disk');
        return;
      }
    }
    const message = spooledMessage(spool);
    /** After a hook: true if the message is not to be queued (refused, or the client is gone). */
    const stopped = async (result: HookResult | undefined): Promise<boolean> => {
      if (!this.closed && !isRefusal(result)) return false;
      await spool.discard();
      if (isRefusal(result)) {
        this.applyResult(result);
        this.logTransaction(txn, 'rejected', result.reply, result.reason);
      } else {
        // The connection is gone and nobody can be told: not queued, so not a duplicate later.
        this.logTransaction(txn, 'aborted', undefined, 'connection lost before the reply');
      }
      await this.endTransaction(null);
      return true;
    };
    if (await stopped(await hooks.message.promise(this, txn, message))) return;
    const queued = await hooks.queue.promise(this, txn, message);
    if (await stopped(queued)) return;
    let reply: Reply;
    if (queued?.action === 'accept') {
      // A plugin took the message (forwarded, stored elsewhere): the spool is not ours to keep.
      await spool.discard();
      reply = queued.reply ?? r(250, '2.0.0', `Ok: accepted as ${txn.id}`);
    } else {
      try {
        await spool.commit(this.envelope(txn, spool.size));
      } catch (err) {
        const failure = storageReply(err);
        this.log.error({ err, queueId: txn.id }, 'cannot commit the message to the queue; check the queue disk');
        this.send(failure);
        this.logTransaction(txn, 'rejected', failure, `queue commit failed: ${(err as Error).message}`);
        await this.endTransaction(null);
        return;
      }
      reply = r(250, '2.0.0', `Ok: queued as ${txn.id}`);
    }
    this.messages++;
    this.send(reply);
    this.logTransaction(txn, 'queued', reply, undefined, undefined, spool.size);
    await this.endTransaction(null);
  }

  private envelope(txn: SmtpTransaction, size: number): Envelope {
    return createEnvelope({
      id: txn.id,
      received: new Date(),
      sender: txn.sender?.address ?? '',
      senderParameters: txn.senderParameters,
      recipients: txn.recipients.map((rc) => ({ address: rc.address.address, parameters: rc.parameters })),
      size,
      utf8: txn.utf8,
      body: txn.body,
      client: { address: this.remote.address, port: this.remote.port, helo: this.helo?.domain },
      listener: this.listener,
      tls: this.tls,
      authenticatedUser: this.authenticatedUser,
      addedHeaders: txn.addedHeaders,
    });
  }

  /** Ends the open transaction (if any) and tells plugins. `why` null: already logged. */
  private async endTransaction(why: string | null): Promise<void> {
    const txn = this.transaction;
    if (!txn) return;
    this.transaction = undefined;
    if (why !== null) this.logTransaction(txn, 'aborted', undefined, why);
    if (this.settings.pipeline.hooks.reset.taps.length) await this.settings.pipeline.hooks.reset.promise(this, txn);
  }

  private logTransaction(
    txn: SmtpTransaction,
    result: 'queued' | 'rejected' | 'aborted',
    reply: Reply | undefined,
    reason: string | undefined,
    plugin?: string,
    size?: number,
  ): void {
    const deciding =
      plugin ??
      [...txn.decisions].reverse().find((d) => d.action === 'reject' || d.action === 'error' || d.action === 'disconnect')
        ?.plugin;
    this.log.info(
      {
        event: 'message',
        queueId: txn.id,
        result,
        client: this.remote.address,
        helo: this.helo?.domain,
        sender: txn.sender?.address ?? '',
        recipients: txn.recipients.map((rc) => rc.address.address),
        ...(txn.refused.length ? { refused: txn.refused } : {}),
        ...(size !== undefined ? { size } : {}),
        ...(reply ? { reply: `${reply.code} ${reply.enhanced ?? ''} ${replyText(reply)}`.replace(/ +/g, ' ') } : {}),
        ...(result === 'rejected' && deciding ? { plugin: deciding } : {}),
        ...(reason ? { reason } : {}),
        ...(txn.decisions.length ? { decisions: txn.decisions } : {}),
        ms: Math.round(performance.now() - txn.startedAt),
      },
      result,
    );
  }
}

/** AUTH lines get RFC 4954's longer limit; every other command RFC 5321's. */
function isAuthLine(text: string): boolean {
  return text.length > 5 && text[4] === ' ' && text.slice(0, 4).toUpperCase() === 'AUTH';
}

function parameterText(keyword: string, value: string | true): string {
  return value === true ? keyword : `${keyword}=${value}`;
}

function isRefusal(result: HookResult | undefined): result is RejectResult | DisconnectResult {
  return result !== undefined && (result.action === 'reject' || result.action === 'disconnect');
}

function storageReply(err: unknown): Reply {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return r(452, '4.3.1', 'Error: insufficient system storage');
  return r(451, '4.3.0', 'Error: queue file write error');
}

function spooledMessage(spool: Spool): SpooledMessage {
  let headers: Promise<readonly HeaderField[]> | undefined;
  return {
    get size() {
      return spool.size;
    },
    get path() {
      return spool.path;
    },
    createReadStream: () => spool.createReadStream(),
    readHeaders() {
      headers ??= (async () => {
        const chunks: Buffer[] = [];
        let total = 0;
        for await (const chunk of spool.createReadStream()) {
          chunks.push(chunk as Buffer);
          total += (chunk as Buffer).length;
          const joined = Buffer.concat(chunks);
          if (total >= MAX_HEADER_READ || joined.indexOf('\r\n\r\n') >= 0) break;
        }
        return parseHeaderSection(Buffer.concat(chunks).subarray(0, MAX_HEADER_READ).toString('utf8'));
      })();
      return headers;
    },
  };
}

function normalizeAddress(address: string | undefined): string {
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
function withoutRenegotiation(options: TLSSocketOptions): TLSSocketOptions {
  const flag = BigInt(cryptoConstants.SSL_OP_NO_RENEGOTIATION);
  if (options.secureContext) {
    const native = (options.secureContext as SecureContext & { context?: { setOptions?: (o: number) => void } }).context;
    native?.setOptions?.(Number(flag));
    return options;
  }
  // BigInt: OpenSSL 3 options go past 32 bits, where | on numbers would cut them off.
  return { ...options, secureOptions: Number(BigInt(options.secureOptions ?? 0) | flag) };
}
