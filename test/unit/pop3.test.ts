/*
 * The POP3 engine's pure parts: command lines and the verbs of each state,
 * message numbers, AUTH PLAIN's message, Maildir names (UID, cached size) and
 * the text encoder (CRLF, dot-stuffing, TOP, the CRLF size) split at every
 * chunk boundary, so streaming gives the same octets as one piece.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePlain, parseCommand, parseNumber, VERBS } from '../../core/pop3/command.js';
import { compareNames, nameWithSize, parseMaildirName, uidOf } from '../../core/pop3/maildir-names.js';
import { CrlfSizeCounter, Pop3TextEncoder } from '../../core/pop3/text-encoder.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('POP3 commands', () => {
  const cases: [string, ReturnType<typeof parseCommand>, string][] = [
    ['STAT', { verb: 'STAT', rest: '', args: [] }, 'bare keyword'],
    ['list 3', { verb: 'LIST', rest: '3', args: ['3'] }, 'lower case, one argument'],
    ['TOP 1 10', { verb: 'TOP', rest: '1 10', args: ['1', '10'] }, 'two arguments'],
    ['PASS pass word', { verb: 'PASS', rest: 'pass word', args: ['pass', 'word'] }, 'PASS keeps the spaces in rest'],
    ['', undefined, 'empty line'],
    ['NO', undefined, 'keyword too short'],
    ['RE3R 1', undefined, 'digit in keyword'],
    [' STAT', undefined, 'leading space'],
  ];
  for (const [line, expected, why] of cases) {
    it(`${JSON.stringify(line)}: ${why}`, () => assert.deepEqual(parseCommand(line), expected));
  }

  it('takes USER, PASS and STLS only before login, and mailbox commands only after', () => {
    for (const verb of ['USER', 'PASS', 'STLS', 'AUTH']) {
      assert.ok(VERBS.authorization.has(verb));
      assert.ok(!VERBS.transaction.has(verb));
    }
    for (const verb of ['STAT', 'LIST', 'RETR', 'DELE', 'RSET', 'TOP', 'UIDL', 'NOOP']) {
      assert.ok(VERBS.transaction.has(verb));
      assert.ok(!VERBS.authorization.has(verb));
    }
  });

  const numbers: [string | undefined, 0 | 1, number | undefined][] = [
    ['1', 1, 1],
    ['0', 1, undefined],
    ['0', 0, 0],
    ['007', 1, 7],
    ['-1', 0, undefined],
    ['1.5', 1, undefined],
    ['1e3', 1, undefined],
    ['12345678901', 1, undefined],
    [undefined, 1, undefined],
  ];
  for (const [text, min, expected] of numbers) {
    it(`number ${JSON.stringify(text)} (min ${min}) is ${expected}`, () => assert.equal(parseNumber(text, min), expected));
  }

  const plains: [string, ReturnType<typeof decodePlain>, string][] = [
    [b64('\0alice\0pw'), { username: 'alice', password: 'pw' }, 'no authzid'],
    [b64('alice\0alice\0pw'), { username: 'alice', password: 'pw' }, 'authzid = authcid'],
    [b64('bob\0alice\0pw'), undefined, 'acting as another user'],
    [b64('\0alice\0'), undefined, 'empty password'],
    [b64('\0alice'), undefined, 'one NUL'],
    ['=', undefined, 'empty response'],
    ['not base64!', undefined, 'bad base64'],
  ];
  for (const [text, expected, why] of plains) {
    it(`AUTH PLAIN: ${why}`, () => assert.deepEqual(decodePlain(text), expected));
  }
});

describe('Maildir names', () => {
  it('takes the unique part, the cached CRLF size and the info', () => {
    assert.deepEqual(parseMaildirName('1700000000.Q1.host'), {
      base: '1700000000.Q1.host',
      crlfSize: undefined,
      stem: '1700000000.Q1.host',
      info: undefined,
    });
    const p = parseMaildirName('1700000000.Q1.host,S=10,W=12:2,S');
    assert.equal(p.base, '1700000000.Q1.host');
    assert.equal(p.crlfSize, 12);
    assert.equal(p.info, '2,S');
    assert.equal(nameWithSize(parseMaildirName('a.b.c'), 5), 'a.b.c,W=5:2,');
    assert.equal(nameWithSize(parseMaildirName('a.b.c,S=4:2,RS'), 5), 'a.b.c,S=4,W=5:2,RS');
  });

  it('gives a UIDL of at most 70 printable characters, stable for a long name', () => {
    assert.equal(uidOf('1700000000.Q1.host'), '1700000000.Q1.host');
    const long = `1700000000.Q1.${'h'.repeat(200)}`;
    assert.equal(uidOf(long), uidOf(long));
    assert.match(uidOf(long), /^[0-9a-f]{40}$/);
    assert.match(uidOf('with space'), /^[0-9a-f]{40}$/);
  });

  it('sorts by the delivery seconds, then the name', () => {
    assert.deepEqual(['20.b', '100.a', '20.a'].sort(compareNames), ['20.a', '20.b', '100.a']);
  });
});

/** Every split of `input` into two chunks gives the same output as one chunk. */
function encodeAllSplits(input: string, options: ConstructorParameters<typeof Pop3TextEncoder>[0], terminator: boolean): string {
  const whole = (chunks: Buffer[]) => {
    const e = new Pop3TextEncoder(options);
    const out: Buffer[] = [];
    for (const c of chunks) out.push(...e.push(c));
    out.push(...e.end(terminator));
    return Buffer.concat(out).toString('latin1');
  };
  const buf = Buffer.from(input, 'latin1');
  const expected = whole([buf]);
  for (let i = 1; i < buf.length; i++) {
    assert.equal(whole([buf.subarray(0, i), buf.subarray(i)]), expected, `split at ${i}`);
  }
  assert.equal(whole([...buf].map((b) => Buffer.from([b]))), expected, 'byte by byte');
  return expected;
}

describe('POP3 text encoder', () => {
  const cases: [string, string, string][] = [
    ['LF lines become CRLF', 'A: b\n\nbody\n', 'A: b\r\n\r\nbody\r\n.\r\n'],
    ['CRLF stays CRLF', 'A: b\r\n\r\nbody\r\n', 'A: b\r\n\r\nbody\r\n.\r\n'],
    ['a leading dot is doubled', 'A: b\n\n.hidden\n.\n..x\n', 'A: b\r\n\r\n..hidden\r\n..\r\n...x\r\n.\r\n'],
    ['a dot inside a line is not', 'A: b\n\nx.y\n', 'A: b\r\n\r\nx.y\r\n.\r\n'],
    ['a last line without its end gets one', 'A: b\n\nlast', 'A: b\r\n\r\nlast\r\n.\r\n'],
    ['a bare CR is text', 'A: b\n\nx\ry\n', 'A: b\r\n\r\nx\ry\r\n.\r\n'],
    ['a CR at the very end is kept', 'A: b\n\nx\r', 'A: b\r\n\r\nx\r\r\n.\r\n'],
    ['an empty message is just the terminator', '', '.\r\n'],
  ];
  for (const [why, input, expected] of cases) {
    it(why, () => assert.equal(encodeAllSplits(input, { stuff: true }, true), expected));
  }

  const tops: [number, string][] = [
    [0, 'A: b\r\nC: d\r\n\r\n.\r\n'],
    [1, 'A: b\r\nC: d\r\n\r\n..one\r\n.\r\n'],
    [2, 'A: b\r\nC: d\r\n\r\n..one\r\ntwo\r\n.\r\n'],
    [9, 'A: b\r\nC: d\r\n\r\n..one\r\ntwo\r\nthree\r\n.\r\n'],
  ];
  for (const [lines, expected] of tops) {
    it(`TOP with ${lines} body lines`, () =>
      assert.equal(encodeAllSplits('A: b\nC: d\n\n.one\ntwo\nthree\n', { stuff: true, bodyLines: lines }, true), expected));
  }

  it('TOP of a message without a body sends the header', () => {
    assert.equal(encodeAllSplits('A: b\nC: d\n', { stuff: true, bodyLines: 0 }, true), 'A: b\r\nC: d\r\n.\r\n');
  });

  it('counts the octets of the CRLF form, without stuffing or terminator', () => {
    const counter = new CrlfSizeCounter();
    counter.push(Buffer.from('A: b\n\n.x\n'));
    counter.push(Buffer.from('tail'));
    assert.equal(counter.size, 'A: b\r\n\r\n.x\r\ntail\r\n'.length);
  });
});
