/*
 * Delivery replies as fields: a server's reply text read once into code,
 * enhanced code and text (RFC 5321 4.2, RFC 2034), and written back on one line
 * for logs, `qgate queue` and DSNs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliveryReply, parseReply, type Reply, replyLine } from '../../core/model/index.js';

describe('parseReply', () => {
  const cases: { why: string; text: string; expect: Reply | undefined }[] = [
    {
      why: 'code, enhanced code, text',
      text: '550 5.1.1 <x@y>: User unknown',
      expect: { code: 550, enhanced: '5.1.1', text: '<x@y>: User unknown' },
    },
    { why: 'no enhanced code', text: '550 no such user', expect: { code: 550, text: 'no such user' } },
    { why: 'a bare code', text: '250', expect: { code: 250, text: '' } },
    { why: 'a code and an enhanced code only', text: '451 4.7.1', expect: { code: 451, enhanced: '4.7.1', text: '' } },
    {
      why: 'multi-line, LF-joined as nodemailer hands it: one text per line, the enhanced code taken off each',
      text: '550-5.7.1 policy\n550 5.7.1 see https://x.test/',
      expect: { code: 550, enhanced: '5.7.1', text: ['policy', 'see https://x.test/'] },
    },
    {
      why: 'multi-line with CRLF and a closing line end',
      text: '451-4.3.0 busy\r\n451 4.3.0 later\r\n',
      expect: { code: 451, enhanced: '4.3.0', text: ['busy', 'later'] },
    },
    {
      why: 'a later line without the enhanced code keeps its text',
      text: '550-5.7.1 refused\n550 see the policy',
      expect: { code: 550, enhanced: '5.7.1', text: ['refused', 'see the policy'] },
    },
    { why: 'an enhanced code must end at white space', text: '550 5.1.1x odd', expect: { code: 550, text: '5.1.1x odd' } },
    {
      why: 'an enhanced code of any class is kept as given',
      text: '554 4.4.7 odd',
      expect: { code: 554, enhanced: '4.4.7', text: 'odd' },
    },
    { why: 'a local error text is no reply', text: 'connect ECONNREFUSED 127.0.0.1:25', expect: undefined },
    { why: 'four digits are no reply code', text: '5501 x', expect: undefined },
    { why: 'a code outside 2xx-5xx', text: '600 x', expect: undefined },
    { why: 'leading space is no reply', text: ' 550 x', expect: undefined },
    { why: 'an empty text', text: '', expect: undefined },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(parseReply(c.text), c.expect));
});

describe('replyLine', () => {
  const cases: { why: string; reply: Reply; line: string }[] = [
    { why: 'code, enhanced code, text', reply: deliveryReply(550, '5.1.1', 'unknown'), line: '550 5.1.1 unknown' },
    { why: 'without enhanced code', reply: deliveryReply(550, undefined, 'unknown'), line: '550 unknown' },
    { why: 'no text leaves no trailing space', reply: deliveryReply(250, undefined, ''), line: '250' },
    {
      why: 'a multi-line reply keeps each line code, as Postfix reports it',
      reply: deliveryReply(550, '5.7.1', ['policy', 'see']),
      line: '550-5.7.1 policy 550 5.7.1 see',
    },
    { why: 'CR and LF in a text cannot break the line', reply: deliveryReply(451, '4.3.0', 'a\r\nb'), line: '451 4.3.0 a b' },
  ];
  for (const c of cases) it(c.why, () => assert.equal(replyLine(c.reply), c.line));

  it('reads back what parseReply read', () => {
    for (const line of ['550 5.1.1 <x@y>: unknown', '250 2.0.0 Ok: queued as 12', '421 mx busy', '550-5.7.1 a 550 5.7.1 b']) {
      assert.equal(replyLine(parseReply(line.replace(/ (?=\d{3}[ -])/g, '\n'))!), line);
    }
  });
});

describe('deliveryReply', () => {
  it('leaves out what is not given; an empty host is no host', () => {
    assert.deepEqual(deliveryReply(451, undefined, 'later', ''), { code: 451, text: 'later' });
    assert.deepEqual(deliveryReply(250, '2.0.0', 'ok', 'mx.test'), { code: 250, enhanced: '2.0.0', text: 'ok', host: 'mx.test' });
  });
});
