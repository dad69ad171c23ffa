/*
 * qmail's rcpthosts matching: "example.com" matches that domain exactly,
 * ".example.com" matches every domain below it. Lookups are hash lookups on
 * the domain and each of its parent suffixes, so large lists cost nothing.
 */

export class DomainTable {
  private readonly exact = new Set<string>();
  private readonly suffixes = new Set<string>();

  constructor(entries: Iterable<string>) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      if (entry.startsWith('.')) this.suffixes.add(entry);
      else this.exact.add(entry);
    }
  }

  get size(): number {
    return this.exact.size + this.suffixes.size;
  }

  matches(domain: string): boolean {
    const d = domain.toLowerCase();
    if (this.exact.has(d)) return true;
    if (this.suffixes.size === 0 || d.startsWith('[')) return false;
    for (let dot = d.indexOf('.'); dot >= 0; dot = d.indexOf('.', dot + 1)) {
      if (this.suffixes.has(d.slice(dot))) return true;
    }
    return false;
  }
}

/** Entries of a qmail-style control file: one per line, # comments, blank lines ignored. */
export function parseControlFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}
