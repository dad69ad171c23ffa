import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BareNewlinePolicy, DataDecoder, type DecoderFindings } from '../../core/smtp/data-decoder.js';

const POLICIES: readonly BareNewlinePolicy[] = ['reject', 'normalize'];
const CR = 13;
const LF = 10;
const DOT = 46;

interface Outcome {
  /** Stored bytes, as latin1 so that every octet maps to one character. */
  out: string;
  /** Offset past the end-of-data sequence in the whole input, -1 if not found. */
  end: number;
  findings: DecoderFindings;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Feeds the chunks in order the way a session does: it stops at the chunk that holds the end of data. */
function decode(policy: BareNewlinePolicy, chunks: readonly Buffer[]): Outcome {
  const parts: Buffer[] = [];
  const decoder = new DataDecoder(policy, (chunk) => parts.push(Buffer.from(chunk)));
  let offset = 0;
  let end = -1;
  for (const chunk of chunks) {
    const r = decoder.feed(chunk);
    if (r >= 0) {
      end = offset + r;
      break;
    }
    offset += chunk.length;
  }
  assert.equal(decoder.done, end >= 0, 'done must say whether the end of data was seen');
  return { out: Buffer.concat(parts).toString('latin1'), end, findings: { ...decoder.findings } };
}

function fixedChunks(input: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
  return chunks;
}

/** The same input as one chunk, in 1-, 2- and 3-byte chunks, and split in two at every offset. */
function chunkings(input: Buffer): Array<[string, Buffer[]]> {
  const list: Array<[string, Buffer[]]> = [['one chunk', [input]]];
  for (const size of [1, 2, 3]) list.push([`${size}-byte chunks`, fixedChunks(input, size)]);
  for (let k = 1; k < input.length; k++) list.push([`split at ${k}`, [input.subarray(0, k), input.subarray(k)]]);
  return list;
}

function assertEveryChunking(policy: BareNewlinePolicy, input: string, expected: Outcome): void {
  for (const [name, chunks] of chunkings(bytes(input))) {
    assert.deepEqual(decode(policy, chunks), expected, `${policy}, ${name}, input ${JSON.stringify(input)}`);
  }
}

const normalized = (s: string): string => s.replace(/\r\n|\r|\n/g, '\r\n');
const hasBareLf = (s: string): boolean => /(^|[^\r])\n/.test(s);
const hasBareCr = (s: string): boolean => /\r(?!\n)/.test(s);

interface Row {
  why: string;
  input: string;
  /** Stored bytes per policy, or the same for both. */
  out: string | Record<BareNewlinePolicy, string>;
  /** Offset past the terminator; defaults to the input length. */
  end?: number;
  bareLf?: boolean;
  bareCr?: boolean;
  longestLine: number;
  todo?: Partial<Record<BareNewlinePolicy, string>>;
}

const ROWS: Row[] = [
  {
    why: 'plain message',
    input: 'Subject: hi\r\n\r\nHello world\r\n.\r\n',
    out: 'Subject: hi\r\n\r\nHello world\r\n',
    longestLine: 11,
  },
  { why: 'empty message: the terminator right away', input: '.\r\n', out: '', longestLine: 0 },
  { why: 'message of one empty line', input: '\r\n.\r\n', out: '\r\n', longestLine: 0 },
  { why: 'stuffed line "..x" becomes ".x"', input: 'a\r\n..x\r\n.\r\n', out: 'a\r\n.x\r\n', longestLine: 3 },
  { why: 'leading dot of ".x" is removed', input: 'a\r\n.x\r\nb\r\n.\r\n', out: 'a\r\nx\r\nb\r\n', longestLine: 2 },
  { why: 'stuffed dot on the first line', input: '..x\r\n.\r\n', out: '.x\r\n', longestLine: 3 },
  {
    why: 'stuffed line ".." (a lone dot in the message) becomes "."',
    input: '..\r\n.\r\n',
    out: '.\r\n',
    longestLine: 2,
  },
  { why: 'stuffed "..." keeps two dots', input: '...\r\n.\r\n', out: '..\r\n', longestLine: 3 },
  { why: 'dots inside a line are kept', input: 'a.b..c.\r\n.\r\n', out: 'a.b..c.\r\n', longestLine: 7 },
  {
    why: 'several stuffed lines in a row',
    input: '..a\r\n..b\r\n.c\r\n.\r\n',
    out: '.a\r\n.b\r\nc\r\n',
    longestLine: 3,
  },
  { why: '".\\r\\n" not at a line start is not the end', input: 'a.\r\n.\r\n', out: 'a.\r\n', longestLine: 2 },
  {
    why: 'pipelined QUIT after the end is not consumed',
    input: 'Hi\r\n.\r\nQUIT\r\n',
    out: 'Hi\r\n',
    end: 7,
    longestLine: 2,
  },
  {
    why: 'pipelined MAIL and RCPT after the end are not consumed',
    input: '.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n',
    out: '',
    end: 3,
    longestLine: 0,
  },
  {
    why: 'a second terminator after the end is not consumed',
    input: 'x\r\n.\r\n.\r\n',
    out: 'x\r\n',
    end: 6,
    longestLine: 1,
  },
  {
    why: '".\\r" followed by text: a bare CR, the dot line is content',
    input: 'a\r\n.\rb\r\n.\r\n',
    out: { reject: 'a\r\n.\rb\r\n', normalize: 'a\r\n.\r\nb\r\n' },
    bareCr: true,
    longestLine: 1,
  },
  {
    why: 'bare LF inside text',
    input: 'a\nb\r\n.\r\n',
    out: { reject: 'a\nb\r\n', normalize: 'a\r\nb\r\n' },
    bareLf: true,
    longestLine: 1,
  },
  {
    why: 'bare CR inside text',
    input: 'ab\rcd\r\n.\r\n',
    out: { reject: 'ab\rcd\r\n', normalize: 'ab\r\ncd\r\n' },
    bareCr: true,
    longestLine: 2,
    // In reject mode the bare CR stays line content, so the line is 5 octets long; see the longestLine table.
  },
  {
    why: 'CR CR LF: one bare CR, then a line end',
    input: 'a\r\r\n.\r\n',
    out: { reject: 'a\r\r\n', normalize: 'a\r\n\r\n' },
    bareCr: true,
    longestLine: 1,
  },
  {
    why: 'LF CR LF: a bare LF, then a line end',
    input: 'a\n\r\n.\r\n',
    out: { reject: 'a\n\r\n', normalize: 'a\r\n\r\n' },
    bareLf: true,
    longestLine: 1,
  },
  {
    why: '8-bit octets pass through untouched',
    input: 'caf\xe9 \xff\x00\x80\r\n.\r\n',
    out: 'caf\xe9 \xff\x00\x80\r\n',
    longestLine: 8,
  },
];

// longestLine of the rows above is given for 'normalize'; in 'reject' a bare CR is line content.
const REJECT_LONGEST: Record<string, number> = {
  '".\\r" followed by text: a bare CR, the dot line is content': 3,
  'bare CR inside text': 5,
  'CR CR LF: one bare CR, then a line end': 2,
};

describe('DataDecoder: messages at every chunk boundary', () => {
  for (const row of ROWS) {
    for (const policy of POLICIES) {
      const todo = row.todo?.[policy];
      test(`${row.why} (${policy})`, todo ? { todo } : {}, () => {
        const out = typeof row.out === 'string' ? row.out : row.out[policy];
        const longestLine = policy === 'reject' ? (REJECT_LONGEST[row.why] ?? row.longestLine) : row.longestLine;
        assertEveryChunking(policy, row.input, {
          out,
          end: row.end ?? row.input.length,
          findings: { bareLf: row.bareLf ?? false, bareCr: row.bareCr ?? false, longestLine },
        });
      });
    }
  }
});

/*
 * SMTP smuggling: a sender's outbound server may pass these sequences through
 * as data while a receiver that treats them as end of data would run what
 * follows as commands. None of them may end the message, wherever they appear.
 */
const SMUGGLING = ['\n.\n', '\r\n.\n', '\n.\r\n', '\r.\r\n'];
const CONTEXTS: Array<[string, string]> = [
  ['mid-line', 'Subject: x\r\n\r\nhello'],
  ['at a line start', 'Subject: x\r\n\r\nhello\r\n'],
  ['after a bare LF', 'Subject: x\r\n\r\nhello\n'],
  ['at the start of the message', ''],
];
const SMUGGLED = 'MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n';

describe('DataDecoder: SMTP smuggling sequences do not end the message', () => {
  for (const seq of SMUGGLING) {
    for (const [where, prefix] of CONTEXTS) {
      const content = prefix + seq + SMUGGLED;
      const input = `${content}.\r\nQUIT\r\n`;
      for (const policy of POLICIES) {
        test(`${JSON.stringify(seq)} ${where} (${policy})`, () => {
          const stored = policy === 'normalize' ? normalized(content) : content;
          for (const [name, chunks] of chunkings(bytes(input))) {
            const got = decode(policy, chunks);
            const label = `${policy}, ${name}`;
            assert.equal(got.end, content.length + 3, `${label}: end of data`);
            assert.equal(got.out, stored, `${label}: stored bytes`);
            assert.equal(got.findings.bareLf, hasBareLf(content), `${label}: bareLf`);
            assert.equal(got.findings.bareCr, hasBareCr(content), `${label}: bareCr`);
          }
        });
      }
    }
  }

  test('all four sequences in one message, then the real end (normalize)', () => {
    const content = `a${SMUGGLING.join('b')}c\r\n`;
    const expected: Outcome = {
      out: 'a\r\n.\r\nb\r\n.\r\nb\r\n.\r\nb\r\n.\r\nc\r\n',
      end: content.length + 3,
      findings: { bareLf: true, bareCr: true, longestLine: 1 },
    };
    assertEveryChunking('normalize', `${content}.\r\nQUIT\r\n`, expected);
  });

  test('normalized output never holds a bare CR or LF', () => {
    const content = `x${SMUGGLING.join('y')}z\n\r\r\n`;
    const got = decode('normalize', [bytes(`${content}.\r\n`)]);
    assert.equal(got.end, content.length + 3);
    assert.equal(hasBareLf(got.out), false, JSON.stringify(got.out));
    assert.equal(hasBareCr(got.out), false, JSON.stringify(got.out));
  });
});

describe('DataDecoder: longestLine', () => {
  const rows: Array<{ why: string; input: string; reject: number; normalize: number; todo?: string }> = [
    { why: 'octets without the CRLF', input: 'abc\r\nabcdef\r\nab\r\n.\r\n', reject: 6, normalize: 6 },
    { why: 'empty message', input: '.\r\n', reject: 0, normalize: 0 },
    { why: 'a 998-octet line (the RFC 5321 limit)', input: `${'x'.repeat(998)}\r\n.\r\n`, reject: 998, normalize: 998 },
    { why: 'the stuffing dot counts, as sent', input: '..abc\r\n.\r\n', reject: 5, normalize: 5 },
    { why: 'a bare LF ends a line', input: 'abc\ndefgh\r\n.\r\n', reject: 5, normalize: 5 },
    {
      why: 'the terminator line and what follows do not count',
      input: 'a\r\n.\r\nQUIT LONG LINE\r\n',
      reject: 1,
      normalize: 1,
    },
    {
      why: 'a bare CR ends a line in normalize, is content in reject',
      input: 'abc\rdefgh\r\n.\r\n',
      reject: 9,
      normalize: 5,
    },
    {
      why: 'a bare CR after a leading dot is content in reject',
      input: '.\rX\r\n.\r\n',
      reject: 3,
      normalize: 1,
    },
  ];
  for (const row of rows) {
    for (const policy of POLICIES) {
      const todo = policy === 'reject' ? row.todo : undefined;
      test(`${row.why} (${policy})`, todo ? { todo } : {}, () => {
        for (const [name, chunks] of chunkings(bytes(row.input))) {
          assert.equal(decode(policy, chunks).findings.longestLine, row[policy], `${policy}, ${name}`);
        }
      });
    }
  }
});

describe('DataDecoder: streaming', () => {
  test('an incomplete terminator does not end the message; its last byte does', () => {
    const parts: Buffer[] = [];
    const decoder = new DataDecoder('reject', (chunk) => parts.push(Buffer.from(chunk)));
    assert.equal(decoder.feed(bytes('Hi\r\n.\r')), -1);
    assert.equal(decoder.done, false);
    assert.equal(decoder.feed(bytes('\nQUIT\r\n')), 1);
    assert.equal(decoder.done, true);
    assert.equal(Buffer.concat(parts).toString('latin1'), 'Hi\r\n');
  });

  test('a held dot that turns out to be stuffing is removed across chunks', () => {
    const parts: Buffer[] = [];
    const decoder = new DataDecoder('normalize', (chunk) => parts.push(Buffer.from(chunk)));
    assert.equal(decoder.feed(bytes('a\r\n.')), -1);
    assert.equal(decoder.feed(bytes('.b\r\n.')), -1);
    assert.equal(decoder.feed(bytes('\r\n')), 2);
    assert.equal(Buffer.concat(parts).toString('latin1'), 'a\r\n.b\r\n');
  });

  test('feeding after the end consumes nothing and stores nothing', () => {
    const parts: Buffer[] = [];
    const decoder = new DataDecoder('normalize', (chunk) => parts.push(Buffer.from(chunk)));
    assert.equal(decoder.feed(bytes('x\r\n.\r\n')), 6);
    const stored = Buffer.concat(parts).toString('latin1');
    assert.equal(decoder.feed(bytes('more data\n\r\n.\r\n')), 0);
    assert.equal(decoder.done, true);
    assert.equal(Buffer.concat(parts).toString('latin1'), stored);
    assert.deepEqual(decoder.findings, { bareLf: false, bareCr: false, longestLine: 1 });
  });

  test('the input chunk is not modified', () => {
    const input = bytes('a\nb\rc\r\n..d\r\n.\r\n');
    const copy = Buffer.from(input);
    decode('normalize', [input]);
    decode('reject', [input]);
    assert.deepEqual(input, copy);
  });
});

/** Deterministic pseudo-random numbers (mulberry32), so failures can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('DataDecoder: 1 MiB round trip', () => {
  // Body of CRLF lines with 8-bit octets, some starting with one or more dots.
  const rand = prng(0x5eed);
  const lines: Buffer[] = [];
  let size = 0;
  let longest = 0;
  while (size < 1 << 20) {
    const len = Math.floor(rand() * 200);
    const line = Buffer.alloc(len);
    for (let i = 0; i < len; i++) {
      let b = Math.floor(rand() * 256);
      if (b === CR || b === LF) b = 0x20;
      line[i] = b;
    }
    if (len > 0 && rand() < 0.15) line[0] = DOT;
    if (len > 1 && rand() < 0.05) line[1] = DOT;
    lines.push(line);
    size += len + 2;
  }
  const body = Buffer.concat(lines.flatMap((l) => [l, bytes('\r\n')]));
  const wire = Buffer.concat([
    ...lines.flatMap((l) => {
      const stuffed = l[0] === DOT ? Buffer.concat([bytes('.'), l]) : l;
      longest = Math.max(longest, stuffed.length);
      return [stuffed, bytes('\r\n')];
    }),
    bytes('.\r\nQUIT\r\n'),
  ]);

  for (const [name, chunkSize] of [
    ['one chunk', wire.length],
    ['64 KiB chunks', 65536],
    ['4093-byte chunks', 4093],
  ] as const) {
    for (const policy of POLICIES) {
      test(`${name} (${policy})`, () => {
        assert.ok(body.length >= 1 << 20);
        const parts: Buffer[] = [];
        const decoder = new DataDecoder(policy, (chunk) => parts.push(Buffer.from(chunk)));
        let offset = 0;
        let end = -1;
        for (const chunk of fixedChunks(wire, chunkSize)) {
          const r = decoder.feed(chunk);
          if (r >= 0) {
            end = offset + r;
            break;
          }
          offset += chunk.length;
        }
        assert.equal(end, wire.length - 'QUIT\r\n'.length);
        const out = Buffer.concat(parts);
        assert.equal(out.length, body.length);
        assert.ok(out.equals(body), 'stored bytes differ from the original body');
        assert.deepEqual(decoder.findings, { bareLf: false, bareCr: false, longestLine: longest });
      });
    }
  }
});

/*
 * A line-by-line model of RFC 5321 4.5.2 to compare the streaming decoder with.
 * Lines end at CRLF or a bare LF, and in 'normalize' also at a bare CR (in
 * 'reject' a bare CR is line content). A line "." ended by CRLF right after a
 * CRLF (or at the start) is the end of data; any other lone "." is content. A
 * leading dot followed by more text is removed; a dot directly followed by a
 * bare CR is the lone-dot case. longestLine counts octets as sent.
 */
function model(policy: BareNewlinePolicy, input: Buffer): Outcome {
  const out: Buffer[] = [];
  const findings: DecoderFindings = { bareLf: false, bareCr: false, longestLine: 0 };
  let afterCrlf = true;
  let pos = 0;
  for (;;) {
    let k = pos;
    let termLen = 0;
    for (; k < input.length; k++) {
      if (input[k] === LF) {
        findings.bareLf = true;
        termLen = 1;
        break;
      }
      if (input[k] === CR) {
        if (k + 1 === input.length) break;
        if (input[k + 1] === LF) {
          termLen = 2;
          break;
        }
        findings.bareCr = true;
        if (policy === 'normalize') {
          termLen = 1;
          break;
        }
      }
    }
    if (termLen === 0) return { out: Buffer.concat(out).toString('latin1'), end: -1, findings };
    const line = input.subarray(pos, k);
    if (afterCrlf && termLen === 2 && line.length === 1 && line[0] === DOT) {
      return { out: Buffer.concat(out).toString('latin1'), end: k + 2, findings };
    }
    findings.longestLine = Math.max(findings.longestLine, line.length);
    out.push(line.length >= 2 && line[0] === DOT && line[1] !== CR ? line.subarray(1) : line);
    out.push(policy === 'normalize' ? bytes('\r\n') : input.subarray(k, k + termLen));
    afterCrlf = termLen === 2;
    pos = k + termLen;
  }
}

function randomMessage(rand: () => number, alphabet: readonly string[]): string {
  const n = 1 + Math.floor(rand() * 14);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return `${s}\r\n.\r\nQUIT\r\n`;
}

function randomChunks(rand: () => number, input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  let i = 0;
  while (i < input.length) {
    const len = 1 + Math.floor(rand() * 5);
    chunks.push(input.subarray(i, i + len));
    i += len;
  }
  return chunks;
}

describe('DataDecoder: random messages against a line model', () => {
  const cases: Array<{ why: string; policy: BareNewlinePolicy; alphabet: string[]; seed: number; todo?: string }> = [
    { why: 'CR, LF, dots and text (normalize)', policy: 'normalize', alphabet: ['a', '.', '\r', '\n'], seed: 1 },
    {
      why: 'LF, CRLF, dots and text, no bare CR (reject)',
      policy: 'reject',
      alphabet: ['a', '.', '\r\n', '\n'],
      seed: 2,
    },
    {
      why: 'CR, LF, dots and text (reject)',
      policy: 'reject',
      alphabet: ['a', '.', '\r', '\n'],
      seed: 3,
    },
  ];
  for (const c of cases) {
    test(c.why, c.todo ? { todo: c.todo } : {}, () => {
      const rand = prng(c.seed);
      for (let n = 0; n < 1500; n++) {
        const input = bytes(randomMessage(rand, c.alphabet));
        const expected = model(c.policy, input);
        const label = `input ${JSON.stringify(input.toString('latin1'))}`;
        assert.deepEqual(decode(c.policy, [input]), expected, `${label}, one chunk`);
        assert.deepEqual(decode(c.policy, fixedChunks(input, 1)), expected, `${label}, 1-byte chunks`);
        assert.deepEqual(decode(c.policy, randomChunks(rand, input)), expected, `${label}, random chunks`);
      }
    });
  }
});

/** Counts what a decoder emits for `input` fed in `chunkSize` pieces. */
function emissions(policy: BareNewlinePolicy, input: Buffer, chunkSize: number): { emits: number; out: Buffer } {
  const parts: Buffer[] = [];
  const decoder = new DataDecoder(policy, (chunk) => parts.push(Buffer.from(chunk)));
  for (const chunk of fixedChunks(input, chunkSize)) if (decoder.feed(chunk) >= 0) break;
  return { emits: parts.length, out: Buffer.concat(parts) };
}

describe('DataDecoder: lines of dots cost what text does', () => {
  // One buffer per line made 1 MiB of ".\n" cost 150 MB and 3 s of CPU in the gateway.
  const MIB = 1 << 20;
  const rows: Array<{ why: string; line: string; policy: BareNewlinePolicy; stored: (n: number) => string }> = [
    { why: '".\\n" (a bare LF after a dot), reject', line: '.\n', policy: 'reject', stored: (n) => '.\n'.repeat(n) },
    { why: '".\\n", normalize', line: '.\n', policy: 'normalize', stored: (n) => '.\r\n'.repeat(n) },
    { why: '"..\\r\\n" (a stuffed dot line)', line: '..\r\n', policy: 'reject', stored: (n) => '.\r\n'.repeat(n) },
    { why: '".x\\r\\n" (a dropped stuffing dot per line)', line: '.x\r\n', policy: 'reject', stored: (n) => 'x\r\n'.repeat(n) },
    { why: '".\\r" (bare CRs after dots), normalize', line: '.\r', policy: 'normalize', stored: (n) => '.\r\n'.repeat(n) },
  ];
  for (const row of rows) {
    test(`${row.why}: at most one buffer per 64 KiB chunk`, () => {
      const n = Math.floor(MIB / row.line.length);
      // A CRLF first, so the terminator ends the message whatever the lines were.
      const input = bytes(`${row.line.repeat(n)}\r\n.\r\n`);
      const chunks = Math.ceil(input.length / 65536);
      const { emits, out } = emissions(row.policy, input, 65536);
      assert.ok(emits <= chunks, `${emits} buffers for ${chunks} chunks`);
      assert.equal(out.toString('latin1'), `${row.stored(n)}\r\n`);
    });
  }

  test('a chunk of ordinary text is passed on as it is, without a copy', () => {
    const input = bytes(`${'Subject: x\r\n\r\n'}${'text line\r\n'.repeat(1000)}`);
    const seen: Buffer[] = [];
    new DataDecoder('reject', (chunk) => seen.push(chunk)).feed(input);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.buffer, input.buffer, 'a slice of the input');
  });
});

/** RFC 5321 4.5.2 for the sender: a dot before every line that starts with one, then CRLF.CRLF. */
function stuff(body: string): string {
  return `${body.replace(/(^|\r\n)\./g, '$1..')}.\r\n`;
}

describe('DataDecoder: stuffing what it stored gives back what was sent', () => {
  // Messages with CRLF lines only (a bare CR or LF changes where lines start), each
  // ending in CRLF: decode, stuff again, compare with the wire bytes.
  const pieces = ['.', '..', 'a', '\r\n', '.\r\n', 'b.c', ' '];
  for (const [seed, chunkSize] of [
    [7, 1],
    [8, 3],
    [9, 4096],
  ] as const) {
    test(`random messages in ${chunkSize}-byte chunks (seed ${seed})`, () => {
      const rand = prng(seed);
      for (let n = 0; n < 500; n++) {
        let body = '';
        const count = Math.floor(rand() * 30);
        for (let i = 0; i < count; i++) body += pieces[Math.floor(rand() * pieces.length)];
        body = `${body}\r\n`.replace(/\r(?!\n)/g, '').replace(/(^|[^\r])\n/g, '$1\r\n');
        const wire = bytes(stuff(body));
        for (const policy of POLICIES) {
          const got = decode(policy, fixedChunks(wire, chunkSize));
          assert.equal(got.end, wire.length, `${JSON.stringify(body)}: end`);
          assert.equal(stuff(got.out), wire.toString('latin1'), `${policy}: ${JSON.stringify(body)}`);
        }
      }
    });
  }
});
