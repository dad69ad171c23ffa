/*
 * One POP3 listener (ports 110 and 995): accepts connections, enforces the
 * overall and per-client connection limits (-ERR [SYS/TEMP] and close), and
 * runs a session per connection. Keeps the failed-login throttle of its
 * clients across sessions and reloads. The same life as an SMTP listener
 * (hold until privileges are dropped, reconfigure, drained, close, shutdown),
 * so the gateway manages both alike.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { countConnection } from '../metrics/metrics.js';
import { FailureThrottle } from '../model/index.js';
import { Pop3Session, type Pop3Settings } from './session.js';

export class Pop3Listener {
  private server: Server | undefined;
  private readonly sessions = new Map<Pop3Session, Pop3Settings>();
  private readonly perClient = new Map<string, number>();
  private readonly drainWaiters: { settings: Pop3Settings; done: () => void }[] = [];
  private accepting = true;
  private held: Socket[] | undefined;
  private throttle: FailureThrottle;

  constructor(
    private settings: Pop3Settings,
    private readonly log: Logger,
  ) {
    this.throttle = new FailureThrottle(settings.listener.max_login_failures, settings.listener.login_failure_window);
  }

  get current(): Pop3Settings {
    return this.settings;
  }

  get name(): string {
    return this.settings.listener.name;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  reconfigure(settings: Pop3Settings): void {
    const before = this.settings.listener;
    this.settings = settings;
    if (this.server) this.server.maxConnections = settings.listener.max_connections * 2;
    // The failures counted so far stay, unless the limits changed.
    if (
      before.max_login_failures !== settings.listener.max_login_failures ||
      before.login_failure_window !== settings.listener.login_failure_window
    ) {
      this.throttle = new FailureThrottle(settings.listener.max_login_failures, settings.listener.login_failure_window);
    }
  }

  drained(settings: Pop3Settings): Promise<void> {
    if (![...this.sessions.values()].includes(settings)) return Promise.resolve();
    return new Promise((done) => this.drainWaiters.push({ settings, done }));
  }

  close(): Promise<void> {
    this.accepting = false;
    this.server?.close();
    return this.drained(this.settings);
  }

  listen(options: { hold?: boolean } = {}): Promise<{ address: string; port: number }> {
    const { listener } = this.settings;
    if (options.hold) this.held = [];
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
      if (this.held) this.held.push(socket);
      else this.onConnection(socket);
    });
    this.server = server;
    server.maxConnections = listener.max_connections * 2;
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
          resolve({ address: listener.address, port: typeof a === 'object' && a ? a.port : listener.port });
        },
      );
    });
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const socket of held) this.onConnection(socket);
  }

  private refuse(socket: Socket, text: string): void {
    socket.on('error', () => undefined);
    socket.end(`-ERR [SYS/TEMP] ${text}\r\n`);
    setTimeout(() => socket.destroy(), 5000).unref();
  }

  private onConnection(socket: Socket): void {
    const { listener } = this.settings;
    const client = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    if (!this.accepting) {
      this.refuse(socket, 'Server shutting down');
      return;
    }
    if (this.sessions.size >= listener.max_connections) {
      this.log.warn(
        { listener: listener.name, client, limit: listener.max_connections },
        'connection refused: max_connections reached',
      );
      this.refuse(socket, 'Too many connections, try again later');
      return;
    }
    const fromClient = this.perClient.get(client) ?? 0;
    if (fromClient >= listener.max_connections_per_ip) {
      this.log.warn(
        { listener: listener.name, client, limit: listener.max_connections_per_ip },
        'connection refused: max_connections_per_ip reached',
      );
      this.refuse(socket, `Too many connections from ${client}`);
      return;
    }
    this.perClient.set(client, fromClient + 1);
    countConnection(listener.name);
    const settings = this.settings;
    const session = new Pop3Session(socket, settings, this.throttle);
    this.sessions.set(session, settings);
    session.onClosed(() => {
      this.sessions.delete(session);
      this.wakeDrainWaiters();
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(client);
      else this.perClient.set(client, n);
    });
    session.start().catch((err: unknown) => {
      this.log.error({ err }, 'pop3 session failed to start');
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

  /** Stops accepting; idle sessions end now (without UPDATE), busy ones after their command or at `graceMs`. */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    this.server?.close();
    for (const s of this.sessions.keys()) s.shutdown(false);
    const deadline = Date.now() + graceMs;
    while (this.sessions.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sessions.keys()) s.shutdown(true);
    const hardDeadline = Date.now() + 2000;
    while (this.sessions.size && Date.now() < hardDeadline) await new Promise((r) => setTimeout(r, 50));
  }
}
