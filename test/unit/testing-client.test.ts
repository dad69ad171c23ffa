/*
 * The test kit's SMTP client, its pure parts: how a reply is split into code,
 * enhanced code and text, and how a message is put on the wire (CRLF,
 * dot-stuffing) as a real client would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeMessage, parseReply } from '../../core/testing/index.js';

describe('parseReply', () => {
  const cases: { lines: string[]; code: number; enhanced: string | undefined; text: string[]; why: string }[] = [
    { lines: ['250 2.1.5 Ok'], code: 250, enhanced: '2.1.5', text: ['Ok'], why: 'one line with an enhanced code' },
    {
      lines: ['220 mx.example.test ESMTP qgate'],
      code: 220,
      enhanced: undefined,
      text: ['mx.example.test ESMTP qgate'],
      why: 'greeting',
    },
    {
      lines: ['250-mx.example.test', '250-PIPELINING', '250 SIZE 1024'],
      code: 250,
      enhanced: undefined,
      text: ['mx.example.test', 'PIPELINING', 'SIZE 1024'],
      why: 'multi-line EHLO reply',
    },
    {
      lines: ['550-5.7.1 first', '550 5.7.1 second'],
      code: 550,
      enhanced: '5.7.1',
      text: ['first', 'second'],
      why: 'the enhanced code on every line is taken off each',
    },
    {
      lines: ['354 End data with <CR><LF>.<CR><LF>'],
      code: 354,
      enhanced: undefined,
      text: ['End data with <CR><LF>.<CR><LF>'],
      why: '354',
    },
    { lines: ['250 2.0'], code: 250, enhanced: undefined, text: ['2.0'], why: 'not an enhanced code: text' },
    { lines: ['250'], code: 250, enhanced: undefined, text: [''], why: 'a bare code' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const reply = parseReply(c.lines);
      assert.equal(reply.code, c.code);
      assert.equal(reply.enhanced, c.enhanced);
      assert.deepEqual(reply.lines, c.text);
      assert.equal(reply.full, c.lines.join('\n'));
    });
  }
  it('refuses what is not a reply', () => {
    assert.throws(() => parseReply(['hello']), /not an SMTP reply/);
    assert.throws(() => parseReply(['600 x']), /not an SMTP reply/);
  });
});

describe('encodeMessage', () => {
  const cases: { message: string; wire: string; why: string }[] = [
    { message: 'a\nb\n', wire: 'a\r\nb\r\n', why: 'LF becomes CRLF' },
    { message: 'a\r\nb', wire: 'a\r\nb\r\n', why: 'a last line without an end gets one' },
    { message: '.\n..x\n', wire: '..\r\n...x\r\n', why: 'lines starting with "." are doubled (RFC 5321 4.5.2)' },
    { message: 'x.\n.', wire: 'x.\r\n..\r\n', why: 'only a leading dot is doubled' },
    { message: 'Grüße\n', wire: 'Grüße\r\n', why: 'UTF-8 passes unchanged' },
    { message: '', wire: '\r\n', why: 'an empty message is one empty line' },
  ];
  for (const c of cases) {
    it(c.why, () => assert.equal(encodeMessage(c.message).toString('utf8'), c.wire));
  }
});
