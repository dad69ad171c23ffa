/*
 * Fuzz target: the command line reader (core/smtp/command-reader.ts). The input
 * is the byte stream of a session's commands, fed in several chunkings, with a
 * tiny line limit (so over-long lines are cheap to reach) and the default 512.
 * Every chunking must give the events of a model that cuts the whole stream at
 * each LF: a line of more than maxLine octets (LF included) is one "too-long";
 * otherwise the CRs right before the LF go (Postfix's smtp_get), a CR left in
 * the line makes it "bare-cr", bytes that a strict UTF-8 decoder refuses make it
 * "bad-utf8", and only the rest are lines with text; each says whether it ended
 * in a bare LF. After each chunk is drained, less than maxLine octets stay
 * buffered (the bound), lineStartedAt is when the first byte after the last LF
 * arrived (or when the clock was restarted for that line), and take() hands on
 * the unfinished line, unless it was over-long.
 */
import assert from 'node:assert/strict';
import { type CommandInput, CommandReader } from '../../core/smtp/command-reader.js';
import { fingerprint, fixedChunks, prng, randomChunks } from './oracle.js';

const LF = 10;
const CR = 13;
const LIMITS = [12, 512];

/*
 * The reader checks UTF-8 with buffer.isUtf8 (simdutf); the model asks the
 * WHATWG decoder (ICU), so the two have to agree on overlong forms,
 * surrogates and code points past U+10FFFF. ignoreBOM keeps a U+FEFF as text.
 */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function modelLine(raw: Buffer, bareLf: boolean): CommandInput {
  // latin1 maps each byte to one code unit, so the regular expressions see bytes.
  const octets = raw.toString('latin1').replace(/\r+$/, '');
  if (octets.includes('\r')) return { kind: 'bare-cr', bareLf };
  try {
    return { kind: 'line', text: strictUtf8.decode(Buffer.from(octets, 'latin1')), bareLf };
  } catch {
    return { kind: 'bad-utf8', bareLf };
  }
}

function model(stream: Buffer, maxLine: number): { events: CommandInput[]; tail: Buffer } {
  const events: CommandInput[] = [];
  let start = 0;
  for (let lf = stream.indexOf(LF); lf >= 0; lf = stream.indexOf(LF, start)) {
    if (lf + 1 - start > maxLine) events.push({ kind: 'too-long' });
    else events.push(modelLine(stream.subarray(start, lf), lf === start || stream[lf - 1] !== CR));
    start = lf + 1;
  }
  return { events, tail: stream.subarray(start) };
}

/** When the reader should say the unfinished line began, after the first `received` bytes. */
function expectedLineStart(
  stream: Buffer,
  received: number,
  arrival: readonly number[],
  restart: { line: number; at: number } | undefined,
): number | undefined {
  const line = stream.lastIndexOf(LF, received - 1) + 1;
  if (line === received) return undefined;
  return restart?.line === line ? restart.at : arrival[line];
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
      // Chunk k arrives at 10(k+1); sometimes the caller restarts the line clock 5 later.
      const arrival: number[] = [];
      const restarts = prng(seed ^ maxLine);
      let restart: { line: number; at: number } | undefined;
      for (const [k, chunk] of chunks.entries()) {
        const now = 10 * (k + 1);
        for (let i = 0; i < chunk.length; i++) arrival.push(now);
        reader.push(chunk, now);
        for (let input = reader.next(); input !== null; input = reader.next()) events.push(input);
        assert.ok(reader.buffered < maxLine, `${label}: ${reader.buffered} octets buffered after draining`);
        if (restarts() < 0.25) {
          reader.restartLineClock(now + 5);
          const line = data.lastIndexOf(LF, arrival.length - 1) + 1;
          if (line < arrival.length) restart = { line, at: now + 5 };
        }
        assert.equal(
          reader.lineStartedAt,
          expectedLineStart(data, arrival.length, arrival, restart),
          `${label}: when the unfinished line began, after chunk ${k}`,
        );
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
      assert.equal(reader.lineStartedAt, undefined, `${label}: take() forgets the unfinished line`);
    }
  }
}
