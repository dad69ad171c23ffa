/*
 * Fuzz target: the command line reader (core/smtp/command-reader.ts). The input
 * is the byte stream of a session's commands, fed in several chunkings, with a
 * tiny line limit (so over-long lines are cheap to reach) and the default 512.
 * Every chunking must give the events of a model that cuts the whole stream at
 * each LF: a line of more than maxLine octets (LF included) is one "too-long",
 * the others are their text as UTF-8 with the CRLF or bare LF removed. After
 * each chunk is drained, less than maxLine octets stay buffered (the bound),
 * and what take() hands on is the unfinished line, unless it was over-long.
 */
import assert from 'node:assert/strict';
import { type CommandInput, CommandReader } from '../../core/smtp/command-reader.js';
import { fingerprint, fixedChunks, randomChunks } from './oracle.js';

const LF = 10;
const CR = 13;
const LIMITS = [12, 512];

function model(stream: Buffer, maxLine: number): { events: CommandInput[]; tail: Buffer } {
  const events: CommandInput[] = [];
  let start = 0;
  for (let lf = stream.indexOf(LF); lf >= 0; lf = stream.indexOf(LF, start)) {
    if (lf + 1 - start > maxLine) events.push({ kind: 'too-long' });
    else {
      const bareLf = lf === start || stream[lf - 1] !== CR;
      events.push({ kind: 'line', text: stream.toString('utf8', start, bareLf ? lf : lf - 1), bareLf });
    }
    start = lf + 1;
  }
  return { events, tail: stream.subarray(start) };
}

export function fuzz(data: Buffer): void {
  const seed = fingerprint(data);
  const chunkings = [[data], randomChunks(data, seed, 5), randomChunks(data, seed ^ 0x5bd1e995, 700)];
  if (data.length <= 200) chunkings.push(fixedChunks(data, 1));
  for (const maxLine of LIMITS) {
    const expected = model(data, maxLine);
    for (const chunks of chunkings) {
      const label = `maxLine ${maxLine}, chunks ${JSON.stringify(chunks.map((c) => c.length))}`;
      const reader = new CommandReader(maxLine);
      const events: CommandInput[] = [];
      for (const chunk of chunks) {
        reader.push(chunk);
        for (let input = reader.next(); input !== null; input = reader.next()) events.push(input);
        assert.ok(reader.buffered < maxLine, `${label}: ${reader.buffered} octets buffered after draining`);
      }
      assert.deepEqual(events, expected.events, `${label}: events`);
      const rest = reader.take();
      if (expected.tail.length < maxLine) {
        assert.deepEqual(rest ?? Buffer.alloc(0), expected.tail, `${label}: the unfinished line is handed on`);
      } else {
        // Part of an over-long line was dropped: what is left is a shorter suffix of it.
        const kept = rest ?? Buffer.alloc(0);
        assert.ok(kept.length < maxLine && expected.tail.subarray(expected.tail.length - kept.length).equals(kept), label);
      }
      assert.equal(reader.buffered, 0, `${label}: take() empties the reader`);
    }
  }
}
