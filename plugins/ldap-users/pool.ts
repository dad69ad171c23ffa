/*
 * Connections to one LDAP server (ldapts): a few shared connections, bound as
 * the service account, for searches (LDAP multiplexes operations on one), and
 * a separate set for checking passwords by binding as a user, each used by one
 * bind at a time (RFC 4511 4.2.1: nothing else may be in flight during a bind).
 * Every connect, StartTLS, bind and search has a deadline; a connection that
 * failed, timed out or was closed by the server is thrown away and a new one
 * opened on next use, so the pool recovers by itself when the server returns.
 * A connection is never reopened in place: ldapts would reconnect without
 * StartTLS, and a password must never go out in the clear.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, type Entry, InvalidCredentialsError } from 'ldapts';

export interface PoolSettings {
  readonly url: string;
  readonly starttls: boolean;
  /** TLS options for ldaps:// and StartTLS (CA, server name). */
  readonly tls: ConnectionOptions;
  readonly bindDn: string | undefined;
  readonly bindPassword: string | undefined;
  /** Search connections, and at most as many password-bind connections. */
  readonly size: number;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
}

export interface SearchRequest {
  readonly base: string;
  readonly scope: 'sub' | 'one';
  readonly filter: string;
  readonly attributes: readonly string[];
  /** Most entries wanted; the server answers sizeLimitExceeded past it. */
  readonly sizeLimit: number;
}

/** Runs `work` with a deadline; past it `onTimeout` runs (it tears the connection down) and the promise rejects. */
function withDeadline<T>(work: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function discard(client: Client): void {
  // unbind() closes the socket whatever the server does; its answer does not matter.
  client.unbind().catch(() => {});
}

export class LdapPool {
  private readonly searchers: (Promise<Client> | undefined)[];
  private turn = 0;
  private readonly idleBinders: Client[] = [];
  private binders = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly s: PoolSettings) {
    this.searchers = new Array(s.size).fill(undefined);
  }

  /** A connected client, upgraded with StartTLS if asked, bound as `dn` if given. */
  private async open(dn: string | undefined, password: string | undefined): Promise<Client> {
    const client = new Client({
      url: this.s.url,
      timeout: this.s.timeoutMs,
      connectTimeout: this.s.connectTimeoutMs,
      // Only for ldaps://: ldapts opens TLS from the first byte whenever it has TLS options, also for
      // an ldap:// URL, so a ca_file with starttls would speak TLS at a port that waits for StartTLS.
      ...(new URL(this.s.url).protocol === 'ldaps:' ? { tlsOptions: this.s.tls } : {}),
    });
    const opening = (async () => {
      if (this.s.starttls) await client.startTLS(startTlsTarget(this.s.url, this.s.tls));
      // Without a service account, an explicit anonymous bind (RFC 4513 5.1.1) opens the connection.
      await client.bind(dn ?? '', password ?? '');
    })();
    try {
      await withDeadline(opening, this.s.connectTimeoutMs, `connecting to ${this.s.url}`, () => discard(client));
      return client;
    } catch (err) {
      discard(client);
      throw err;
    }
  }

  /** Searches on one of the shared service connections (round robin). */
  async search(request: SearchRequest): Promise<Entry[]> {
    if (this.closed) throw new Error('the LDAP pool is closed');
    const slot = this.turn++ % this.searchers.length;
    let pending = this.searchers[slot];
    if (pending === undefined) {
      pending = this.open(this.s.bindDn, this.s.bindPassword);
      this.searchers[slot] = pending;
    }
    let client: Client;
    try {
      client = await pending;
    } catch (err) {
      if (this.searchers[slot] === pending) this.searchers[slot] = undefined;
      throw err;
    }
    // Checked in the same tick as the search starts: a connection the server closed is replaced, not reopened.
    if (!client.isConnected) {
      if (this.searchers[slot] === pending) this.searchers[slot] = undefined;
      discard(client);
      return this.search(request);
    }
    try {
      const result = await withDeadline(
        client.search(request.base, {
          scope: request.scope,
          filter: request.filter,
          attributes: [...request.attributes],
          sizeLimit: request.sizeLimit,
          timeLimit: Math.max(1, Math.ceil(this.s.timeoutMs / 1000)),
        }),
        this.s.timeoutMs,
        `search in ${request.base}`,
        () => discard(client),
      );
      return result.searchEntries;
    } catch (err) {
      // An LDAP result (noSuchObject, sizeLimitExceeded) leaves the connection usable; anything else does not.
      if (!client.isConnected || !hasResultCode(err)) {
        if (this.searchers[slot] === pending) this.searchers[slot] = undefined;
        discard(client);
      }
      throw err;
    }
  }

  /**
   * Does `password` open `dn`? Binds as the user on a connection of its own.
   * false for wrong credentials; throws when the server cannot tell.
   */
  async checkBind(dn: string, password: string): Promise<boolean> {
    // RFC 4513 5.1.2: a simple bind with an empty password is an unauthenticated bind that
    // many servers accept, which would let anyone in as anyone. Never send one.
    if (password === '') return false;
    const client = await this.acquireBinder();
    let healthy = false;
    try {
      await withDeadline(client.bind(dn, password), this.s.timeoutMs, 'password bind', () => discard(client));
      healthy = true;
      return true;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) {
        healthy = client.isConnected;
        return false;
      }
      throw err;
    } finally {
      this.releaseBinder(client, healthy);
    }
  }

  private async acquireBinder(): Promise<Client> {
    for (;;) {
      if (this.closed) throw new Error('the LDAP pool is closed');
      const idle = this.idleBinders.pop();
      if (idle) {
        if (idle.isConnected) return idle;
        this.binders--;
        discard(idle);
        continue;
      }
      if (this.binders < this.s.size) {
        this.binders++;
        try {
          return await this.open(undefined, undefined);
        } catch (err) {
          this.binders--;
          this.wakeOne();
          throw err;
        }
      }
      // All binders busy: wait for one, but no longer than a bind may take.
      let wake: () => void = () => {};
      await withDeadline(
        new Promise<void>((resolve) => {
          wake = resolve;
          this.waiting.push(resolve);
        }),
        this.s.timeoutMs,
        'waiting for a free LDAP connection',
        () => {
          const at = this.waiting.indexOf(wake);
          if (at >= 0) this.waiting.splice(at, 1);
        },
      );
    }
  }

  private releaseBinder(client: Client, healthy: boolean): void {
    if (healthy && !this.closed) this.idleBinders.push(client);
    else {
      this.binders--;
      discard(client);
    }
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiting.shift()?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    const searchers = this.searchers.splice(0);
    const idle = this.idleBinders.splice(0);
    await Promise.allSettled([...searchers.map(async (p) => p && (await p).unbind()), ...idle.map((c) => c.unbind())]);
  }
}

/** An LDAP result code error (the server answered), not a transport failure. */
export function hasResultCode(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number';
}

/**
 * TLS options for StartTLS on the connection to `url`. Node checks the certificate against
 * servername, else host, else "localhost", so the URL's host always goes in as host; as servername
 * (SNI) only when it is a name: RFC 6066 3 forbids IP literals there (Node warns, DEP0123).
 */
export function startTlsTarget(url: string, tls: ConnectionOptions): ConnectionOptions {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  if (tls.servername !== undefined || isIP(host) !== 0) return { ...tls, host };
  return { ...tls, host, servername: host };
}
