/*
 * The failed-login throttle (SMTP AUTH, POP3): failures per client address over a sliding
 * window. Pure (the caller passes the time). A password check must reserve a
 * slot first, and failures plus checks in flight never pass the limit, so
 * parallel connections get no more guesses than sequential ones. A success
 * clears only the failures of the same user name: a valid account cannot wash
 * out guesses at other accounts. Bounded: at most maxClients addresses are
 * kept, the least recently active dropped first, and expired ones are swept as
 * they come up; each address keeps at most `limit` failures.
 */
import { createHash } from 'node:crypto';

interface ClientRecord {
  /** When each counted failure happened, oldest first, with the user name it was for. */
  readonly failures: { readonly at: number; readonly user: number }[];
  inFlight: number;
  lastSeen: number;
}

/** One reserved password check. Settle it once; later calls do nothing. */
export interface AuthAttempt {
  /** Bad credentials or unknown user; returns the failures that count for the client now. */
  fail(user: string, now?: number): number;
  /** The user logged in: that user's failures from this client stop counting. */
  succeed(user: string): void;
  /** No check happened (the directory failed): the attempt counts for nothing. */
  release(): void;
}

/**
 * A user name as the throttle keeps it: 48 bits of its SHA-256, lower-cased. A name
 * can be 12 KB long (RFC 4954 4); the hash keeps each failure at a few bytes.
 */
function userKey(user: string): number {
  return createHash('sha256').update(user.toLowerCase()).digest().readUIntBE(0, 6);
}

export class FailureThrottle {
  /** In order of last activity, least recent first: expiry and eviction take from the front. */
  private readonly clients = new Map<string, ClientRecord>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxClients = 100_000,
  ) {}

  /** Failures that count and checks in flight for this client. */
  load(client: string, now = Date.now()): { failures: number; inFlight: number } {
    const record = this.clients.get(client);
    if (!record) return { failures: 0, inFlight: 0 };
    this.expire(record, now);
    return { failures: record.failures.length, inFlight: record.inFlight };
  }

  /** Whether this client may not have another password checked now. */
  blocked(client: string, now = Date.now()): boolean {
    const { failures, inFlight } = this.load(client, now);
    return failures + inFlight >= this.limit;
  }

  /** Reserves a password check for this client, or undefined if failures and checks in flight reached the limit. */
  reserve(client: string, now = Date.now()): AuthAttempt | undefined {
    this.sweep(now);
    let record = this.clients.get(client);
    if (record) this.expire(record, now);
    if (record && record.failures.length + record.inFlight >= this.limit) return undefined;
    if (!record) {
      if (this.clients.size >= this.maxClients) this.clients.delete(this.clients.keys().next().value!);
      record = { failures: [], inFlight: 0, lastSeen: now };
    }
    record.inFlight++;
    this.touch(client, record, now);
    const held = record;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      held.inFlight--;
      return true;
    };
    // The record this attempt counts against: normally the one it reserved in; if that was
    // evicted meanwhile and the client came back, the new one.
    const current = () => this.clients.get(client) ?? held;
    return {
      fail: (user, at = Date.now()) => {
        const record = current();
        if (settle()) {
          this.expire(record, at);
          record.failures.push({ at, user: userKey(user) });
          if (record.failures.length > this.limit) record.failures.shift();
          this.touch(client, record, at);
        }
        return record.failures.length;
      },
      succeed: (user) => {
        if (!settle()) return;
        const record = current();
        const key = userKey(user);
        const others = record.failures.filter((f) => f.user !== key);
        record.failures.splice(0, record.failures.length, ...others);
      },
      release: () => {
        settle();
      },
    };
  }

  /** Number of client addresses kept (for tests and bounds). */
  get size(): number {
    return this.clients.size;
  }

  private expire(record: ClientRecord, now: number): void {
    let stale = 0;
    while (stale < record.failures.length && now - record.failures[stale]!.at >= this.windowMs) stale++;
    if (stale) record.failures.splice(0, stale);
  }

  /** Moves the client to the back (most recent); puts back a record evicted while a check was in flight. */
  private touch(client: string, record: ClientRecord, now: number): void {
    record.lastSeen = now;
    this.clients.delete(client);
    this.clients.set(client, record);
  }

  /** Drops clients at the front whose last activity is older than the window: nothing of theirs counts any more. */
  private sweep(now: number): void {
    for (const [client, record] of this.clients) {
      if (record.inFlight > 0 || now - record.lastSeen < this.windowMs) break;
      this.clients.delete(client);
    }
  }
}
