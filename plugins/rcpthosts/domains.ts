/*
 * qmail control files (rcpthosts, morercpthosts): one entry per line. The
 * matching itself is the core's DomainSet ("example.com" exact, ".example.com"
 * its sub-domains, hash lookups).
 */

/** Entries of a qmail-style control file: one per line, # comments, blank lines ignored. */
export function parseControlFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}
