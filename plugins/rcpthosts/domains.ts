/*
 * qmail control files (rcpthosts, morercpthosts): one entry per line. The
 * matching itself is the core's DomainSet ("example.com" exact, ".example.com"
 * its sub-domains, hash lookups).
 */
import { readOptionFile } from '../../core/plugin-api/index.js';
import { DOMAIN_EXPECTED, DOMAIN_PATTERN } from './options.js';

const DOMAIN_LINE = new RegExp(DOMAIN_PATTERN);

/**
 * Entries of a qmail-style control file: one per line, # comments, blank lines ignored.
 * Without `name` nothing is checked; with it, a line that is not a domain entry throws
 * naming `name:line`, because a typo would silently refuse that domain's mail.
 */
export function parseControlFile(text: string, name?: string): string[] {
  const entries: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    if (name !== undefined && (line.length > 255 || !DOMAIN_LINE.test(line))) {
      throw new Error(`${name}:${index + 1}: expected ${DOMAIN_EXPECTED}, got ${JSON.stringify(line.slice(0, 80))}`);
    }
    entries.push(line);
  }
  return entries;
}

/** The entries of the rcpthosts files an option names, each checked; a bad one is an OptionError at files[i]. */
export function readControlFiles(files: readonly string[], resolvePath: (file: string) => string): string[] {
  return files.flatMap((file, i) => readOptionFile(resolvePath(file), ['files', i], (text) => parseControlFile(text, file)));
}
