import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CommandInput, CommandReader } from '../../core/smtp/command-reader.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Every input the reader gives for `input` pushed in one piece, then in 1-byte pieces. */
function read(input: Buffer, maxLine = 512): { whole: CommandInput[]; bytewise: CommandInput[] } {
  const all = (reader: CommandReader): CommandInput[] => {
    const out: CommandInput[] = [];
    for (let next = reader.next(); next; next = reader.next()) out.push(next);
    return out;
  };
  const whole = new CommandReader(maxLine);
  whole.push(input);
  const bytewise = new CommandReader(maxLine);
  const pieces: CommandInput[] = [];
  for (let i = 0; i < input.length; i++) {
    bytewise.push(input.subarray(i, i + 1));
    pieces.push(...all(bytewise));
  }
  return { whole: all(whole), bytewise: pieces };
}

const line = (text: string, bareLf = false): CommandInput => ({ kind: 'line', text, bareLf });

describe('CommandReader: lines', () => {
  const rows: Array<{ why: string; input: Buffer; expected: CommandInput[] }> = [
    { why: 'one CRLF line', input: bytes('QUIT\r\n'), expected: [line('QUIT')] },
    {
      why: 'pipelined lines',
      input: bytes('MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n'),
      expected: [line('MAIL FROM:<a@b>'), line('RCPT TO:<c@d>')],
    },
    { why: 'an incomplete line waits', input: bytes('NOOP\r\nQUI'), expected: [line('NOOP')] },
    { why: 'empty line', input: bytes('\r\n'), expected: [line('')] },
    { why: 'bare LF end is reported', input: bytes('EHLO lf.test\n'), expected: [line('EHLO lf.test', true)] },
    {
      why: 'CR CR LF: the CR before CRLF is dropped (openssl s_client -crlf, Postfix smtp_get)',
      input: bytes('QUIT\r\r\n'),
      expected: [line('QUIT')],
    },
    { why: 'several CRs before CRLF are dropped too', input: bytes('NOOP\r\r\r\n'), expected: [line('NOOP')] },
    {
      why: 'a CR inside the line is a bare CR',
      input: bytes('EHLO evil\rX-Injected: yes\r\n'),
      expected: [{ kind: 'bare-cr', bareLf: false }],
    },
    { why: 'a CR at the start of the line', input: bytes('\rQUIT\r\n'), expected: [{ kind: 'bare-cr', bareLf: false }] },
    {
      why: 'a bare CR in a line ending in a bare LF',
      input: bytes('NOOP a\rb\n'),
      expected: [{ kind: 'bare-cr', bareLf: true }],
    },
    {
      why: 'the line after a bare-CR line is read as usual',
      input: bytes('A\rB\r\nNOOP\r\n'),
      expected: [{ kind: 'bare-cr', bareLf: false }, line('NOOP')],
    },
    {
      why: 'UTF-8 is decoded',
      input: Buffer.from('MAIL FROM:<jörg@bücher.example> SMTPUTF8\r\n'),
      expected: [line('MAIL FROM:<jörg@bücher.example> SMTPUTF8')],
    },
    { why: 'a four-byte UTF-8 character', input: Buffer.from('NOOP 📬\r\n'), expected: [line('NOOP 📬')] },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const { whole, bytewise } = read(row.input);
      assert.deepEqual(whole, row.expected, 'in one piece');
      assert.deepEqual(bytewise, row.expected, 'byte by byte');
    });
  }
});

describe('CommandReader: bytes that are not UTF-8 carry no text', () => {
  const rows: Array<{ why: string; local: number[] }> = [
    { why: 'bytes that never occur in UTF-8 (0xff 0xfe)', local: [0xff, 0xfe] },
    { why: 'an overlong "/" (0xc0 0xaf)', local: [0xc0, 0xaf] },
    { why: 'a UTF-16 surrogate (0xed 0xa0 0x80)', local: [0xed, 0xa0, 0x80] },
    { why: 'a Latin-1 é (0xe9)', local: [0xe9] },
    { why: 'a truncated sequence (0xe2 0x82)', local: [0xe2, 0x82] },
    { why: 'a stray continuation byte (0x80)', local: [0x80] },
    { why: 'a code point past U+10FFFF (0xf4 0x90 0x80 0x80)', local: [0xf4, 0x90, 0x80, 0x80] },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const input = Buffer.concat([bytes('RCPT TO:<'), Buffer.from(row.local), bytes('@example.test>\r\n')]);
      const { whole, bytewise } = read(input);
      assert.deepEqual(whole, [{ kind: 'bad-utf8', bareLf: false }]);
      assert.deepEqual(bytewise, [{ kind: 'bad-utf8', bareLf: false }]);
    });
  }
});

describe('CommandReader: the line limit', () => {
  test('a line over the limit is one too-long event, and the next line is read', () => {
    const { whole, bytewise } = read(bytes(`NOOP ${'x'.repeat(600)}\r\nQUIT\r\n`));
    assert.deepEqual(whole, [{ kind: 'too-long' }, line('QUIT')]);
    assert.deepEqual(bytewise, [{ kind: 'too-long' }, line('QUIT')]);
  });

  test('a line of exactly the limit with CRLF is a line', () => {
    const text = `NOOP ${'x'.repeat(512 - 7)}`;
    assert.deepEqual(read(bytes(`${text}\r\n`)).whole, [line(text)]);
  });

  test('a line trickled byte by byte costs linear time (a join per byte made it n²)', () => {
    const n = 200_000;
    const reader = new CommandReader(n + 2);
    const byte = bytes('x');
    const started = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      reader.push(byte);
      assert.equal(reader.next(), null);
    }
    reader.push(bytes('\r\n'));
    const got = reader.next();
    const used = process.cpuUsage(started);
    assert.equal(got?.kind === 'line' && got.text.length, n);
    const seconds = (used.user + used.system) / 1e6;
    assert.ok(seconds < 2, `${seconds.toFixed(2)} s of CPU`);
  });

  test('an over-long line is not kept in memory while it arrives', () => {
    const reader = new CommandReader(512);
    for (let i = 0; i < 1000; i++) reader.push(bytes('x'.repeat(100)));
    reader.next();
    assert.ok(reader.buffered < 600, `buffered ${reader.buffered}`);
  });
});

describe('CommandReader: when the unfinished line began', () => {
  const rows: Array<{ why: string; pushes: Array<[string, number]>; startedAt: number | undefined }> = [
    { why: 'nothing received', pushes: [], startedAt: undefined },
    { why: 'complete lines only', pushes: [['NOOP\r\n', 5]], startedAt: undefined },
    { why: 'a line begun', pushes: [['NO', 5]], startedAt: 5 },
    {
      why: 'a line trickled byte by byte keeps its start',
      pushes: [
        ['N', 1],
        ['O', 2],
        ['O', 3],
        ['P', 4],
      ],
      startedAt: 1,
    },
    {
      why: 'a line completed',
      pushes: [
        ['NO', 1],
        ['OP\r\n', 2],
      ],
      startedAt: undefined,
    },
    {
      why: 'one line ends and the next begins in one piece',
      pushes: [
        ['NO', 1],
        ['OP\r\nQU', 7],
      ],
      startedAt: 7,
    },
    {
      why: 'an over-long line counts from its first byte',
      pushes: [
        ['x'.repeat(600), 1],
        ['x', 9],
      ],
      startedAt: 1,
    },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const reader = new CommandReader(512);
      for (const [text, now] of row.pushes) {
        reader.push(bytes(text), now);
        while (reader.next());
      }
      assert.equal(reader.lineStartedAt, row.startedAt);
    });
  }

  test('take and discard forget it; restartLineClock moves it', () => {
    const reader = new CommandReader(512);
    reader.push(bytes('DAT'), 1);
    reader.restartLineClock(4);
    assert.equal(reader.lineStartedAt, 4);
    reader.take();
    assert.equal(reader.lineStartedAt, undefined);
    reader.restartLineClock(6);
    assert.equal(reader.lineStartedAt, undefined, 'no line, nothing to restart');
    reader.push(bytes('NO'), 8);
    reader.discard();
    assert.equal(reader.lineStartedAt, undefined);
  });
});
