/*
 * The one envelope factory: the session, forwards, bounces and tests all make
 * envelopes with it, so every stored envelope has the same fields in the same form.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEnvelope, type EnvelopeFields } from '../../core/model/index.js';

const base: EnvelopeFields = {
  id: '0MWT707BG0038AI',
  received: new Date(Date.UTC(2026, 10, 23, 12, 0, 0)),
  sender: 'a@example.test',
  recipients: ['b@example.test'],
  size: 42,
  client: { address: '192.0.2.7', port: 40000, helo: 'client.example' },
  listener: 'mx',
};

describe('createEnvelope', () => {
  it('fills in a plain 7-bit message with nothing added, and leaves absent options out of the JSON', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(createEnvelope(base))), {
      version: 1,
      id: '0MWT707BG0038AI',
      received: '2026-11-23T12:00:00.000Z',
      sender: 'a@example.test',
      senderParameters: {},
      recipients: [{ address: 'b@example.test', parameters: {} }],
      size: 42,
      utf8: false,
      body: '7BIT',
      client: { address: '192.0.2.7', port: 40000, helo: 'client.example' },
      listener: 'mx',
      addedHeaders: [],
    });
  });

  it("takes the session's parameter maps and stores them as objects", () => {
    const env = createEnvelope({
      ...base,
      senderParameters: new Map<string, string | true>([
        ['SIZE', '42'],
        ['SMTPUTF8', true],
      ]),
      recipients: [{ address: 'b@example.test', parameters: new Map([['NOTIFY', 'NEVER']]) }, 'c@example.test'],
      utf8: true,
      body: '8BITMIME',
    });
    assert.deepEqual(env.senderParameters, { SIZE: '42', SMTPUTF8: true });
    assert.deepEqual(env.recipients, [
      { address: 'b@example.test', parameters: { NOTIFY: 'NEVER' } },
      { address: 'c@example.test', parameters: {} },
    ]);
    assert.deepEqual([env.utf8, env.body], [true, '8BITMIME']);
  });

  it('keeps what a stored envelope has when it is the source (a forward)', () => {
    const original = createEnvelope({
      ...base,
      tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
      authenticatedUser: 'alice',
      addedHeaders: [{ name: 'X-Scanned', value: 'yes' }],
    });
    const forward = createEnvelope({
      ...original,
      id: '0MWT707BG0039AI',
      recipients: ['elsewhere@example.org'],
      addedHeaders: [],
    });
    assert.equal(forward.received, original.received, 'an ISO string is taken as it is');
    assert.deepEqual(forward.tls, original.tls);
    assert.equal(forward.authenticatedUser, 'alice');
    assert.deepEqual(forward.addedHeaders, []);
    assert.deepEqual(forward.recipients, [{ address: 'elsewhere@example.org', parameters: {} }]);
  });

  it('marks bounces and double bounces', () => {
    const bounce = createEnvelope({ ...base, sender: '', bounceOf: '0MWT707BG0038AI', doubleBounce: false });
    assert.equal(bounce.bounceOf, '0MWT707BG0038AI');
    assert.equal('doubleBounce' in bounce, false, 'false is left out');
    assert.equal(createEnvelope({ ...base, doubleBounce: true }).doubleBounce, true);
  });
});
