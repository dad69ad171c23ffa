/*
 * Removing header fields from the message as delivered: the named fields (exact or
 * "Prefix-*", without case) leave the client's header section with their folded lines,
 * whatever the chunking; Received fields, the body and lines after the header section
 * stay; names are checked when a plugin asks.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { deliveredMessage } from '../../core/message/delivered.js';
import { checkRemoval, isRemoved } from '../../core/message/removed-fields.js';

const RECEIVED =
  'Received: from c ([192.0.2.7])\r\n\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI;\r\n\tMon, 23 Nov 2026\r\n';

async function read(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('latin1');
}

function pieces(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text, 'latin1');
  const at = [0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  return at.slice(1).map((end, i) => bytes.subarray(at[i], end));
}

describe('removing header fields on delivery', () => {
  const cases: { why: string; removed: string[]; stored: string; expect: string; added?: boolean }[] = [
    {
      why: 'a prefix removes every field it starts, folded lines and all; others stay in order',
      removed: ['X-Spam-*'],
      stored: `${RECEIVED}X-Spam-Status: No, score=-5\r\n\ttests=NONE\r\nSubject: hi\r\nx-spam-flag: NO\r\nFrom: a@b\r\n\r\nX-Spam-Flag: body line\r\n`,
      expect: `${RECEIVED}Subject: hi\r\nFrom: a@b\r\n\r\nX-Spam-Flag: body line\r\n`,
    },
    {
      why: 'an exact name removes only that field',
      removed: ['Subject'],
      stored: `${RECEIVED}Subject: one\r\n two\r\nSubjects: stay\r\nX: y\r\n\r\nb\r\n`,
      expect: `${RECEIVED}Subjects: stay\r\nX: y\r\n\r\nb\r\n`,
    },
    {
      why: 'the last field of the header section, then the blank line',
      removed: ['X-Spam-Flag'],
      stored: `${RECEIVED}From: a@b\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n`,
      expect: `${RECEIVED}From: a@b\r\n\r\nbody\r\n`,
    },
    {
      why: 'Received fields are never removed, even by a prefix that matches them',
      removed: ['R*'],
      stored: `${RECEIVED}Received: from earlier\r\nReply-To: x@y\r\n\r\nb\r\n`,
      expect: `${RECEIVED}Received: from earlier\r\n\r\nb\r\n`,
    },
    {
      why: 'a line that is no field ends the header section: lines after it are body',
      removed: ['X-Spam-*'],
      stored: `${RECEIVED}Subject : obsolete\r\nX-Spam-Flag: YES\r\n`,
      expect: `${RECEIVED}Subject : obsolete\r\nX-Spam-Flag: YES\r\n`,
    },
    {
      why: 'a message that ends inside a field name keeps those bytes',
      removed: ['X-Spam-*'],
      stored: `${RECEIVED}X-Spam-Le`,
      expect: `${RECEIVED}X-Spam-Le`,
    },
    {
      why: 'a message that ends inside a removed field',
      removed: ['X-Spam-*'],
      stored: `${RECEIVED}X-Spam-Level: ***`,
      expect: RECEIVED,
    },
    {
      why: 'LF line ends',
      removed: ['X-Spam-*'],
      stored: 'Received: by x\nX-Spam-Flag: YES\n more\nA: b\n\nX-Spam-Flag: body\n',
      expect: 'Received: by x\nA: b\n\nX-Spam-Flag: body\n',
    },
    {
      why: 'removed, then added: the added field replaces the client one after the Received field',
      removed: ['Subject'],
      added: true,
      stored: `${RECEIVED}From: a@b\r\nSubject: hi\r\n\r\nb\r\n`,
      expect: `${RECEIVED}Subject: [SPAM] hi\r\nFrom: a@b\r\n\r\nb\r\n`,
    },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const length = Buffer.byteLength(c.stored, 'latin1');
      const added = c.added ? [{ name: 'Subject', value: '[SPAM] hi' }] : [];
      const chunkings = [[], ...Array.from({ length }, (_, i) => [i]), Array.from({ length }, (_, i) => i)];
      for (const cuts of chunkings) {
        const got = await read(deliveredMessage(Readable.from(pieces(c.stored, cuts)), added, c.removed));
        assert.equal(got, c.expect, `cut at ${JSON.stringify(cuts)}`);
      }
    });
  }

  it('holds back at most a line of a field name: a huge name ends the header section and streams on', async () => {
    const name = 'X'.repeat(5000);
    const stored = `${RECEIVED}${name}: v\r\n\r\nb\r\n`;
    const got = await read(deliveredMessage(Readable.from(pieces(stored, [200, 400, 2000])), [], ['X*']));
    assert.equal(got, stored);
  });

  it('a long removed field costs one pass: 8 MiB of folded lines go in 64 KiB chunks', async () => {
    const fold = `\t${'a'.repeat(76)}\r\n`;
    const big = `${RECEIVED}X-Spam-Report: start\r\n${fold.repeat((8 * 1024 * 1024) / fold.length)}Subject: s\r\n\r\nb\r\n`;
    const bytes = Buffer.from(big, 'latin1');
    const chunks = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536));
    const t0 = performance.now();
    const got = await read(deliveredMessage(Readable.from(chunks), [], ['X-Spam-*']));
    assert.equal(got, `${RECEIVED}Subject: s\r\n\r\nb\r\n`);
    assert.ok(performance.now() - t0 < 2000, 'linear in the bytes');
  });
});

describe('which removals a plugin may ask for', () => {
  const cases: { name: string; ok: boolean }[] = [
    { name: 'X-Spam-Flag', ok: true },
    { name: 'X-Spam-*', ok: true },
    { name: 'Subject', ok: true },
    { name: 'Received', ok: false },
    { name: 'received', ok: false },
    { name: 'X Spam', ok: false },
    { name: 'X-*-Flag', ok: false },
    { name: '*', ok: false },
    { name: 'Subject:', ok: false },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.ok ? 'taken' : 'refused'}`, () => {
      if (c.ok) assert.equal(checkRemoval(c.name), c.name);
      else assert.throws(() => checkRemoval(c.name), RangeError);
    });
  }
  it('matches without case, prefixes by their stem', () => {
    assert.equal(isRemoved('x-SPAM-status', ['X-Spam-*']), true);
    assert.equal(isRemoved('X-Spammy', ['X-Spam-*']), false);
    assert.equal(isRemoved('Received', ['Received']), false);
  });
});
