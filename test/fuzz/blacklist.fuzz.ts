/*
 * Fuzz target: qmail-style block list files (plugins/blacklist/list.ts). The
 * input is a list file. Parsing never throws; entries are trimmed, one line
 * each, without comments, and written out again read back the same. Lists
 * built from them refuse only with an error naming the entry's origin, and
 * every exact entry blocks what it names, in any case. Patterns are compiled
 * but not matched here: an admin's pattern may backtrack exponentially (see
 * the blacklist section of the README), which is not the parser's doing.
 */
import assert from 'node:assert/strict';
import { BlockList, entryText, type ListKind, parseListFile } from '../../plugins/blacklist/list.js';
import { onlyDocumentedErrors } from './oracle.js';

const FILE = 'control/badmailfrom';

export function fuzz(data: Buffer): void {
  const entries = parseListFile(data.toString('utf8'), FILE);
  let line = 0;
  for (const e of entries) {
    const m = /^control\/badmailfrom:(\d+)$/.exec(e.origin);
    assert.ok(m && Number(m[1]) > line, `origin ${e.origin} after line ${line}`);
    line = Number(m[1]);
    // One line each: a lone CR is not a line end in a list file (qmail's control files are LF text).
    assert.ok(!e.text.includes('\n') && !/(^|\s)#/.test(e.text), `entry ${JSON.stringify(e.text)}`);
    assert.equal(e.text, e.text.trim());
    if (!e.regex) assert.notEqual(e.text, '');
  }
  const strip = ({ text, regex }: { text: string; regex: boolean }) => ({ text, regex });
  assert.deepEqual(parseListFile(entries.map(entryText).join('\n'), FILE).map(strip), entries.map(strip), 'written out again');

  const documented = (e: Error): boolean => e.message.startsWith(`${FILE}:`);
  for (const kind of ['address', 'name'] as ListKind[]) {
    onlyDocumentedErrors('BlockList', () => new BlockList(kind, entries), documented);
    const exact = entries.filter((e) => !e.regex);
    const list = onlyDocumentedErrors('BlockList', () => new BlockList(kind, exact), documented);
    if (!list.ok) continue;
    for (const e of exact) {
      // "@domain" covers the domain of a mailbox; "@a@b" names no domain, so it can block nothing.
      if (kind === 'address' && e.text.startsWith('@') && e.text.lastIndexOf('@') > 0) continue;
      const value = kind === 'address' && e.text.startsWith('@') ? `someone${e.text}` : e.text;
      assert.ok(
        list.value.match(value.toUpperCase()) ?? list.value.match(value),
        `${kind} entry ${JSON.stringify(e.text)} blocks ${value}`,
      );
    }
  }
}
