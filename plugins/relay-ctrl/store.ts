/*
 * The relay grants: client address -> until when it may relay, and why. The
 * contract every store keeps (file.ts, postgres.ts), and the pure table both
 * keep in memory: RCPT asks it without any I/O, and an entry past its time
 * never answers yes, whether or not it has been swept yet.
 */

export interface RelayGrant {
  readonly address: string;
  /** When it was granted and until when it holds, in ms since the epoch. */
  readonly at: number;
  readonly until: number;
  /** Who granted it: "pop3 alice@example.net", "cli". */
  readonly by: string;
}

export interface GrantStore {
  /** Records a grant durably; resolves once it holds for every gateway the store serves. */
  grant(grant: RelayGrant): Promise<void>;
  /** The grant in force for `address` at `now`, if any. */
  lookup(address: string, now: number): RelayGrant | undefined;
  close(): Promise<void>;
}

/** The grants in memory, with the sweep that removes (and reports) expired ones. */
export class GrantTable {
  private readonly grants = new Map<string, RelayGrant>();

  /** Keeps the later of the two grants for one address (a replayed or older one never shortens it). */
  put(grant: RelayGrant): boolean {
    const known = this.grants.get(grant.address);
    if (known && known.until >= grant.until) return false;
    this.grants.set(grant.address, grant);
    return true;
  }

  lookup(address: string, now: number): RelayGrant | undefined {
    const grant = this.grants.get(address);
    return grant && grant.until > now ? grant : undefined;
  }

  /** Removes and returns the grants expired at `now`. */
  sweep(now: number): RelayGrant[] {
    const expired: RelayGrant[] = [];
    for (const [address, grant] of this.grants) {
      if (grant.until > now) continue;
      this.grants.delete(address);
      expired.push(grant);
    }
    return expired;
  }

  get size(): number {
    return this.grants.size;
  }

  values(): IterableIterator<RelayGrant> {
    return this.grants.values();
  }
}

/** A journal line, or undefined for one that is not a grant (a torn last line after a crash). */
export function parseGrant(line: string): RelayGrant | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  const g = v as Partial<RelayGrant> | null;
  if (!g || typeof g.address !== 'string' || typeof g.by !== 'string') return undefined;
  if (!Number.isFinite(g.at) || !Number.isFinite(g.until)) return undefined;
  return { address: g.address, at: g.at!, until: g.until!, by: g.by };
}
