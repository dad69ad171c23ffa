/*
 * Fuzz target: SMTP command lines (core/smtp/command.ts). The input, read as
 * UTF-8, goes through splitCommand, then its argument through parsePathCommand
 * (MAIL and RCPT, with and without SMTPUTF8) and parseParameters. None may
 * throw, whatever the string: the session hands on only UTF-8 lines without CR
 * (core/smtp/command-reader.ts), but the parsers do not rely on it, so bytes
 * that are not UTF-8 (U+FFFD here) and CRs are fuzzed too. Splitting is total
 * and stable; the verb is the first word with ASCII letters upper-cased (RFC
 * 5321 2.4: verbs are case-insensitive ASCII); an ESMTP keyword is ASCII as
 * written (RFC 5321 4.1.2 esmtp-keyword); a parsed path and its parameters,
 * written out again, parse to the same result; without SMTPUTF8 the address is
 * ASCII.
 */
import assert from 'node:assert/strict';
import type { EsmtpParameters } from '../../core/model/index.js';
import { parseParameters, parsePathCommand, splitCommand } from '../../core/smtp/command.js';
import { renderPath } from './oracle.js';

const KEYWORD_AS_WRITTEN = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ERRORS = new Set(['syntax', 'address', 'utf8', 'parameter']);

const asciiUpper = (text: string): string => text.replace(/[a-z]+/g, (s) => s.toUpperCase());

function renderParameters(parameters: EsmtpParameters): string {
  return [...parameters].map(([keyword, value]) => (value === true ? ` ${keyword}` : ` ${keyword}=${value}`)).join('');
}

function checkParameters(text: string): void {
  const parsed = parseParameters(text);
  const tokens = text.split(' ').filter((t) => t !== '');
  if (typeof parsed === 'string') {
    assert.ok(tokens.includes(parsed), `the refused token ${JSON.stringify(parsed)} is one of the input's`);
    return;
  }
  for (const token of tokens) {
    const keyword = token.includes('=') ? token.slice(0, token.indexOf('=')) : token;
    assert.match(keyword, KEYWORD_AS_WRITTEN, `keyword ${JSON.stringify(keyword)} accepted`);
  }
  for (const keyword of parsed.keys()) assert.equal(keyword, asciiUpper(keyword));
  assert.deepEqual(parseParameters(renderParameters(parsed).trim()), parsed, 'parameters written out parse the same');
}

export function fuzz(data: Buffer): void {
  const line = data.toString('utf8');
  const { verb, argument } = splitCommand(line);
  const sp = line.indexOf(' ');
  assert.equal(verb, asciiUpper(sp < 0 ? line : line.slice(0, sp)), 'the verb is the first word, ASCII upper-cased');
  assert.deepEqual(splitCommand(argument === '' ? verb : `${verb} ${argument}`), { verb, argument }, 'splitting is stable');

  checkParameters(argument);
  for (const prefix of ['FROM', 'TO'] as const) {
    for (const utf8 of [false, true]) {
      const parsed = parsePathCommand(argument, prefix, { utf8 });
      if (!parsed.ok) {
        assert.ok(ERRORS.has(parsed.error), parsed.error);
        continue;
      }
      const { address, parameters } = parsed;
      if (address === null) assert.equal(prefix, 'FROM', 'only MAIL takes <>');
      const declared = utf8 || (prefix === 'FROM' && parameters.has('SMTPUTF8'));
      if (!declared && address) assert.match(address.address, /^[\x00-\x7f]*$/, 'non-ASCII address without SMTPUTF8');
      const again = parsePathCommand(`${prefix}:${renderPath(address)}${renderParameters(parameters)}`, prefix, { utf8 });
      assert.deepEqual(again, parsed, `${prefix}:${renderPath(address)} written out parses the same`);
    }
  }
}
