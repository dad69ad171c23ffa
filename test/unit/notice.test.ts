/*
 * The administrator's notice (core/message/notice.ts): its header section, CRLF line ends,
 * a subject or address with line breaks kept on one line, and long text lines cut at 998.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderNotice } from '../../core/message/notice.js';

const base = {
  hostname: 'mx.example.test',
  to: 'postmaster@example.test',
  subject: 'Virus found: Eicar-Test-Signature',
  text: 'line one\nline two',
  date: new Date('2026-11-30T12:00:00Z'),
  messageId: '0MWT707BG0038AI',
};

describe('notice', () => {
  it('is a plain-text message from MAILER-DAEMON, auto-submitted, with CRLF line ends', () => {
    const text = renderNotice(base).toString();
    const [head, body] = text.split('\r\n\r\n');
    const fields = head!.split('\r\n');
    assert.equal(fields[0], 'From: Mail Delivery System <MAILER-DAEMON@mx.example.test>');
    assert.equal(fields[1], 'To: <postmaster@example.test>');
    assert.equal(fields[2], 'Subject: Virus found: Eicar-Test-Signature');
    assert.match(fields[3]!, /^Date: \w{3}, \d{1,2} Nov 2026 \d\d:\d\d:\d\d [+-]\d{4}$/);
    assert.equal(fields[4], 'Message-ID: <0MWT707BG0038AI@mx.example.test>');
    assert.ok(fields.includes('Auto-Submitted: auto-generated'));
    assert.equal(body, 'line one\r\nline two\r\n');
    assert.doesNotMatch(text.replace(/\r\n/g, ''), /[\r\n]/, 'no bare CR or LF');
  });

  const cases = [
    {
      name: 'a subject with a line break stays one field',
      input: { subject: 'a\r\nBcc: x@example.net' },
      check: /^Subject: a Bcc: x@example\.net\r$/m,
    },
    {
      name: 'a text line of 2500 octets is cut at 998',
      input: { text: 'x'.repeat(2500) },
      check: /\r\n\r\nx{998}\r\nx{998}\r\nx{504}\r\n$/,
    },
    { name: 'empty lines of the text are kept', input: { text: 'a\n\nb' }, check: /\r\n\r\na\r\n\r\nb\r\n$/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.match(renderNotice({ ...base, ...c.input }).toString(), c.check);
    });
  }
});
