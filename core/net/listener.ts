/*
 * The life of a listener, shared by SMTP and POP3: listen (holding connections
 * until privileges are dropped), the overall and per-client connection limits
 * (a refusal line, then close), reconfigure on reload, drained() per settings,
 * close and graceful shutdown. A protocol's listener extends it with its
 * session factory and its refusal texts; nothing here speaks SMTP or POP3.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/schema.js';
import { countConnection } from '../metrics/metrics.js';

/** What a listener needs of a session. */
export interface ListenedSession {
  onClosed(callback: () => void): void;
  start(): Promise<void>;
  /** Ends the session: `force` false when idle or after the command in flight, true at once. */
  shutdown(force: boolean): void;
}

/** What a listener needs of the settings its sessions start with. */
export interface ListenedSettings {
  readonly listener: ListenerConfig;
}

/** The protocol's words. */
export interface ListenerProtocol<S extends ListenedSettings> {
  /** A client's FIN does not end our side; the session closes it (SMTP answers what was sent first). */
  readonly allowHalfOpen: boolean;
  /** The whole refusal line, CRLF included, for a connection the listener does not take. */
  refusal(settings: S, text: string): string;
  readonly shuttingDown: string;
  readonly tooManyConnections: string;
  tooManyFromClient(client: string): string;
  /** Logged when max_connections refuses a client. */
  readonly maxConnectionsLog: string;
  /** Logged when a session's start() rejects. */
  readonly startFailedLog: string;
}

export abstract class Listener<S extends ListenedSettings, T extends ListenedSession> {
  private server: Server | undefined;
  /** Each session with the settings it started with. */
  private readonly sessions = new Map<T, S>();
  private readonly perClient = new Map<string, number>();
  private readonly drainWaiters: { settings: S; done: () => void }[] = [];
  private accepting = true;
  /** Connections accepted before release(); bounded by server.maxConnections and the milliseconds until then. */
  private held: Socket[] | undefined;

  constructor(
    private settings: S,
    private readonly log: Logger,
    private readonly protocol: ListenerProtocol<S>,
  ) {}

  /** A session for an accepted connection; the listener starts it and counts it until it closes. */
  protected abstract openSession(socket: Socket, settings: S): T;

  /** The settings new sessions get. */
  get current(): S {
    return this.settings;
  }

  get name(): string {
    return this.settings.listener.name;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /**
   * New sessions get `settings` from now on (a reload). The bound address and port stay;
   * a listener that moves is a new listener.
   */
  reconfigure(settings: S): void {
    this.settings = settings;
    if (this.server) this.server.maxConnections = settings.listener.max_connections * 2;
  }

  /** Resolves once no session that started with `settings` is left. */
  drained(settings: S): Promise<void> {
    if (![...this.sessions.values()].includes(settings)) return Promise.resolve();
    return new Promise((done) => this.drainWaiters.push({ settings, done }));
  }

  /** Stops accepting (a listener a reload removed or moved); sessions in flight run to their end. */
  close(): Promise<void> {
    this.accepting = false;
    this.server?.close();
    return this.drained(this.settings);
  }

  /**
   * Starts listening; resolves with the bound port. With `hold`, connections
   * wait (paused) until release(): the gateway binds as root and drops
   * privileges before any session runs.
   */
  listen(options: { hold?: boolean } = {}): Promise<{ address: string; port: number }> {
    const { listener } = this.settings;
    if (options.hold) this.held = [];
    const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: this.protocol.allowHalfOpen }, (socket) => {
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
    socket.end(this.protocol.refusal(this.settings, text));
    setTimeout(() => socket.destroy(), 5000).unref();
  }

  private onConnection(socket: Socket): void {
    const { listener } = this.settings;
    const { protocol } = this;
    const client = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    if (!this.accepting) {
      this.refuse(socket, protocol.shuttingDown);
      return;
    }
    if (this.sessions.size >= listener.max_connections) {
      this.log.warn({ listener: listener.name, client, limit: listener.max_connections }, protocol.maxConnectionsLog);
      this.refuse(socket, protocol.tooManyConnections);
      return;
    }
    const fromClient = this.perClient.get(client) ?? 0;
    if (fromClient >= listener.max_connections_per_ip) {
      this.log.warn(
        { listener: listener.name, client, limit: listener.max_connections_per_ip },
        'connection refused: max_connections_per_ip reached',
      );
      this.refuse(socket, protocol.tooManyFromClient(client));
      return;
    }
    this.perClient.set(client, fromClient + 1);
    countConnection(listener.name);
    const settings = this.settings;
    const session = this.openSession(socket, settings);
    this.sessions.set(session, settings);
    session.onClosed(() => {
      this.sessions.delete(session);
      this.wakeDrainWaiters();
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(client);
      else this.perClient.set(client, n);
    });
    session.start().catch((err: unknown) => {
      this.log.error({ err }, protocol.startFailedLog);
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
   * Stops accepting; sessions end after what they are doing (shutdown(false)) for up to
   * `graceMs`, then at once (shutdown(true)). Resolves when every session is gone, or 2 s later.
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
