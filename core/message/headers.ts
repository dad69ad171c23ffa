/*
 * RFC 5322 header section parsing, bounded: reads fields up to the first empty
 * line and unfolds them. Pure; used on the first bytes of a spooled message.
 */
import type { HeaderField } from '../model/index.js';

/** Parses the header section at the start of `text` (CRLF or LF line endings). */
export function parseHeaderSection(text: string): HeaderField[] {
  const fields: HeaderField[] = [];
  const lines = text.split(/\r?\n/);
  let current: { name: string; value: string } | null = null;
  for (const line of lines) {
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && current) {
      // Folded values are trimmed like unfolded ones: "Subject:" CRLF " x" is "x", and a blank continuation adds nothing.
      const more = line.trim();
      if (more !== '') current.value = current.value === '' ? more : `${current.value} ${more}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(line.slice(0, colon))) {
      // Not a header field: the header section ended without an empty line.
      break;
    }
    if (current) fields.push(current);
    current = { name: line.slice(0, colon), value: line.slice(colon + 1).trim() };
  }
  if (current) fields.push(current);
  return fields;
}
