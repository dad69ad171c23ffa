/*
 * The connection cache (as in Postfix's scache): a connection whose
 * transaction ended cleanly waits idle, under its destination, for the next
 * transaction to the same destination instead of QUITting. A destination is
 * host, port, TLS policy (with the certificate check and the name it was made
 * for), AUTH user and HELO name, so only a transaction that would open the
 * same connection takes it. Each connection serves one transaction at a time;
 * idle ones keep no timer or socket of the process active, and are QUIT after
 * idleMs, after maxReuse transactions, or on close().
 */
import type { SmtpClientConnection } from './client.js';

const DEFAULT_IDLE_MS = 5_000;
const DEFAULT_MAX_PER_DESTINATION = 2;
const DEFAULT_MAX_REUSE = 100;

export interface ConnectionCacheOptions {
  /** How long an idle connection waits for its next transaction before it is QUIT (default 5000). */
  readonly idleMs?: number;
  /** Idle connections kept per destination; one more is QUIT instead (default 2). */
  readonly maxPerDestination?: number;
  /** Transactions a connection carries before it is QUIT (default 100). */
  readonly maxReuse?: number;
}

/** Idle SMTP connections for deliverRemote to reuse. */
export class ConnectionCache {
  constructor(options: ConnectionCacheOptions = {}) {
    const limit = (value: number | undefined, fallback: number, name: string): number => {
      const n = value ?? fallback;
      // setTimeout fires at once beyond 2^31 - 1 ms.
      if (!(n >= 0 && n <= 2 ** 31 - 1)) throw new RangeError(`ConnectionCache ${name} must be between 0 and 2^31 - 1, not ${n}`);
      return n;
    };
    pools.set(
      this,
      new Pool(
        limit(options.idleMs, DEFAULT_IDLE_MS, 'idleMs'),
        limit(options.maxPerDestination, DEFAULT_MAX_PER_DESTINATION, 'maxPerDestination'),
        limit(options.maxReuse, DEFAULT_MAX_REUSE, 'maxReuse'),
      ),
    );
  }

  /** Idle connections held right now. */
  get size(): number {
    return pool(this).size;
  }

  /**
   * QUITs every idle connection and resolves once all of them are closed.
   * Transactions still running close their connections as without a cache.
   */
  close(): Promise<void> {
    return pool(this).close();
  }
}

/** Each cache's connections, out of reach of anything but remote delivery. */
const pools = new WeakMap<ConnectionCache, Pool>();

/** The idle connections of `cache`, for deliver.ts to take from and park in. */
export function pool(cache: ConnectionCache): Pool {
  return pools.get(cache)!;
}

interface Parked {
  readonly key: string;
  readonly session: SmtpClientConnection;
  readonly timer: NodeJS.Timeout;
}

/** The idle connections of one ConnectionCache. */
export class Pool {
  private readonly idle = new Map<string, Parked[]>();
  /** QUITs and closes under way, for close() to wait for. */
  private readonly ending = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly idleMs: number,
    private readonly maxPerDestination: number,
    private readonly maxReuse: number,
  ) {}

  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** Whether park() would keep this session now. */
  wants(key: string, session: SmtpClientConnection): boolean {
    return (
      !this.closed &&
      !session.broken &&
      session.transactions < this.maxReuse &&
      (this.idle.get(key)?.length ?? 0) < this.maxPerDestination
    );
  }

  /** Keeps a session whose transaction ended cleanly; false leaves it to the caller to QUIT. */
  park(key: string, session: SmtpClientConnection): boolean {
    if (!this.wants(key, session)) return false;
    const entry: Parked = { key, session, timer: setTimeout(() => this.expire(entry), this.idleMs).unref() };
    let list = this.idle.get(key);
    if (!list) {
      list = [];
      this.idle.set(key, list);
    }
    list.push(entry);
    session.hold(false);
    // The server may hang up on an idle client at any time.
    void session.gone.then(() => {
      if (this.remove(entry)) this.end(session, false);
    });
    return true;
  }

  /** The most recently parked session for key, from now on the caller's alone. */
  take(key: string): SmtpClientConnection | undefined {
    const entry = this.idle.get(key)?.at(-1);
    if (!entry) return undefined;
    this.remove(entry);
    entry.session.hold(true);
    return entry.session;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const list of [...this.idle.values()]) {
      for (const entry of [...list]) if (this.remove(entry)) this.end(entry.session, true);
    }
    while (this.ending.size > 0) await Promise.all(this.ending);
  }

  private expire(entry: Parked): void {
    if (this.remove(entry)) this.end(entry.session, true);
  }

  private remove(entry: Parked): boolean {
    const list = this.idle.get(entry.key);
    const i = list?.indexOf(entry) ?? -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.idle.delete(entry.key);
    clearTimeout(entry.timer);
    return true;
  }

  private end(session: SmtpClientConnection, quit: boolean): void {
    const ended = session
      .settle(quit)
      .catch(() => {})
      .finally(() => this.ending.delete(ended));
    this.ending.add(ended);
  }
}
