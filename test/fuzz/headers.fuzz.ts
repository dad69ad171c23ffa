/*
 * Fuzz target: the header section parser (core/message/headers.ts), given the
 * start of a spooled message as UTF-8 the way the session gives it. It never
 * throws; its output is bounded by its input (no more fields than lines, no
 * more characters than were read); names are RFC 5322 ftext; values are
 * unfolded and trimmed; and the fields written out again parse the same.
 */
import assert from 'node:assert/strict';
import { parseHeaderSection } from '../../core/message/headers.js';

const FTEXT = /^[\x21-\x39\x3b-\x7e]+$/;

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const fields = parseHeaderSection(text);
  assert.ok(fields.length <= text.split('\n').length, `${fields.length} fields`);
  let size = 0;
  for (const { name, value } of fields) {
    assert.match(name, FTEXT);
    assert.ok(!value.includes('\n'), `value ${JSON.stringify(value)} is unfolded`);
    assert.equal(value, value.trim(), `value ${JSON.stringify(value)} of ${name} is trimmed`);
    size += name.length + value.length;
  }
  assert.ok(size <= text.length, `${size} characters out of ${text.length}`);
  const written = `${fields.map((f) => `${f.name}: ${f.value}\r\n`).join('')}\r\nbody\r\n`;
  assert.deepEqual(parseHeaderSection(written), fields, 'written out and parsed again');
}
