/*
 * Queue entry footers: a complete entry parses, anything else does not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envelopeTrailer, FOOTER_LENGTH, parseFooter } from '../../core/queue/entry-format.js';

function entry(message: string, envelope: object): Buffer {
  return Buffer.concat([Buffer.from(message), envelopeTrailer(JSON.stringify(envelope), Buffer.byteLength(message))]);
}

describe('queue entry format', () => {
  it('round-trips message and envelope lengths', () => {
    const file = entry('Subject: x\r\n\r\nbody\r\n', { id: 'A', recipients: ['ü@example.test'] });
    const info = parseFooter(file.subarray(-FOOTER_LENGTH), file.length);
    assert.deepEqual(info, {
      messageLength: 20,
      envelopeLength: Buffer.byteLength(JSON.stringify({ id: 'A', recipients: ['ü@example.test'] })),
    });
    const env = JSON.parse(file.subarray(info!.messageLength, info!.messageLength + info!.envelopeLength).toString());
    assert.equal(env.recipients[0], 'ü@example.test');
  });

  it('accepts an empty message', () => {
    const file = entry('', { id: 'B' });
    assert.equal(parseFooter(file.subarray(-FOOTER_LENGTH), file.length)?.messageLength, 0);
  });

  const bad: { why: string; file: Buffer }[] = [
    { why: 'a truncated entry', file: entry('Subject: x\r\n\r\nbody\r\n', { id: 'A' }).subarray(0, -1) },
    { why: 'an entry with bytes appended', file: Buffer.concat([entry('m', { id: 'A' }), Buffer.from('x')]) },
    { why: 'a message without a footer', file: Buffer.from('Subject: x\r\n\r\n'.repeat(10)) },
    { why: 'lengths that do not add up', file: Buffer.concat([Buffer.from('extra'), entry('m', { id: 'A' })]) },
  ];
  for (const b of bad) {
    it(`rejects ${b.why}`, () => {
      const tail = b.file.length >= FOOTER_LENGTH ? b.file.subarray(-FOOTER_LENGTH) : b.file;
      assert.equal(parseFooter(tail, b.file.length), undefined);
    });
  }
});
