/*
 * One SMTP listener: accepts TCP connections, enforces the overall and
 * per-client connection limits (421 for the extra ones, before any hook
 * runs) and hands each connection to a session. Listens with a backlog at
 * least as large as its session limit, so bursts of connects are not dropped.
 * Sockets stay half-open after a client's FIN until the session closes them.
 * A reload hands it new settings for new sessions (reconfigure); sessions keep
 * the settings they started with, and drained() says when the last one ended.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { countConnection } from '../metrics/metrics.js';
import { type SessionSettings, SmtpSession } from './session.js';

export class SmtpListener {
  private server: Server | undefined;
  /** Each session with the settings it started with. */
  private readonly sessions = new Map<SmtpSession, SessionSettings>();
  private readonly perClient = new Map<string, number>();
  private readonly drainWaiters: { settings: SessionSettings; done: () => void }[] = [];
  private accepting = true;
  /** Connections accepted before release(); bounded by server.maxConnections and the milliseconds until then. */
  private held: Socket[] | undefined;

  constructor(
    private settings: SessionSettings,
    private readonly log: Logger,
  ) {}

  /** The settings new sessions get. */
  get current(): SessionSettings {
    return this.settings;
  }

  /**
   * New sessions get `settings` from now on (a reload). The bound address and port stay;
   * a listener that moves is a new SmtpListener.
   */
  reconfigure(settings: SessionSettings): void {
    this.settings = settings;
    if (this.server) this.server.maxConnections = settings.listener.max_connections * 2;
  }

  /** Resolves once no session that started with `settings` is left. */
  drained(settings: SessionSettings): Promise<void> {
    if (![...this.sessions.values()].includes(settings)) return Promise.resolve();
    return new Promise((done) => this.drainWaiters.push({ settings, done }));
  }

  /** Stops accepting (a listener a reload removed or moved); sessions in flight run to their end. */
  close(): Promise<void> {
    this.accepting = false;
    this.server?.close();
    return this.drained(this.settings);
  }

  get name(): string {
    return this.settings.listener.name;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /**
   * Starts listening; resolves with the bound port. With `hold`, connections
   * wait (paused) until release(): the gateway binds as root and drops
   * privileges before any session runs.
   */
  listen(options: { hold?: boolean } = {}): Promise<{ address: string; port: number }> {
    const { listener } = this.settings;
    if (options.hold) this.held = [];
    // allowHalfOpen: a client's FIN must not end our side before the replies to what it sent (session.ts).
    const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => {
      if (this.held) this.held.push(socket);
      else this.onConnection(socket);
    });
    this.server = server;
    server.maxConnections = listener.max_connections * 2; // hard stop well above the polite limit
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'EADDRINUSE'
            ? 'the address is already in use'
            : err.code === 'EACCES'
              ? 'permission denied (ports below 1024 need privileges)'
              : err.message;
        reject(new Error(`listener ${listener.name}: cannot listen on ${listener.address}:${listener.port}: ${why}`));
      });
      server.listen(
        { host: listener.address, port: listener.port, backlog: Math.max(listener.backlog, listener.max_connections) },
        () => {
          server.removeAllListeners('error');
          server.on('error', (err) => this.log.error({ err, listener: listener.name }, 'listener error'));
          const a = server.address();
          const port = typeof a === 'object' && a ? a.port : listener.port;
          resolve({ address: listener.address, port });
        },
      );
    });
  }

  /** Starts the sessions of the connections held since listen({ hold: true }), and of those to come. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const socket of held) this.onConnection(socket);
  }

  private refuse(socket: Socket, text: string): void {
    socket.on('error', () => undefined);
    socket.end(`421 4.7.0 ${this.settings.hostname} ${text}\r\n`);
    setTimeout(() => socket.destroy(), 5000).unref();
  }

  private onConnection(socket: Socket): void {
    const { listener } = this.settings;
    const client = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    if (!this.accepting) {
      this.refuse(socket, 'Service shutting down, closing transmission channel');
      return;
    }
    if (this.sessions.size >= listener.max_connections) {
      this.log.warn(
        { listener: listener.name, client, limit: listener.max_connections },
        'connection refused: max_connections reached; raise it if this is legitimate load',
      );
      this.refuse(socket, 'Error: too many connections, try again later');
      return;
    }
    const fromClient = this.perClient.get(client) ?? 0;
    if (fromClient >= listener.max_connections_per_ip) {
      this.log.warn(
        { listener: listener.name, client, limit: listener.max_connections_per_ip },
        'connection refused: max_connections_per_ip reached',
      );
      this.refuse(socket, `Error: too many connections from ${client}`);
      return;
    }
    this.perClient.set(client, fromClient + 1);
    countConnection(listener.name);
    const settings = this.settings;
    const session = new SmtpSession(socket, settings);
    this.sessions.set(session, settings);
    session.onClosed(() => {
      this.sessions.delete(session);
      this.wakeDrainWaiters();
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(client);
      else this.perClient.set(client, n);
    });
    session.start().catch((err: unknown) => {
      this.log.error({ err }, 'session failed to start');
      socket.destroy();
    });
  }

  private wakeDrainWaiters(): void {
    if (!this.drainWaiters.length) return;
    const inUse = new Set(this.sessions.values());
    for (let i = this.drainWaiters.length - 1; i >= 0; i--) {
      const waiter = this.drainWaiters[i]!;
      if (inUse.has(waiter.settings)) continue;
      this.drainWaiters.splice(i, 1);
      waiter.done();
    }
  }

  /**
   * Stops accepting, lets running transactions finish for up to `graceMs`,
   * then closes what is left with 421. Resolves when every session is gone.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    // close() stops accepting at once; its callback waits for the sessions, which we end below.
    this.server?.close();
    for (const s of this.sessions.keys()) s.shutdown(false);
    const deadline = Date.now() + graceMs;
    while (this.sessions.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sessions.keys()) s.shutdown(true);
    const hardDeadline = Date.now() + 2000;
    while (this.sessions.size && Date.now() < hardDeadline) await new Promise((r) => setTimeout(r, 50));
  }
}
