/*
 * qmail-style domain lists (rcpthosts, locals, smtproutes): "example.net"
 * matches that domain exactly, ".example.net" every domain below it (not
 * example.net itself), and "*" every domain. Case is ignored. A lookup is a
 * hash lookup on the domain and on each parent suffix, so a list of 100,000
 * entries costs what a list of ten does. Pure.
 */

export class DomainSet {
  private readonly exact = new Set<string>();
  private readonly suffixes = new Set<string>();
  private readonly any: boolean;

  /** Entries as written in configuration; blank ones are skipped. */
  constructor(entries: Iterable<string> = []) {
    let any = false;
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      if (entry === '*') any = true;
      else if (entry.startsWith('.')) this.suffixes.add(entry);
      else this.exact.add(entry);
    }
    this.any = any;
  }

  /** Number of distinct entries. */
  get size(): number {
    return this.exact.size + this.suffixes.size + (this.any ? 1 : 0);
  }

  /** The entries, exact ones first, then ".sub" ones, then "*"; each group sorted. */
  entries(): string[] {
    return [...[...this.exact].sort(), ...[...this.suffixes].sort(), ...(this.any ? ['*'] : [])];
  }

  has(domain: string): boolean {
    return this.match(domain) !== undefined;
  }

  /**
   * The most specific entry that covers `domain`: the domain itself, else the closest
   * ".parent", else "*"; undefined if none. An address literal ([192.0.2.1]) matches only
   * itself (or "*"): it has no parent domains.
   */
  match(domain: string): string | undefined {
    const d = domain.toLowerCase();
    if (this.exact.has(d)) return d;
    if (this.suffixes.size && !d.startsWith('[')) {
      for (let dot = d.indexOf('.'); dot >= 0; dot = d.indexOf('.', dot + 1)) {
        const suffix = d.slice(dot);
        if (this.suffixes.has(suffix)) return suffix;
      }
    }
    return this.any ? '*' : undefined;
  }

  /** A set holding the entries of both. */
  union(other: DomainSet): DomainSet {
    return new DomainSet([...this.entries(), ...other.entries()]);
  }
}
