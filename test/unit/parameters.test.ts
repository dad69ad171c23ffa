import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EsmtpParameters, Reply } from '../../core/model/index.js';
import { checkMailParameters, checkRcptParameters, type MailParameters } from '../../core/smtp/parameters.js';

const params = (...entries: Array<[string, string | true]>): EsmtpParameters => new Map(entries);
const refused = (code: number, text: string): Reply => ({ code, enhanced: '5.5.4', text });

describe('checkMailParameters', () => {
  const rows: Array<{ why: string; parameters: EsmtpParameters; declared?: string[]; expected: Reply | MailParameters }> = [
    { why: 'none: 7BIT, no size', parameters: params(), expected: { size: undefined, body: '7BIT' } },
    { why: 'SIZE (RFC 1870)', parameters: params(['SIZE', '2048']), expected: { size: 2048, body: '7BIT' } },
    { why: 'SIZE=0', parameters: params(['SIZE', '0']), expected: { size: 0, body: '7BIT' } },
    {
      why: 'SIZE of 15 digits',
      parameters: params(['SIZE', '999999999999999']),
      expected: { size: 999999999999999, body: '7BIT' },
    },
    {
      why: 'SIZE of 16 digits',
      parameters: params(['SIZE', '1000000000000000']),
      expected: refused(501, 'Bad message size syntax'),
    },
    { why: 'SIZE without a value', parameters: params(['SIZE', true]), expected: refused(501, 'Bad message size syntax') },
    { why: 'SIZE not a number', parameters: params(['SIZE', '12k']), expected: refused(501, 'Bad message size syntax') },
    { why: 'negative SIZE', parameters: params(['SIZE', '-1']), expected: refused(501, 'Bad message size syntax') },
    {
      why: 'BODY=8BITMIME (RFC 6152)',
      parameters: params(['BODY', '8BITMIME']),
      expected: { size: undefined, body: '8BITMIME' },
    },
    { why: 'BODY value in any case', parameters: params(['BODY', '8bitMIME']), expected: { size: undefined, body: '8BITMIME' } },
    { why: 'BODY=7BIT', parameters: params(['BODY', '7BIT']), expected: { size: undefined, body: '7BIT' } },
    {
      why: 'BODY=BINARYMIME is not offered (no CHUNKING)',
      parameters: params(['BODY', 'BINARYMIME']),
      expected: refused(501, 'Unsupported BODY type: BINARYMIME'),
    },
    { why: 'BODY without a value', parameters: params(['BODY', true]), expected: refused(501, 'Unsupported BODY type: (none)') },
    { why: 'SMTPUTF8 (RFC 6531)', parameters: params(['SMTPUTF8', true]), expected: { size: undefined, body: '7BIT' } },
    { why: 'SMTPUTF8 with a value', parameters: params(['SMTPUTF8', 'yes']), expected: refused(501, 'SMTPUTF8 takes no value') },
    {
      why: 'all three together',
      parameters: params(['SIZE', '10'], ['BODY', '8BITMIME'], ['SMTPUTF8', true]),
      expected: { size: 10, body: '8BITMIME' },
    },
    {
      why: 'an unknown keyword: 555',
      parameters: params(['RET', 'HDRS']),
      expected: refused(555, 'Unsupported option: RET=HDRS'),
    },
    {
      why: 'an unknown keyword without value',
      parameters: params(['XFOO', true]),
      expected: refused(555, 'Unsupported option: XFOO'),
    },
    {
      why: 'a keyword a plugin declared',
      parameters: params(['AUTH', '<>']),
      declared: ['AUTH'],
      expected: { size: undefined, body: '7BIT' },
    },
    {
      why: 'the first bad parameter is the one named',
      parameters: params(['SIZE', '10'], ['XA', '1'], ['SIZE2', true]),
      expected: refused(555, 'Unsupported option: XA=1'),
    },
    {
      why: 'a declared keyword does not excuse a bad SIZE',
      parameters: params(['AUTH', '<>'], ['SIZE', 'x']),
      declared: ['AUTH'],
      expected: refused(501, 'Bad message size syntax'),
    },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.deepEqual(checkMailParameters(row.parameters, new Set(row.declared ?? [])), row.expected);
    });
  }
});

describe('checkRcptParameters', () => {
  const rows: Array<{ why: string; parameters: EsmtpParameters; declared?: string[]; expected: Reply | undefined }> = [
    { why: 'none', parameters: params(), expected: undefined },
    {
      why: 'the core has none of its own: NOTIFY needs a plugin',
      parameters: params(['NOTIFY', 'NEVER']),
      expected: refused(555, 'Unsupported option: NOTIFY=NEVER'),
    },
    {
      why: 'SIZE is a MAIL parameter only',
      parameters: params(['SIZE', '1']),
      expected: refused(555, 'Unsupported option: SIZE=1'),
    },
    { why: 'declared by a plugin', parameters: params(['NOTIFY', 'NEVER']), declared: ['NOTIFY'], expected: undefined },
    {
      why: 'one declared, one not',
      parameters: params(['NOTIFY', 'NEVER'], ['ORCPT', 'rfc822;a@b']),
      declared: ['NOTIFY'],
      expected: refused(555, 'Unsupported option: ORCPT=rfc822;a@b'),
    },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.deepEqual(checkRcptParameters(row.parameters, new Set(row.declared ?? [])), row.expected);
    });
  }
});
