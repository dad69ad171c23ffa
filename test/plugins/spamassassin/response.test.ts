/*
 * The SPAMD response parser, table by table: the answers spamd gives to CHECK,
 * SYMBOLS, REPORT and PING, its error answers, and broken or truncated answers,
 * each refused with a reason rather than guessed at.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSpamdResponse, parseSymbols, SpamdProtocolError } from '../../../plugins/spamassassin/response.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseSpamdResponse', () => {
  const good: {
    why: string;
    raw: string;
    code: number;
    verdict?: { spam: boolean; score: number; required: number };
    body: string;
  }[] = [
    {
      why: 'SYMBOLS of GTUBE',
      raw: 'SPAMD/1.1 0 EX_OK\r\nContent-length: 26\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED,NO_RELAYS',
      code: 0,
      verdict: { spam: true, score: 1000, required: 5 },
      body: 'GTUBE,NO_RECEIVED,NO_RELAY',
    },
    {
      why: 'CHECK of ham with a negative score, no body',
      raw: 'SPAMD/1.1 0 EX_OK\r\nSpam: False ; -1.9 / 5.0\r\n\r\n',
      code: 0,
      verdict: { spam: false, score: -1.9, required: 5 },
      body: '',
    },
    {
      why: 'old spamd says Yes/No; header names without case',
      raw: 'SPAMD/1.0 0 EX_OK\r\nspam: Yes ; 7.3 / 5.0\r\ncontent-LENGTH: 3\r\n\r\nA,B',
      code: 0,
      verdict: { spam: true, score: 7.3, required: 5 },
      body: 'A,B',
    },
    { why: 'PING', raw: 'SPAMD/1.5 0 PONG\r\n', code: 0, body: '' },
    {
      why: 'an error answer that ends after its status line',
      raw: 'SPAMD/1.0 76 Bad header line: (EOF)\r\n',
      code: 76,
      body: '',
    },
    {
      why: 'a body longer than Content-length is cut to it',
      raw: 'SPAMD/1.1 0 EX_OK\r\nContent-length: 2\r\nSpam: False ; 0.0 / 5.0\r\n\r\nOKtrailing',
      code: 0,
      verdict: { spam: false, score: 0, required: 5 },
      body: 'OK',
    },
  ];
  for (const c of good) {
    it(`reads ${c.why}`, () => {
      const r = parseSpamdResponse(bytes(c.raw));
      assert.equal(r.code, c.code);
      assert.deepEqual(r.verdict, c.verdict);
      assert.equal(r.body.toString('latin1'), c.body);
    });
  }

  const bad: { why: string; raw: string; error: RegExp }[] = [
    { why: 'nothing at all (spamd closed at once)', raw: '', error: /no status line/ },
    { why: 'another protocol', raw: 'HTTP/1.1 200 OK\r\n\r\n', error: /not a SPAMD status line/ },
    {
      why: 'a body cut short',
      raw: 'SPAMD/1.1 0 EX_OK\r\nContent-length: 50\r\nSpam: True ; 9.0 / 5.0\r\n\r\nGTUBE',
      error: /5 of 50/,
    },
    { why: 'a bad Content-length', raw: 'SPAMD/1.1 0 EX_OK\r\nContent-length: -4\r\n\r\n', error: /bad Content-length/ },
    { why: 'a bad Spam header', raw: 'SPAMD/1.1 0 EX_OK\r\nSpam: maybe\r\n\r\n', error: /bad Spam header/ },
    { why: 'a score that is no number', raw: 'SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5.0\r\n\r\n', error: /bad Spam header/ },
    { why: 'a header line without a colon', raw: 'SPAMD/1.1 0 EX_OK\r\nSpam True\r\n\r\n', error: /not a header line/ },
    {
      why: 'a success whose header section never ends',
      raw: 'SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9.0 / 5.0\r\n',
      error: /does not end/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.why}`, () => {
      assert.throws(
        () => parseSpamdResponse(bytes(c.raw)),
        (err: Error) => err instanceof SpamdProtocolError && c.error.test(err.message),
      );
    });
  }
});

describe('parseSymbols', () => {
  const cases: { body: string; expect: string[] }[] = [
    { body: 'GTUBE,NO_RECEIVED,NO_RELAYS', expect: ['GTUBE', 'NO_RECEIVED', 'NO_RELAYS'] },
    { body: 'GTUBE,NO_RECEIVED\r\n', expect: ['GTUBE', 'NO_RECEIVED'] },
    { body: '', expect: [] },
    { body: 'A,,B, C', expect: ['A', 'B', 'C'] },
    { body: 'OK,bad=name,<script>', expect: ['OK'] },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.body), () => assert.deepEqual(parseSymbols(bytes(c.body)), c.expect));
  }
});
