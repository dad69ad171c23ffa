/*
 * One POP3 session (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH PLAIN RFC
 * 5034): the AUTHORIZATION state (USER/PASS or AUTH PLAIN against the
 * pipeline's directory, plaintext refused before TLS unless allowed, failures
 * throttled per client address), then TRANSACTION on the locked maildrop, then
 * UPDATE at QUIT, the only place deletions happen. Input is bounded (line
 * length, commands, errors, idle time, the time a line may take); RETR and TOP
 * stream the file with back-pressure. Does not: APOP (the directory contract
 * hands out no shared secrets), or keep any mail in memory.
 */
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/schema.js';
import { mailboxPath } from '../delivery/local-address.js';
import type { Pop3Login, TlsOffer, UserRecord } from '../hooks/types.js';
import type { AuthAttempt, FailureThrottle } from '../model/index.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { type CommandInput, CommandReader } from '../smtp/command-reader.js';
import { withoutRenegotiation } from '../smtp/connection.js';
import { decodePlain, KNOWN_VERBS, type Pop3Command, type Pop3State, parseCommand, parseNumber, VERBS } from './command.js';
import { commitDeletions, ensureMaildir, openMaildrop, type Pop3Message } from './mailbox.js';
import { lockMaildrop, type MaildropLock } from './mailbox-lock.js';
import { Pop3TextEncoder } from './text-encoder.js';

export interface Pop3Settings {
  readonly listener: ListenerConfig;
  readonly hostname: string;
  readonly pipeline: Pipeline;
  readonly log: Logger;
  /** delivery.maildir_root, resolved: where a user's Maildir is when the directory names none. */
  readonly maildirRoot: string;
}

/** How long a closing session waits for the client to take the last reply. */
const CLOSE_GRACE_MS = 5_000;
const READ_CHUNK = 64 * 1024;

function plainAddress(address: string | undefined): string {
  const a = address ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export class Pop3Session {
  readonly id = randomBytes(6).toString('hex');
  private socket: Socket;
  private readonly reader: CommandReader;
  private readonly log: Logger;
  private state: Pop3State = 'authorization';
  private tls: { protocol: string; cipher: string } | undefined;
  private offer: TlsOffer | undefined;
  /** The name USER gave, for PASS. */
  private userName: string | undefined;
  /** AUTH PLAIN sent "+ " and waits for the client's response line. */
  private awaitingPlain = false;
  private user: string | undefined;
  private maildir: string | undefined;
  private lock: MaildropLock | undefined;
  private messages: Pop3Message[] = [];
  private commands = 0;
  private errors = 0;
  private retrieved = 0;
  private busy = false;
  private stopping = false;
  private closed = false;
  private readonly closedCallbacks: (() => void)[] = [];
  private readonly client: string;

  constructor(
    socket: Socket,
    private readonly settings: Pop3Settings,
    private readonly throttle: FailureThrottle,
  ) {
    this.socket = socket;
    this.reader = new CommandReader(settings.listener.max_command_line);
    this.client = plainAddress(socket.remoteAddress);
    this.log = settings.log.child({ session: this.id, client: this.client });
  }

  onClosed(callback: () => void): void {
    this.closedCallbacks.push(callback);
  }

  async start(): Promise<void> {
    const { listener, pipeline } = this.settings;
    this.log.info({ event: 'connect', protocol: 'pop3', port: this.socket.remotePort }, 'pop3 connection');
    this.attach(this.socket);
    try {
      this.offer = await pipeline.hooks.tls.promise({ listener: listener.name, protocol: 'pop3' });
    } catch (err) {
      this.log.error({ err }, 'the tls hook failed; this session has no TLS');
    }
    if (this.offer?.implicit && !(await this.upgrade())) return;
    if (this.closed) return;
    this.send(`+OK ${this.settings.hostname} POP3 ready`);
    this.socket.resume();
  }

  /** Graceful (false): idle sessions end now, busy ones after their command. Forced: every session ends now. */
  shutdown(force: boolean): void {
    this.stopping = true;
    if (force || !this.busy) this.abort('-ERR [SYS/TEMP] Server shutting down');
  }

  private attach(socket: Socket): void {
    socket.setTimeout(this.settings.listener.timeout);
    socket.on('timeout', () => this.abort('-ERR Autologout; idle for too long', 'idle timeout'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.finish('client closed the connection'));
    socket.on('close', () => this.finish('connection closed'));
    socket.on('error', (err) => {
      this.log.info({ event: 'pop3', error: err.message }, 'pop3 connection error');
      this.finish('connection error');
    });
  }

  private onData(chunk: Buffer): void {
    const now = performance.now();
    this.reader.push(chunk, now);
    const started = this.reader.lineStartedAt;
    // A client trickling one line to hold the session (command_deadline, as for SMTP).
    if (started !== undefined && now - started > this.settings.listener.command_deadline) {
      this.abort('-ERR Command line took too long', 'command deadline');
      return;
    }
    void this.drain();
  }

  /** Handles the lines received, one at a time; reading pauses meanwhile, so pipelined input stays bounded. */
  private async drain(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    this.socket.pause();
    try {
      for (let input = this.reader.next(); input && !this.closed; input = this.reader.next()) await this.handle(input);
    } catch (err) {
      this.log.error({ err, event: 'pop3' }, 'pop3 session failed');
      this.abort('-ERR [SYS/TEMP] Internal error', 'internal error');
    } finally {
      this.busy = false;
    }
    if (this.stopping) this.abort('-ERR [SYS/TEMP] Server shutting down');
    else if (!this.closed) this.socket.resume();
  }

  private send(line: string): void {
    if (!this.closed && this.socket.writable) this.socket.write(`${line}\r\n`);
  }

  private async write(pieces: Buffer[]): Promise<void> {
    if (this.closed) throw new Error('connection closed');
    const socket = this.socket;
    socket.cork();
    for (const piece of pieces) socket.write(piece);
    socket.uncork();
    if (!socket.writableNeedDrain) return;
    await new Promise<void>((done) => {
      const settle = () => {
        socket.off('drain', settle);
        socket.off('close', settle);
        done();
      };
      socket.on('drain', settle);
      socket.on('close', settle);
    });
  }

  /** A protocol error: counted; past max_errors the session ends. */
  private error(text: string): void {
    this.errors++;
    if (this.errors >= this.settings.listener.max_errors) {
      this.abort(`${text}; too many errors, closing`, 'too many errors');
      return;
    }
    this.send(text);
  }

  private async handle(input: CommandInput): Promise<void> {
    if (input.kind === 'too-long') return this.error('-ERR Line too long');
    if (input.kind !== 'line') return this.error('-ERR Invalid characters in command');
    this.commands++;
    if (this.commands > this.settings.listener.max_commands) {
      this.abort('-ERR Too many commands; closing', 'too many commands');
      return;
    }
    if (this.awaitingPlain) {
      this.awaitingPlain = false;
      return this.plainResponse(input.text);
    }
    const command = parseCommand(input.text);
    if (!command || !KNOWN_VERBS.has(command.verb)) return this.error('-ERR Unknown command');
    if (!VERBS[this.state].has(command.verb)) return this.error('-ERR Command not valid in this state');
    return this.state === 'authorization' ? this.authorization(command) : this.transaction(command);
  }

  // --- AUTHORIZATION (RFC 1939 4, RFC 2595, RFC 5034) ---

  /** Plaintext credentials only inside TLS, unless plaintext_login (RFC 2595 2.3). */
  private get mayLogin(): boolean {
    return this.tls !== undefined || this.settings.listener.plaintext_login;
  }

  private async authorization(command: Pop3Command): Promise<void> {
    switch (command.verb) {
      case 'CAPA':
        return this.capa();
      case 'QUIT':
        this.send(`+OK ${this.settings.hostname} POP3 server signing off`);
        return this.close('quit');
      case 'STLS':
        return this.stls(command);
      case 'USER':
        if (!this.mayLogin) return this.plaintextRefused();
        if (!command.rest) return this.error('-ERR Syntax: USER name');
        this.userName = command.rest;
        this.send('+OK Send your password');
        return;
      case 'PASS': {
        if (!this.mayLogin) return this.plaintextRefused();
        const user = this.userName;
        this.userName = undefined;
        if (user === undefined) return this.error('-ERR USER first');
        if (!command.rest) return this.error('-ERR Syntax: PASS password');
        return this.login(user, command.rest, 'USER');
      }
      case 'AUTH':
        return this.auth(command);
    }
  }

  private plaintextRefused(): void {
    this.error('-ERR [AUTH] Plaintext authentication disallowed on non-secure connection; use STLS');
  }

  private capa(): void {
    const lines = ['+OK Capability list follows'];
    if (this.state === 'authorization') {
      if (this.offer && !this.tls) lines.push('STLS');
      if (this.mayLogin) lines.push('USER', 'SASL PLAIN');
    }
    lines.push('TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'IMPLEMENTATION qgate', '.');
    this.send(lines.join('\r\n'));
  }

  private async stls(command: Pop3Command): Promise<void> {
    if (command.args.length) return this.error('-ERR Syntax: STLS');
    if (this.tls) return this.error('-ERR Command not permitted when TLS active');
    if (!this.offer) return this.error('-ERR STLS not available');
    this.send('+OK Begin TLS negotiation');
    // Whatever the client pipelined after STLS was sent in the clear: never act on it (RFC 2595 4).
    this.reader.discard();
    this.userName = undefined;
    await this.upgrade();
  }

  private async upgrade(): Promise<boolean> {
    const raw = this.socket;
    for (const event of ['data', 'end', 'close', 'timeout', 'error', 'drain']) raw.removeAllListeners(event);
    // The TLS socket reports what goes wrong below it; an 'error' with no listener would end the process.
    raw.on('error', () => undefined);
    raw.setTimeout(0);
    const secure = new TLSSocket(raw, { ...withoutRenegotiation(this.offer!.options), isServer: true });
    this.socket = secure;
    const ok = await new Promise<boolean>((done) => {
      const timer = setTimeout(() => done(false), this.settings.listener.timeout);
      const settle = (result: boolean) => () => {
        clearTimeout(timer);
        done(result);
      };
      secure.once('secure', settle(true));
      secure.once('error', (err) => {
        this.log.info({ event: 'tls', error: err.message }, 'TLS handshake failed');
        settle(false)();
      });
      secure.once('close', settle(false));
      secure.once('end', settle(false));
    });
    if (!ok) {
      secure.destroy();
      this.finish('TLS handshake failed');
      return false;
    }
    secure.removeAllListeners('error');
    secure.removeAllListeners('close');
    secure.removeAllListeners('end');
    this.tls = { protocol: secure.getProtocol() ?? 'unknown', cipher: secure.getCipher().standardName };
    this.log.info({ event: 'tls', ...this.tls }, 'TLS started');
    this.attach(secure);
    return true;
  }

  private async auth(command: Pop3Command): Promise<void> {
    const [mechanism, initial, extra] = command.args;
    if (mechanism === undefined) {
      // A list of mechanisms, as clients that probe with a bare AUTH expect (Dovecot, Courier).
      this.send(this.mayLogin ? '+OK\r\nPLAIN\r\n.' : '+OK\r\n.');
      return;
    }
    if (extra !== undefined) return this.error('-ERR Syntax: AUTH mechanism [initial-response]');
    if (mechanism.toUpperCase() !== 'PLAIN') return this.error('-ERR Unsupported authentication mechanism');
    if (!this.mayLogin) return this.plaintextRefused();
    if (initial === undefined) {
      this.awaitingPlain = true;
      this.send('+ ');
      return;
    }
    return this.plainResponse(initial);
  }

  private async plainResponse(text: string): Promise<void> {
    if (text === '*') return this.error('-ERR Authentication cancelled');
    const credentials = decodePlain(text);
    if (!credentials) return this.error('-ERR [AUTH] Invalid AUTH PLAIN response');
    return this.login(credentials.username, credentials.password, 'PLAIN');
  }

  private async notifyLogin(user: string, ok: boolean, mechanism: string, reason?: string): Promise<void> {
    const login: Pop3Login = {
      listener: this.settings.listener.name,
      client: { address: this.client, port: this.socket.remotePort ?? 0 },
      user,
      ok,
      mechanism,
      tls: this.tls !== undefined,
      ...(reason ? { reason } : {}),
    };
    await this.settings.pipeline.hooks['pop3-login'].promise(login);
  }

  private async refuseLogin(user: string, mechanism: string, reason: string, reply: string): Promise<void> {
    this.log.info({ event: 'pop3-login', result: 'failed', user, mechanism, reason }, `pop3 login failed: ${reason}`);
    await this.notifyLogin(user, false, mechanism, reason);
    this.send(reply);
  }

  private async login(username: string, password: string, mechanism: string): Promise<void> {
    const attempt = this.throttle.reserve(this.client);
    if (!attempt) {
      return this.refuseLogin(username, mechanism, 'throttled', '-ERR [AUTH] Too many failed logins; try again later');
    }
    const { users } = this.settings.pipeline;
    let user = username;
    let record: UserRecord | null | undefined;
    try {
      const verdict = await users.authenticate({ mechanism: 'PLAIN', username, password, service: 'pop3' });
      if (verdict?.ok) {
        user = verdict.user ?? username;
        record = await users.lookup(user);
      }
      if (!verdict?.ok || record?.enabled === false) {
        const failures = attempt.fail(username);
        const reason = verdict?.ok ? 'account disabled' : verdict ? 'bad credentials' : 'no directory knows the user';
        this.log.info({ event: 'pop3-login', failures }, 'failed login counted');
        return this.refuseLogin(username, mechanism, reason, '-ERR [AUTH] Authentication failed');
      }
    } catch (err) {
      attempt.release();
      this.log.warn({ err, event: 'pop3-login' }, 'the user directory could not answer a POP3 login');
      return this.refuseLogin(
        username,
        mechanism,
        'directory unavailable',
        '-ERR [SYS/TEMP] The user directory is unavailable; try again later',
      );
    }
    return this.openMaildrop(user, record, mechanism, attempt);
  }

  /** The user's Maildir: the directory's mailbox, else the delivery layout under maildir_root. */
  private maildirOf(user: string, record: UserRecord | null | undefined): string | undefined {
    if (record?.mailbox) return resolve(record.mailbox);
    const address = record?.address ?? user;
    const at = address.lastIndexOf('@');
    if (at <= 0) return undefined;
    try {
      return mailboxPath(this.settings.maildirRoot, address.slice(0, at), address.slice(at + 1));
    } catch {
      return undefined;
    }
  }

  private async openMaildrop(user: string, record: UserRecord | null | undefined, mechanism: string, attempt: AuthAttempt) {
    attempt.succeed(user);
    const maildir = this.maildirOf(user, record);
    if (!maildir) {
      return this.refuseLogin(user, mechanism, 'no mailbox', '-ERR [SYS/PERM] No mailbox for this user');
    }
    let lock: MaildropLock | undefined;
    try {
      await ensureMaildir(maildir);
      lock = await lockMaildrop(maildir);
      if (!lock) {
        return this.refuseLogin(user, mechanism, 'in use', '-ERR [IN-USE] Mailbox is locked by another POP3 session');
      }
      this.messages = await openMaildrop(maildir);
    } catch (err) {
      await lock?.release();
      this.log.error({ err, event: 'pop3', maildir }, 'cannot open the maildrop; check its owner and mode');
      return this.refuseLogin(user, mechanism, 'maildrop error', '-ERR [SYS/TEMP] Cannot open the mailbox; try again later');
    }
    if (this.closed) {
      await lock.release();
      return;
    }
    this.lock = lock;
    this.maildir = maildir;
    this.user = user;
    this.state = 'transaction';
    const { count, octets } = this.totals();
    this.log.info(
      { event: 'pop3-login', result: 'ok', user, mechanism, tls: this.tls !== undefined, messages: count, octets },
      'pop3 login',
    );
    await this.notifyLogin(user, true, mechanism);
    this.send(`+OK Logged in, ${count} messages (${octets} octets)`);
  }

  // --- TRANSACTION (RFC 1939 5, 7) ---

  private totals(): { count: number; octets: number } {
    let count = 0;
    let octets = 0;
    for (const m of this.messages) {
      if (m.deleted) continue;
      count++;
      octets += m.size;
    }
    return { count, octets };
  }

  /** The message an argument names, or the -ERR to answer. */
  private message(arg: string | undefined): Pop3Message | string {
    const n = parseNumber(arg, 1);
    if (n === undefined) return '-ERR Invalid message number';
    const m = this.messages[n - 1];
    if (!m) return '-ERR No such message';
    if (m.deleted) return '-ERR Message is deleted';
    return m;
  }

  private async transaction(command: Pop3Command): Promise<void> {
    const { verb, args } = command;
    switch (verb) {
      case 'CAPA':
        return this.capa();
      case 'STAT': {
        if (args.length) return this.error('-ERR Syntax: STAT');
        const { count, octets } = this.totals();
        this.send(`+OK ${count} ${octets}`);
        return;
      }
      case 'NOOP':
        this.send('+OK');
        return;
      case 'LIST':
      case 'UIDL': {
        if (args.length > 1) return this.error(`-ERR Syntax: ${verb} [message]`);
        const show = (m: Pop3Message) => `${m.number} ${verb === 'LIST' ? m.size : m.uid}`;
        if (args.length === 1) {
          const m = this.message(args[0]);
          if (typeof m === 'string') return this.error(m);
          this.send(`+OK ${show(m)}`);
          return;
        }
        const lines = [verb === 'LIST' ? `+OK ${this.totals().count} messages` : '+OK'];
        for (const m of this.messages) if (!m.deleted) lines.push(show(m));
        lines.push('.');
        // One write per listing: a mailbox of n messages is n short lines.
        await this.write([Buffer.from(`${lines.join('\r\n')}\r\n`)]);
        return;
      }
      case 'RETR':
      case 'TOP': {
        const want = verb === 'RETR' ? 1 : 2;
        if (args.length !== want)
          return this.error(verb === 'RETR' ? '-ERR Syntax: RETR message' : '-ERR Syntax: TOP message lines');
        const m = this.message(args[0]);
        if (typeof m === 'string') return this.error(m);
        const lines = verb === 'TOP' ? parseNumber(args[1], 0) : undefined;
        if (verb === 'TOP' && lines === undefined) return this.error('-ERR Invalid number of lines');
        return this.retrieve(m, lines);
      }
      case 'DELE': {
        if (args.length !== 1) return this.error('-ERR Syntax: DELE message');
        const m = this.message(args[0]);
        if (typeof m === 'string') return this.error(m);
        m.deleted = true;
        this.send(`+OK Message ${m.number} deleted`);
        return;
      }
      case 'RSET': {
        for (const m of this.messages) m.deleted = false;
        const { count, octets } = this.totals();
        this.send(`+OK ${count} messages (${octets} octets)`);
        return;
      }
      case 'QUIT':
        return this.update();
    }
  }

  /** RETR (lines undefined) or TOP: streamed from the file, dot-stuffed, with back-pressure. */
  private async retrieve(m: Pop3Message, lines: number | undefined): Promise<void> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(m.path, 'r');
    } catch (err) {
      this.log.warn({ err, event: 'pop3', file: m.path }, 'a message of the maildrop cannot be read');
      this.send('-ERR [SYS/TEMP] Cannot read the message');
      return;
    }
    try {
      this.send(lines === undefined ? `+OK ${m.size} octets` : '+OK Top of message follows');
      const encoder = new Pop3TextEncoder({ stuff: true, ...(lines === undefined ? {} : { bodyLines: lines }) });
      for await (const chunk of handle.createReadStream({ highWaterMark: READ_CHUNK, autoClose: false })) {
        const pieces = encoder.push(chunk as Buffer);
        if (pieces.length) await this.write(pieces);
        if (encoder.finished) break;
      }
      await this.write(encoder.end(true));
      if (lines === undefined) this.retrieved++;
    } catch (err) {
      // Half a message was sent: the protocol cannot recover, so the connection ends (no UPDATE).
      if (!this.closed) {
        this.log.error({ err, event: 'pop3', file: m.path }, 'reading a message failed mid-way; closing the session');
        this.finish('read error');
      }
    } finally {
      await handle.close();
    }
  }

  /** QUIT in TRANSACTION: the UPDATE state (RFC 1939 6). */
  private async update(): Promise<void> {
    const deleted = this.messages.filter((m) => m.deleted).length;
    let failed = 0;
    try {
      failed = await commitDeletions(this.maildir!, this.messages);
    } catch (err) {
      this.log.error({ err, event: 'pop3' }, 'committing deletions failed');
      failed = deleted;
    }
    await this.lock?.release();
    this.lock = undefined;
    this.log.info(
      { event: 'pop3-quit', user: this.user, deleted: deleted - failed, failed, retrieved: this.retrieved },
      'pop3 session ended with QUIT',
    );
    const left = this.messages.length - deleted + failed;
    this.send(
      failed
        ? '-ERR [SYS/TEMP] Some deleted messages were not removed'
        : `+OK ${this.settings.hostname} POP3 server signing off (${left} messages left)`,
    );
    this.close('quit');
  }

  // --- the end of a session ---

  /** Sends `reply` and closes without UPDATE: nothing marked deleted is removed (RFC 1939 6). */
  private abort(reply: string, why = 'shutdown'): void {
    if (this.closed) return;
    this.send(reply);
    this.close(why);
  }

  private close(why: string): void {
    if (this.closed) return;
    const socket = this.socket;
    if (socket.writable) socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    this.finish(why);
  }

  private finish(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroySoon?.();
    const lock = this.lock;
    this.lock = undefined;
    void lock?.release();
    this.log.info({ event: 'disconnect', protocol: 'pop3', user: this.user, reason: why }, 'pop3 connection closed');
    for (const callback of this.closedCallbacks) callback();
  }
}
