import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatReply } from '../../core/model/index.js';
import { parsePathCommand } from '../../core/smtp/command.js';
import { pathErrorReply, storageReply, unknownVerbReply } from '../../core/smtp/replies.js';

/** RFC 3463 2: the enhanced code's class is the basic code's first digit. */
function assertClassesAgree(wire: string): void {
  const m = /^(\d)\d\d (\d)\./.exec(wire);
  assert.ok(m, `no enhanced code in ${JSON.stringify(wire)}`);
  assert.equal(m[2], m[1], `class of ${JSON.stringify(wire)}`);
}

describe('pathErrorReply', () => {
  const rows: Array<{ why: string; verb: 'MAIL' | 'RCPT'; argument: string; utf8?: boolean; wire: string }> = [
    { why: 'MAIL without FROM:', verb: 'MAIL', argument: '<a@b.example>', wire: '501 5.5.4 Syntax: MAIL FROM:<address>\r\n' },
    { why: 'RCPT with FROM:', verb: 'RCPT', argument: 'FROM:<a@b.example>', wire: '501 5.5.4 Syntax: RCPT TO:<address>\r\n' },
    { why: 'MAIL FROM: and nothing', verb: 'MAIL', argument: 'FROM:', wire: '501 5.5.4 Syntax: MAIL FROM:<address>\r\n' },
    { why: 'bad sender: 5.1.7', verb: 'MAIL', argument: 'FROM:<a@@b>', wire: '501 5.1.7 Bad sender address syntax\r\n' },
    { why: 'bad recipient: 5.1.3', verb: 'RCPT', argument: 'TO:<a b@c>', wire: '501 5.1.3 Bad recipient address syntax\r\n' },
    {
      why: 'unicode sender without SMTPUTF8',
      verb: 'MAIL',
      argument: 'FROM:<jürgen@b.example>',
      wire: '553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n',
    },
    {
      why: 'unicode recipient in a transaction without SMTPUTF8',
      verb: 'RCPT',
      argument: 'TO:<jürgen@b.example>',
      utf8: false,
      wire: '553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n',
    },
    {
      why: 'a parameter that does not parse is named as sent',
      verb: 'MAIL',
      argument: 'FROM:<a@b.example> SIZE=',
      wire: '555 5.5.4 Unsupported option: SIZE=\r\n',
    },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const parsed = parsePathCommand(row.argument, row.verb === 'MAIL' ? 'FROM' : 'TO', { utf8: row.utf8 });
      assert.equal(parsed.ok, false, 'the argument must be refused');
      if (parsed.ok) return;
      const wire = formatReply(pathErrorReply(row.verb, parsed));
      assert.equal(wire, row.wire);
      assertClassesAgree(wire);
    });
  }
});

describe('unknownVerbReply', () => {
  const rows: Array<{ why: string; verb: string; wire: string }> = [
    { why: 'an empty line', verb: '', wire: '500 5.5.2 Error: bad syntax\r\n' },
    { why: 'a verb nobody knows', verb: 'FOO', wire: '500 5.5.2 Error: command not recognized\r\n' },
    { why: 'EXPN: known, not implemented', verb: 'EXPN', wire: '502 5.5.1 Error: command not implemented\r\n' },
    { why: 'STARTTLS without the starttls plugin', verb: 'STARTTLS', wire: '502 5.5.1 Error: command not implemented\r\n' },
    { why: 'AUTH without the auth plugin', verb: 'AUTH', wire: '502 5.5.1 Error: command not implemented\r\n' },
    { why: 'BDAT: no CHUNKING', verb: 'BDAT', wire: '502 5.5.1 Error: command not implemented\r\n' },
    { why: 'digits are not a verb', verb: 'M4IL', wire: '500 5.5.2 Error: bad syntax\r\n' },
    { why: 'punctuation is not a verb', verb: 'GET/', wire: '500 5.5.2 Error: bad syntax\r\n' },
    { why: 'non-ASCII letters are not a verb', verb: 'MAıL', wire: '500 5.5.2 Error: bad syntax\r\n' },
    { why: '16 letters may be a verb', verb: 'ABCDEFGHIJKLMNOP', wire: '500 5.5.2 Error: command not recognized\r\n' },
    { why: '17 letters are not', verb: 'ABCDEFGHIJKLMNOPQ', wire: '500 5.5.2 Error: bad syntax\r\n' },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const wire = formatReply(unknownVerbReply(row.verb));
      assert.equal(wire, row.wire);
      assertClassesAgree(wire);
    });
  }
});

describe('storageReply', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const rows: Array<{ why: string; err: unknown; wire: string }> = [
    { why: 'a full disk: 452, try later', err: errno('ENOSPC'), wire: '452 4.3.1 Error: insufficient system storage\r\n' },
    { why: 'a quota: 452', err: errno('EDQUOT'), wire: '452 4.3.1 Error: insufficient system storage\r\n' },
    { why: 'an I/O error: 451', err: errno('EIO'), wire: '451 4.3.0 Error: queue file write error\r\n' },
    { why: 'an error without a code', err: new Error('boom'), wire: '451 4.3.0 Error: queue file write error\r\n' },
    { why: 'something thrown that is not an error', err: undefined, wire: '451 4.3.0 Error: queue file write error\r\n' },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const wire = formatReply(storageReply(row.err));
      assert.equal(wire, row.wire);
      assertClassesAgree(wire);
    });
  }
});
