/*
 * A bounded TTL cache for a directory's answers (lookupUser), so a flood of
 * RCPTs for the same addresses does not become a flood of LDAP or SQL queries.
 * Positive and negative answers have their own TTL; an `unavailable` answer or a
 * throw is never cached (the next question asks again, so recovery is seen at
 * once). Concurrent questions for one key share one query. Pure apart from the
 * injected clock: no timers, expired entries go when read or evicted.
 */
import { isUnavailable, type UnavailableResult } from '../hooks/results.js';

export interface AnswerCacheSettings {
  /** How long a positive answer (a user record) is kept, in milliseconds; 0 keeps none. */
  readonly positiveTtlMs: number;
  /** How long a negative answer (null: no such user; undefined: not ours) is kept; 0 keeps none. */
  readonly negativeTtlMs: number;
  /** At most this many answers are kept; the least recently used goes first. */
  readonly maxEntries: number;
}

interface Entry<V> {
  readonly value: V | null | undefined;
  readonly expires: number;
}

export interface AnswerCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
}

/**
 * `false` settings make a pass-through cache (every question is asked), so callers
 * use one code path whether caching is on or off.
 */
export class AnswerCache<V> {
  /** A Map keeps insertion order: re-inserting on a hit makes it an LRU list, oldest first. */
  private readonly entries = new Map<string, Entry<V>>();
  private readonly inflight = new Map<string, Promise<V | null | undefined | UnavailableResult>>();
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly settings: AnswerCacheSettings | false,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.settings !== false && this.settings.maxEntries > 0;
  }

  stats(): AnswerCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size };
  }

  /** Forgets every answer (a reload that changed the directory's settings). */
  clear(): void {
    this.entries.clear();
  }

  /**
   * The cached answer for `key`, or `ask()`'s, which is kept for the positive or
   * negative TTL unless it is `unavailable`. A throw from ask() reaches the caller.
   */
  async answer(
    key: string,
    ask: () => Promise<V | null | undefined | UnavailableResult>,
  ): Promise<V | null | undefined | UnavailableResult> {
    const settings = this.settings;
    if (settings === false || settings.maxEntries <= 0) return ask();
    const cached = this.entries.get(key);
    if (cached) {
      this.entries.delete(key);
      if (cached.expires > this.now()) {
        this.entries.set(key, cached);
        this.hits++;
        return cached.value;
      }
    }
    this.misses++;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const asked = ask().finally(() => this.inflight.delete(key));
    this.inflight.set(key, asked);
    const value = await asked;
    if (!isUnavailable(value)) this.store(key, value, settings);
    return value;
  }

  private store(key: string, value: V | null | undefined, settings: AnswerCacheSettings): void {
    const ttl = value === null || value === undefined ? settings.negativeTtlMs : settings.positiveTtlMs;
    if (ttl <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= settings.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expires: this.now() + ttl });
  }
}
