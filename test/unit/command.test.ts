import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Address } from '../../core/model/index.js';
import {
  commandTooLong,
  MAX_AUTH_LINE,
  type PathCommandParse,
  parseParameters,
  parsePathCommand,
  splitCommand,
} from '../../core/smtp/command.js';

describe('splitCommand', () => {
  const rows: Array<{ why: string; line: string; verb: string; argument: string }> = [
    { why: 'verb and argument', line: 'MAIL FROM:<a@b>', verb: 'MAIL', argument: 'FROM:<a@b>' },
    { why: 'verb upper-cased, argument case kept', line: 'mail from:<A@b>', verb: 'MAIL', argument: 'from:<A@b>' },
    { why: 'mixed-case verb', line: 'eHlO client.example', verb: 'EHLO', argument: 'client.example' },
    { why: 'verb alone', line: 'QUIT', verb: 'QUIT', argument: '' },
    { why: 'lower-case verb alone', line: 'data', verb: 'DATA', argument: '' },
    { why: 'empty line', line: '', verb: '', argument: '' },
    { why: 'argument trimmed on both sides', line: 'RCPT   TO:<a@b>   ', verb: 'RCPT', argument: 'TO:<a@b>' },
    { why: 'trailing space only', line: 'NOOP ', verb: 'NOOP', argument: '' },
    { why: 'inner spaces of the argument kept', line: 'HELP  me  please', verb: 'HELP', argument: 'me  please' },
    // Found by fuzzing: toUpperCase() folded these into real verbs; Postfix answers 502 to them.
    { why: 'dotless i is not an I: "maıl" is not MAIL', line: 'maıl FROM:<a@b>', verb: 'MAıL', argument: 'FROM:<a@b>' },
    { why: 'long s is not an S: "ſtarttls" is not STARTTLS', line: 'ſtarttls', verb: 'ſTARTTLS', argument: '' },
    { why: 'other letters keep their case', line: 'éhlo x', verb: 'éHLO', argument: 'x' },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.deepEqual(splitCommand(row.line), { verb: row.verb, argument: row.argument });
    });
  }
});

const mailbox = (local: string, domain: string): Address => ({
  local,
  domain,
  address: `${local}@${domain}`,
  quoted: local.startsWith('"'),
});
const ok = (address: Address | null, params: Array<[string, string | true]> = []): PathCommandParse => ({
  ok: true,
  address,
  parameters: new Map(params),
});
const fail = (error: 'syntax' | 'address' | 'utf8'): PathCommandParse => ({ ok: false, error });
const badParameter = (detail: string): PathCommandParse => ({ ok: false, error: 'parameter', detail });

describe('parsePathCommand', () => {
  const rows: Array<{
    why: string;
    argument: string;
    prefix: 'FROM' | 'TO';
    opts?: { utf8?: boolean };
    expected: PathCommandParse;
    todo?: string;
  }> = [
    {
      why: 'MAIL with SIZE and BODY',
      argument: 'FROM:<a@b> SIZE=100 BODY=8BITMIME',
      prefix: 'FROM',
      expected: ok(mailbox('a', 'b'), [
        ['SIZE', '100'],
        ['BODY', '8BITMIME'],
      ]),
    },
    { why: 'space after the colon', argument: 'FROM: <a@b>', prefix: 'FROM', expected: ok(mailbox('a', 'b')) },
    {
      why: 'several spaces after the colon',
      argument: 'FROM:   <a@b>',
      prefix: 'FROM',
      expected: ok(mailbox('a', 'b')),
    },
    { why: 'lower-case prefix', argument: 'from:<a@b>', prefix: 'FROM', expected: ok(mailbox('a', 'b')) },
    { why: 'RCPT', argument: 'TO:<x@y>', prefix: 'TO', expected: ok(mailbox('x', 'y')) },
    {
      why: 'RCPT with DSN parameters',
      argument: 'TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y',
      prefix: 'TO',
      expected: ok(mailbox('x', 'y'), [
        ['NOTIFY', 'SUCCESS,FAILURE'],
        ['ORCPT', 'rfc822;x@y'],
      ]),
    },
    {
      why: 'bracket-less address with a parameter',
      argument: 'FROM:a@b SIZE=1',
      prefix: 'FROM',
      expected: ok(mailbox('a', 'b'), [['SIZE', '1']]),
    },
    { why: 'null reverse-path', argument: 'FROM:<>', prefix: 'FROM', expected: ok(null) },
    {
      why: 'null reverse-path with a parameter',
      argument: 'FROM:<> SIZE=0',
      prefix: 'FROM',
      expected: ok(null, [['SIZE', '0']]),
    },
    { why: 'null forward-path refused', argument: 'TO:<>', prefix: 'TO', expected: fail('address') },
    {
      why: 'RCPT to <postmaster>',
      argument: 'TO:<Postmaster>',
      prefix: 'TO',
      expected: ok({ local: 'Postmaster', domain: '', address: 'Postmaster', quoted: false }),
    },
    { why: 'MAIL from <postmaster> refused', argument: 'FROM:<postmaster>', prefix: 'FROM', expected: fail('address') },
    {
      why: 'parameter keyword upper-cased, value kept',
      argument: 'FROM:<a@b> body=8bitmime',
      prefix: 'FROM',
      expected: ok(mailbox('a', 'b'), [['BODY', '8bitmime']]),
    },
    {
      why: 'keyword without a value',
      argument: 'FROM:<a@b> smtputf8',
      prefix: 'FROM',
      expected: ok(mailbox('a', 'b'), [['SMTPUTF8', true]]),
    },

    // SMTPUTF8
    {
      why: 'SMTPUTF8 on MAIL enables a UTF-8 address',
      argument: 'FROM:<jürgen@bücher.de> SMTPUTF8',
      prefix: 'FROM',
      expected: ok(mailbox('jürgen', 'bücher.de'), [['SMTPUTF8', true]]),
    },
    {
      why: 'SMTPUTF8 in any case and position',
      argument: 'FROM:<jürgen@bücher.de> BODY=8BITMIME smtputf8 SIZE=9',
      prefix: 'FROM',
      expected: ok(mailbox('jürgen', 'bücher.de'), [
        ['BODY', '8BITMIME'],
        ['SMTPUTF8', true],
        ['SIZE', '9'],
      ]),
    },
    {
      why: 'UTF-8 address on MAIL without SMTPUTF8',
      argument: 'FROM:<jürgen@bücher.de>',
      prefix: 'FROM',
      expected: fail('utf8'),
    },
    {
      why: 'UTF-8 address on MAIL with other parameters only',
      argument: 'FROM:<jürgen@example.com> BODY=8BITMIME',
      prefix: 'FROM',
      expected: fail('utf8'),
    },
    {
      why: 'SMTPUTF8 inside a quoted local part is not the parameter',
      argument: 'FROM:<"a SMTPUTF8 b"@bücher.de>',
      prefix: 'FROM',
      expected: fail('utf8'),
    },
    {
      why: 'UTF-8 address on RCPT in a UTF-8 transaction',
      argument: 'TO:<用户@例子.广告>',
      prefix: 'TO',
      opts: { utf8: true },
      expected: ok(mailbox('用户', '例子.广告')),
    },
    {
      why: 'UTF-8 address on RCPT outside a UTF-8 transaction',
      argument: 'TO:<用户@例子.广告>',
      prefix: 'TO',
      expected: fail('utf8'),
    },
    {
      why: 'SMTPUTF8 on RCPT does not enable UTF-8',
      argument: 'TO:<用户@例子.广告> SMTPUTF8',
      prefix: 'TO',
      expected: fail('utf8'),
    },

    // Parameter syntax
    { why: 'empty value', argument: 'FROM:<a@b> SIZE=', prefix: 'FROM', expected: badParameter('SIZE=') },
    { why: 'empty keyword', argument: 'FROM:<a@b> SIZE=1 =x', prefix: 'FROM', expected: badParameter('=x') },
    {
      why: 'underscore in a keyword',
      argument: 'FROM:<a@b> BO_DY=8BITMIME',
      prefix: 'FROM',
      expected: badParameter('BO_DY=8BITMIME'),
    },
    { why: 'keyword starting with a hyphen', argument: 'TO:<a@b> -X=1', prefix: 'TO', expected: badParameter('-X=1') },
    { why: '"=" inside a value', argument: 'FROM:<a@b> X=a=b', prefix: 'FROM', expected: badParameter('X=a=b') },

    // Command syntax
    { why: 'missing colon', argument: 'FROM <a@b>', prefix: 'FROM', expected: fail('syntax') },
    { why: 'missing colon, no space', argument: 'FROM<a@b>', prefix: 'FROM', expected: fail('syntax') },
    { why: 'TO: where FROM: is expected', argument: 'TO:<a@b>', prefix: 'FROM', expected: fail('syntax') },
    { why: 'FROM: where TO: is expected', argument: 'FROM:<a@b>', prefix: 'TO', expected: fail('syntax') },
    { why: 'misspelt prefix', argument: 'FORM:<a@b>', prefix: 'FROM', expected: fail('syntax') },
    { why: 'nothing after the colon', argument: 'FROM:', prefix: 'FROM', expected: fail('syntax') },
    { why: 'only spaces after the colon', argument: 'TO:   ', prefix: 'TO', expected: fail('syntax') },
    { why: 'empty argument', argument: '', prefix: 'FROM', expected: fail('syntax') },

    // Bad paths
    { why: 'unclosed path', argument: 'FROM:<a@b', prefix: 'FROM', expected: fail('address') },
    { why: 'parameter glued to the path', argument: 'FROM:<a@b>SIZE=1', prefix: 'FROM', expected: fail('address') },
    { why: 'garbage path', argument: 'TO:<a b c>', prefix: 'TO', expected: fail('address') },
  ];
  for (const row of rows) {
    test(row.why, row.todo ? { todo: row.todo } : {}, () => {
      assert.deepEqual(parsePathCommand(row.argument, row.prefix, row.opts), row.expected);
    });
  }

  test('a full MAIL line through splitCommand', () => {
    const { verb, argument } = splitCommand('mail FROM:<Sender@Example.ORG>  SIZE=2048 ');
    assert.equal(verb, 'MAIL');
    assert.deepEqual(parsePathCommand(argument, 'FROM'), ok(mailbox('Sender', 'example.org'), [['SIZE', '2048']]));
  });
});

describe('parseParameters', () => {
  const rows: Array<{ why: string; text: string; expected: Array<[string, string | true]> | string }> = [
    { why: 'empty text', text: '', expected: [] },
    { why: 'one keyword=value', text: 'SIZE=100', expected: [['SIZE', '100']] },
    {
      why: 'keywords upper-cased, values kept',
      text: 'size=100 body=8bitmime',
      expected: [
        ['SIZE', '100'],
        ['BODY', '8bitmime'],
      ],
    },
    { why: 'keyword without value maps to true', text: 'SMTPUTF8', expected: [['SMTPUTF8', true]] },
    {
      why: 'extra spaces ignored',
      text: '  SIZE=1    BODY=7BIT  ',
      expected: [
        ['SIZE', '1'],
        ['BODY', '7BIT'],
      ],
    },
    { why: 'hyphen and digits in a keyword', text: 'X-EXT2=yes', expected: [['X-EXT2', 'yes']] },
    { why: 'xtext value', text: 'ENVID=abc+2Bdef', expected: [['ENVID', 'abc+2Bdef']] },
    { why: 'UTF-8 value', text: 'X-NAME=jürgen', expected: [['X-NAME', 'jürgen']] },
    { why: 'empty value: the bad token', text: 'SIZE=', expected: 'SIZE=' },
    // Found by fuzzing: the keyword was upper-cased before its ASCII syntax was checked.
    { why: 'non-ASCII keyword that upper-cases to SMTPUTF8', text: 'ſmtputf8', expected: 'ſmtputf8' },
    { why: 'non-ASCII keyword that upper-cases to SIZE', text: 'ſıze=10', expected: 'ſıze=10' },
    { why: 'empty keyword: the bad token', text: '=1', expected: '=1' },
    { why: 'keyword starting with a hyphen', text: '-X=1', expected: '-X=1' },
    { why: 'punctuation in a keyword', text: 'SIZE=1 BAD!', expected: 'BAD!' },
    { why: '"=" inside a value', text: 'A=b=c', expected: 'A=b=c' },
    { why: 'control character in a value', text: 'A=b\u0001', expected: 'A=b\u0001' },
    { why: 'DEL in a value', text: 'A=b\u007f', expected: 'A=b\u007f' },
    { why: 'first bad token is reported', text: 'SIZE=1 X= Y=', expected: 'X=' },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const got = parseParameters(row.text);
      if (typeof row.expected === 'string') assert.equal(got, row.expected);
      else assert.deepEqual(got, new Map(row.expected));
    });
  }
});

describe('commandTooLong', () => {
  const rows: Array<{ why: string; line: string; limit: number; tooLong: boolean }> = [
    { why: '510 octets and CRLF fit in 512', line: `NOOP ${'x'.repeat(505)}`, limit: 512, tooLong: false },
    { why: '511 octets and CRLF do not', line: `NOOP ${'x'.repeat(506)}`, limit: 512, tooLong: true },
    { why: 'octets are counted, not characters', line: `NOOP ${'ü'.repeat(253)}`, limit: 512, tooLong: true },
    { why: 'an empty line', line: '', limit: 512, tooLong: false },
    { why: 'AUTH may be longer (RFC 4954 4)', line: `AUTH PLAIN ${'A'.repeat(4000)}`, limit: 512, tooLong: false },
    { why: 'auth in lower case too', line: `auth plain ${'A'.repeat(4000)}`, limit: 512, tooLong: false },
    {
      why: 'AUTH up to 12,288 octets with CRLF',
      line: `AUTH PLAIN ${'A'.repeat(MAX_AUTH_LINE - 13)}`,
      limit: 512,
      tooLong: false,
    },
    { why: 'AUTH not beyond', line: `AUTH PLAIN ${'A'.repeat(MAX_AUTH_LINE - 12)}`, limit: 512, tooLong: true },
    { why: 'AUTH gets a larger listener limit', line: `AUTH PLAIN ${'A'.repeat(MAX_AUTH_LINE)}`, limit: 20_000, tooLong: false },
    { why: 'AUTH needs its space: AUTHX is another verb', line: `AUTHX${'A'.repeat(600)}`, limit: 512, tooLong: true },
    { why: 'a long MAIL line', line: `MAIL FROM:<${'a'.repeat(600)}@b>`, limit: 512, tooLong: true },
    { why: 'a listener with a larger limit', line: `MAIL FROM:<${'a'.repeat(600)}@b>`, limit: 1000, tooLong: false },
  ];
  for (const row of rows) {
    test(row.why, () => assert.equal(commandTooLong(row.line, row.limit), row.tooLong));
  }
});
