import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatReply, isTemporary, type Reply, reply, replyText } from '../../core/model/index.js';

describe('formatReply', () => {
  const rows: Array<{ why: string; reply: Reply; wire: string }> = [
    { why: 'single line', reply: { code: 250, text: 'OK' }, wire: '250 OK\r\n' },
    {
      why: 'single line with enhanced code',
      reply: { code: 250, enhanced: '2.1.0', text: 'Sender OK' },
      wire: '250 2.1.0 Sender OK\r\n',
    },
    {
      why: 'one-element array is a single line',
      reply: { code: 221, enhanced: '2.0.0', text: ['Bye'] },
      wire: '221 2.0.0 Bye\r\n',
    },
    { why: 'empty text', reply: { code: 354, text: '' }, wire: '354 \r\n' },
    { why: 'empty array gives one empty line', reply: { code: 250, text: [] }, wire: '250 \r\n' },
    {
      why: 'multi-line: "-" on all lines but the last',
      reply: { code: 250, text: ['mx.example.org', 'PIPELINING', '8BITMIME'] },
      wire: '250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n',
    },
    {
      why: 'multi-line: enhanced code on every line',
      reply: { code: 550, enhanced: '5.7.1', text: ['Message refused', 'see https://example.org/policy'] },
      wire: '550-5.7.1 Message refused\r\n550 5.7.1 see https://example.org/policy\r\n',
    },
    {
      why: 'multi-line with an empty line',
      reply: { code: 451, enhanced: '4.3.0', text: ['a', '', 'b'] },
      wire: '451-4.3.0 a\r\n451-4.3.0 \r\n451 4.3.0 b\r\n',
    },
    {
      why: 'CRLF in text cannot start a new reply line',
      reply: { code: 550, enhanced: '5.7.1', text: 'no\r\n250 2.0.0 OK' },
      wire: '550 5.7.1 no 250 2.0.0 OK\r\n',
    },
    { why: 'bare LF in text', reply: { code: 550, text: 'a\nb' }, wire: '550 a b\r\n' },
    { why: 'bare CR in text', reply: { code: 550, text: 'a\rb' }, wire: '550 a b\r\n' },
    { why: 'a run of line breaks becomes one space', reply: { code: 550, text: 'a\r\n\r\n\nb' }, wire: '550 a b\r\n' },
    { why: 'trailing CRLF in text', reply: { code: 250, text: 'OK\r\n' }, wire: '250 OK \r\n' },
    {
      why: 'CRLF inside a line of a multi-line reply',
      reply: { code: 250, text: ['x\r\n250 OK', 'y\n'] },
      wire: '250-x 250 OK\r\n250 y \r\n',
    },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const wire = formatReply(row.reply);
      assert.equal(wire, row.wire);
      // Whatever the text, the wire holds exactly one reply line per text line.
      const lines = wire.split('\r\n');
      assert.equal(lines.pop(), '');
      const expectedCount = typeof row.reply.text === 'string' ? 1 : Math.max(1, row.reply.text.length);
      assert.equal(lines.length, expectedCount);
      lines.forEach((line, i) => {
        assert.equal(line.slice(0, 4), `${row.reply.code}${i === lines.length - 1 ? ' ' : '-'}`);
        assert.doesNotMatch(line, /[\r\n]/);
      });
    });
  }
});

describe('reply', () => {
  test('without an enhanced code there is no enhanced key', () => {
    const r = reply(220, undefined, 'mx.example.org ESMTP');
    assert.deepEqual(r, { code: 220, text: 'mx.example.org ESMTP' });
    assert.equal('enhanced' in r, false);
  });
  test('with an enhanced code', () => {
    assert.deepEqual(reply(550, '5.1.1', ['No such user']), { code: 550, enhanced: '5.1.1', text: ['No such user'] });
  });
});

describe('isTemporary', () => {
  const rows: Array<[number, boolean]> = [
    [250, false],
    [354, false],
    [399, false],
    [400, true],
    [421, true],
    [451, true],
    [499, true],
    [500, false],
    [550, false],
  ];
  for (const [code, expected] of rows) {
    test(`${code} is ${expected ? '' : 'not '}temporary`, () => {
      assert.equal(isTemporary({ code, text: '' }), expected);
    });
  }
});

describe('replyText', () => {
  test('a string text as is', () => {
    assert.equal(replyText({ code: 250, text: 'OK' }), 'OK');
  });
  test('lines joined with spaces', () => {
    assert.equal(replyText({ code: 250, text: ['a', 'b', 'c'] }), 'a b c');
  });
});
