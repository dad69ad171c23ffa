/*
 * Real clients against the gateway: Python's smtplib (several threads,
 * 8-bit and SMTPUTF8 mail, several recipients) and swaks (pipelining, null
 * sender, a relay attempt). What they were told was queued is on disk, intact.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { smtplibSend, swaks } from '../harness/clients.js';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { readQueued } from '../harness/queue.js';

describe('real SMTP clients', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('smtplib: 40 messages over 8 threads, each queued and stored byte for byte', async () => {
    const results = await smtplibSend(gw.port, { count: 40, threads: 8, size: 3000 }).done;
    assert.equal(results.length, 40);
    for (const r of results) {
      assert.equal(r.code, 250, JSON.stringify(r));
      const stored = readQueued(gw.queueDir, r.id!);
      assert.equal(createHash('sha256').update(stored.content).digest('hex'), r.sha256);
    }
  });

  it('smtplib: 8BITMIME + SMTPUTF8 with several recipients', async () => {
    const [r] = await smtplibSend(gw.port, {
      count: 1,
      utf8: true,
      to: ['a@example.test', 'b@example.test', 'c@sub.example.test'],
    }).done;
    assert.equal(r!.code, 250, JSON.stringify(r));
    const stored = readQueued(gw.queueDir, r!.id!);
    assert.equal(createHash('sha256').update(stored.content).digest('hex'), r!.sha256);
    assert.equal(stored.envelope.body, '8BITMIME');
    assert.equal(stored.envelope.utf8, true);
    assert.deepEqual(
      stored.envelope.recipients.map((x) => x.address),
      ['a@example.test', 'b@example.test', 'c@sub.example.test'],
    );
    assert.doesNotMatch(stored.received, /\tfor </, 'no single recipient named in Received');
  });

  it('swaks with PIPELINING sends a message', async () => {
    const { code, transcript } = await swaks(gw.port, [
      '--pipeline',
      '--from',
      'a@example.test',
      '--to',
      'b@example.test',
      '--body',
      'hello from swaks',
    ]);
    assert.equal(code, 0, transcript);
    const id = /queued as ([0-9A-Z]{15})/.exec(transcript)![1]!;
    assert.match(readQueued(gw.queueDir, id).content.toString(), /hello from swaks/);
  });

  it('swaks with the null sender (a bounce) is accepted', async () => {
    const { code, transcript } = await swaks(gw.port, ['--from', '<>', '--to', 'b@example.test']);
    assert.equal(code, 0, transcript);
    const id = /queued as ([0-9A-Z]{15})/.exec(transcript)![1]!;
    assert.equal(readQueued(gw.queueDir, id).envelope.sender, '');
  });

  it('swaks relay attempt to a foreign domain is refused with 554 5.7.1', async () => {
    const { code, transcript } = await swaks(gw.port, ['--from', 'a@example.test', '--to', 'victim@elsewhere.test']);
    assert.notEqual(code, 0);
    assert.match(transcript, /554 5\.7\.1 <victim@elsewhere\.test>: Relay access denied/);
  });
});
