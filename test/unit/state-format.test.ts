/*
 * Delivery state files: version 2 as written, and version 1 (a queue written
 * before replies had fields) read into the same shape, so a queue survives an
 * upgrade.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryState, RecipientState } from '../../core/model/index.js';
import { parseDeliveryState, serializeDeliveryState } from '../../core/queue/state-format.js';

const ID = '0MWT707BG0038AI';

function v1(recipient: Record<string, unknown>): string {
  return JSON.stringify({ version: 1, id: ID, recipients: [{ address: 'x@y.test', attempts: 1, ...recipient }] });
}

describe('parseDeliveryState', () => {
  const cases: { why: string; json: string; expect: RecipientState }[] = [
    {
      why: 'a remote failure: the reply line becomes fields, deliveredTo its host',
      json: v1({ status: 'failed', lastReply: '550 5.1.1 <x@y.test>: unknown', deliveredTo: 'mx.y.test', bounced: true }),
      expect: {
        address: 'x@y.test',
        status: 'failed',
        attempts: 1,
        bounced: true,
        reply: { code: 550, enhanced: '5.1.1', text: '<x@y.test>: unknown', host: 'mx.y.test' },
      },
    },
    {
      why: 'local delivery named no host: "local" is dropped',
      json: v1({ status: 'delivered', lastReply: '250 2.0.0 delivered to /m/new/1', deliveredTo: 'local' }),
      expect: {
        address: 'x@y.test',
        status: 'delivered',
        attempts: 1,
        reply: { code: 250, enhanced: '2.0.0', text: 'delivered to /m/new/1' },
      },
    },
    {
      why: 'a refusal before any host had deliveredTo ""',
      json: v1({ status: 'failed', lastReply: '550 5.1.3 recipient address cannot be sent', deliveredTo: '' }),
      expect: {
        address: 'x@y.test',
        status: 'failed',
        attempts: 1,
        reply: { code: 550, enhanced: '5.1.3', text: 'recipient address cannot be sent' },
      },
    },
    {
      why: 'a deferral keeps its time; its host was not recorded',
      json: v1({ status: 'pending', nextAttempt: '2026-11-23T12:00:00.000Z', lastReply: '451 4.4.1 no host accepted' }),
      expect: {
        address: 'x@y.test',
        status: 'pending',
        attempts: 1,
        nextAttempt: '2026-11-23T12:00:00.000Z',
        reply: { code: 451, enhanced: '4.4.1', text: 'no host accepted' },
      },
    },
    {
      why: "a plugin's text that is no reply gets the code its status implies",
      json: v1({ status: 'failed', lastReply: 'no route to that domain' }),
      expect: { address: 'x@y.test', status: 'failed', attempts: 1, reply: { code: 550, text: 'no route to that domain' } },
    },
    {
      why: 'no reply yet',
      json: v1({ status: 'pending', attempts: 0 }),
      expect: { address: 'x@y.test', status: 'pending', attempts: 0 },
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const state = parseDeliveryState(c.json);
      assert.equal(state.version, 2);
      assert.equal(state.id, ID);
      assert.deepEqual(state.recipients, [c.expect]);
    });
  }

  it('keeps the forwards already queued', () => {
    const json = JSON.stringify({ version: 1, id: ID, recipients: [], forwarded: ['a@b.test'] });
    assert.deepEqual(parseDeliveryState(json).forwarded, ['a@b.test']);
  });

  it('reads version 2 as written', () => {
    const state: DeliveryState = {
      version: 2,
      id: ID,
      recipients: [
        {
          address: 'x@y.test',
          status: 'pending',
          attempts: 1,
          reply: { code: 451, enhanced: '4.7.1', text: ['a', 'b'], host: 'mx' },
        },
      ],
    };
    assert.deepEqual(parseDeliveryState(serializeDeliveryState(state)), state);
  });

  it('refuses a version it does not know', () => {
    assert.throws(() => parseDeliveryState(JSON.stringify({ version: 3, id: ID, recipients: [] })), /version 3 is not known/);
    assert.throws(() => parseDeliveryState('null'), /not known/);
  });
});
