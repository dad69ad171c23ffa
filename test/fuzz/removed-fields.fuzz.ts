/*
 * Fuzz target: removing header fields on delivery (core/message/removed-fields.ts).
 * The first byte picks the removals and a chunk size; the rest is a stored message.
 * The streamed result, cut into chunks of that size and one byte at a time, equals
 * a line-by-line reference of the same rule; removing nothing changes nothing; the
 * output is never longer than the input, and the body is never touched.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { isRemoved, RemoveFields } from '../../core/message/removed-fields.js';

const REMOVALS: readonly (readonly string[])[] = [[], ['X-Spam-*'], ['Subject'], ['X*', 'Received'], ['a', 'B-*']];
const FTEXT = /^[\x21-\x39\x3b-\x7e]+$/;

async function run(input: Buffer, removals: readonly string[], chunk: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) pieces.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const part of Readable.from(pieces).pipe(new RemoveFields(removals))) out.push(part as Buffer);
  return Buffer.concat(out);
}

/** The rule, read line by line over the whole message. */
function reference(input: Buffer, removals: readonly string[]): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  let dropping = false;
  while (at < input.length) {
    const lf = input.indexOf(0x0a, at);
    const end = lf < 0 ? input.length : lf + 1;
    const line = input.subarray(at, end);
    const first = line[0]!;
    if (first === 0x20 || first === 0x09) {
      if (!dropping) out.push(line);
      at = end;
      continue;
    }
    const colon = line.indexOf(0x3a);
    const name = colon < 0 ? '' : line.subarray(0, colon).toString('latin1');
    if (first === 0x0d || first === 0x0a || colon < 0 || colon > 998 || !FTEXT.test(name)) break;
    dropping = isRemoved(name, removals);
    if (!dropping) out.push(line);
    at = end;
  }
  out.push(input.subarray(at));
  return Buffer.concat(out);
}

export async function fuzz(data: Buffer): Promise<void> {
  if (data.length === 0) return;
  const removals = REMOVALS[data[0]! % REMOVALS.length]!;
  const chunk = 1 + (data[0]! >> 3);
  const input = data.subarray(1);
  const expected = reference(input, removals);
  const got = await run(input, removals, chunk);
  assert.ok(
    got.equals(expected),
    `chunks of ${chunk}: ${JSON.stringify(got.toString('latin1'))} != ${JSON.stringify(expected.toString('latin1'))}`,
  );
  assert.ok((await run(input, removals, 1)).equals(expected), 'one byte at a time');
  assert.ok(got.length <= input.length);
  if (removals.length === 0) assert.ok(got.equals(input), 'removing nothing changes nothing');
}
