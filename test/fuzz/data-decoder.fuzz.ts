/*
 * Fuzz target: the DATA decoder (core/smtp/data-decoder.ts). The input is what
 * a client sends after 354; "\r\n.\r\nQUIT\r\n" is appended so every stream
 * has an end of data and a pipelined command after it. For both bare-newline
 * policies and several chunkings of the same bytes (one chunk, random cuts,
 * byte by byte) the decoder must agree with a line model of RFC 5321 4.5.2:
 * the end is the first <CRLF>.<CRLF> (the 354's CRLF counts), stuffing dots go,
 * bare CR/LF are reported (and become CRLF in normalize). Its output, stuffed
 * again, must decode to itself, and give back the input when that was
 * well-formed. Work is metered: the bytes its indexOf calls scan stay linear
 * in the input, each feed() emits at most one buffer, and a chunk with nothing
 * to change in it (no CR, LF or dot, nothing held from the chunk before) comes
 * out as a view of itself, not a copy.
 */
import assert from 'node:assert/strict';
import { type BareNewlinePolicy, DataDecoder, type DecoderFindings } from '../../core/smtp/data-decoder.js';
import { fingerprint, fixedChunks, randomChunks } from './oracle.js';

const CR = 13;
const LF = 10;
const DOT = 46;
const CRLF = Buffer.from('\r\n');
const END_OF_DATA = Buffer.from('\r\n.\r\n');
const PIPELINED = Buffer.from('QUIT\r\n');
const POLICIES: readonly BareNewlinePolicy[] = ['reject', 'normalize'];

interface Decoded {
  readonly out: Buffer;
  /** Offset just past the end of data in the whole stream. */
  readonly end: number;
  readonly findings: DecoderFindings;
}

interface Work {
  /** Bytes scanned by indexOf calls on the chunks fed. */
  scanned: number;
  feeds: number;
}

/** A view of `chunk` whose indexOf counts the bytes it scans, so a quadratic rescan shows up as a number. */
function metered(chunk: Buffer, work: Work): Buffer {
  const view = chunk.subarray(0);
  const indexOf = view.indexOf.bind(view);
  Object.defineProperty(view, 'indexOf', {
    value: (value: number, from = 0): number => {
      const at = indexOf(value, from);
      work.scanned += (at < 0 ? view.length : at + 1) - Math.max(0, from);
      return at;
    },
  });
  return view;
}

function decode(policy: BareNewlinePolicy, chunks: readonly Buffer[], work: Work): Decoded {
  const parts: Buffer[] = [];
  let emitted: Buffer[] = [];
  const decoder = new DataDecoder(policy, (piece) => {
    emitted.push(piece);
    parts.push(Buffer.from(piece));
  });
  let offset = 0;
  let end = -1;
  for (const [k, chunk] of chunks.entries()) {
    work.feeds++;
    emitted = [];
    const fed = metered(chunk, work);
    const r = decoder.feed(fed);
    // One buffer per feed, however many dot lines the chunk holds (a buffer per line cost 150 MB per MiB of ".\n").
    assert.ok(emitted.length <= 1, `feed ${k} emitted ${emitted.length} buffers`);
    const before = k === 0 ? undefined : chunks[k - 1]![chunks[k - 1]!.length - 1];
    if (r === -1 && before !== CR && before !== DOT && !chunk.includes(CR) && !chunk.includes(LF) && !chunk.includes(DOT)) {
      const [piece] = emitted;
      assert.ok(
        piece !== undefined && piece.buffer === fed.buffer && piece.byteOffset === fed.byteOffset && piece.length === fed.length,
        `feed ${k}: a chunk of plain text is passed on as it is, without a copy`,
      );
    }
    if (r !== -1) {
      // The end of data is found in the chunk that holds its last LF.
      assert.ok(r >= 1 && r <= chunk.length && chunk[r - 1] === LF, `feed returned ${r} for a chunk of ${chunk.length}`);
      end = offset + r;
      break;
    }
    offset += chunk.length;
  }
  assert.equal(decoder.done, end >= 0, 'done says whether the end of data was seen');
  if (end >= 0) {
    const stored = parts.length;
    const findings = { ...decoder.findings };
    assert.equal(decoder.feed(Buffer.from('x\n.\r\n')), 0, 'after the end nothing more is consumed');
    assert.equal(parts.length, stored, 'after the end nothing more is stored');
    assert.deepEqual(decoder.findings, findings, 'after the end the findings stay');
  }
  return { out: Buffer.concat(parts), end, findings: { ...decoder.findings } };
}

/**
 * The line model: the end is the first CRLF "." CRLF, counting the CRLF of the
 * 354 reply before the stream. Before it, lines end at CRLF, at a bare LF and,
 * in normalize only, at a bare CR (in reject a bare CR is line content). A
 * leading dot goes when more of the line follows, except a CR (".\r" keeps its dot).
 */
function model(policy: BareNewlinePolicy, stream: Buffer): Decoded {
  const end = Buffer.concat([CRLF, stream]).indexOf(END_OF_DATA) + END_OF_DATA.length - CRLF.length;
  const body = stream.subarray(0, end - 3);
  const out: Buffer[] = [];
  const findings: DecoderFindings = { bareLf: false, bareCr: false, longestLine: 0 };
  let start = 0;
  for (let i = 0; i < body.length; ) {
    let termLen = 0;
    if (body[i] === LF) {
      findings.bareLf = true;
      termLen = 1;
    } else if (body[i] === CR) {
      if (body[i + 1] === LF) termLen = 2;
      else {
        findings.bareCr = true;
        if (policy === 'normalize') termLen = 1;
      }
    }
    if (termLen === 0) {
      i++;
      continue;
    }
    const line = body.subarray(start, i);
    findings.longestLine = Math.max(findings.longestLine, line.length);
    out.push(line.length >= 2 && line[0] === DOT && line[1] !== CR ? line.subarray(1) : line);
    out.push(policy === 'normalize' ? CRLF : body.subarray(i, i + termLen));
    i += termLen;
    start = i;
  }
  return { out: Buffer.concat(out), end, findings };
}

/** RFC 5321 4.5.2 transparency, the sender's side: a line that starts with "." gets one more. */
function stuff(message: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  while (start < message.length) {
    const lf = message.indexOf(CRLF, start);
    const next = lf < 0 ? message.length : lf + 2;
    if (message[start] === DOT) out.push(Buffer.from('.'));
    out.push(message.subarray(start, next));
    start = next;
  }
  return Buffer.concat(out);
}

function hasBareNewline(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === LF && (i === 0 || bytes[i - 1] !== CR)) return true;
    if (bytes[i] === CR && bytes[i + 1] !== LF) return true;
  }
  return false;
}

/** Every line of a CRLF-only `body` that starts with a dot starts with two: what a correct client sends. */
function wellStuffed(body: Buffer): boolean {
  if (hasBareNewline(body)) return false;
  for (let start = 0; start < body.length; ) {
    if (body[start] === DOT && body[start + 1] !== DOT) return false;
    start = body.indexOf(CRLF, start) + 2;
  }
  return true;
}

function describe(chunks: readonly Buffer[]): string {
  return chunks.length === 1 ? 'one chunk' : `chunks ${JSON.stringify(chunks.map((c) => c.length))}`;
}

export function fuzz(data: Buffer): void {
  const stream = Buffer.concat([data, END_OF_DATA, PIPELINED]);
  const seed = fingerprint(data);
  const chunkings: Buffer[][] = [[stream], randomChunks(stream, seed, 7), randomChunks(stream, seed ^ 0x9e3779b9, 600)];
  if (stream.length <= 300) chunkings.push(fixedChunks(stream, 1));

  for (const policy of POLICIES) {
    const expected = model(policy, stream);
    for (const chunks of chunkings) {
      const work: Work = { scanned: 0, feeds: 0 };
      const got = decode(policy, chunks, work);
      const label = `${policy}, ${describe(chunks)}`;
      assert.equal(got.end, expected.end, `${label}: end of data`);
      assert.deepEqual(got.findings, expected.findings, `${label}: findings`);
      assert.ok(got.out.equals(expected.out), `${label}: stored ${JSON.stringify(got.out.toString('latin1'))}`);
      // Linear work: each indexOf resumes past the last hit, so no byte is scanned twice per needle (CR, LF).
      const fed = chunks.reduce((n, c) => n + c.length, 0);
      assert.ok(work.scanned <= 2 * fed, `${label}: indexOf scanned ${work.scanned} bytes of ${fed}`);
    }

    const { out } = expected;
    if (policy === 'normalize') assert.ok(!hasBareNewline(out), 'normalize stores only CRLF line ends');
    if (!hasBareNewline(out)) {
      // Stuffing the stored message again and decoding it gives it back, with nothing to report.
      const restuffed = Buffer.concat([stuff(out), Buffer.from('.\r\n')]);
      const again = decode(policy, [restuffed], { scanned: 0, feeds: 0 });
      assert.equal(again.end, restuffed.length, 'restuffed: end of data');
      assert.ok(again.out.equals(out), 'restuffed: stored bytes');
      assert.deepEqual({ ...again.findings, longestLine: 0 }, { bareLf: false, bareCr: false, longestLine: 0 });
      // And for a well-formed input the restuffed message is the input.
      const body = stream.subarray(0, expected.end - 3);
      if (wellStuffed(body)) assert.ok(stuff(out).equals(body), 'stuff(decode(input)) is the input');
    }
  }
}
