/*
 * What plugins answer delivery, checked: the deliver hook's outcomes and an
 * error route's reply. A garbled answer defers; it never bounces and never
 * counts as delivered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offeredOutcomes, routeErrorOutcome } from '../../core/delivery/plugin-replies.js';
import { type DeliveryOutcome, deliveryReply } from '../../core/model/index.js';

const INVALID = deliveryReply(451, '4.3.0', 'the deliver plugin gave an invalid result for this recipient');

describe('offeredOutcomes', () => {
  const cases: { why: string; answer: unknown; expect: DeliveryOutcome; problem?: RegExp }[] = [
    {
      why: 'a reply as fields, with its host',
      answer: {
        outcomes: [
          { recipient: 'a@x.test', result: 'delivered', reply: { code: 250, enhanced: '2.0.0', text: 'ok', host: 'lmtp' } },
        ],
      },
      expect: { recipient: 'a@x.test', result: 'delivered', reply: deliveryReply(250, '2.0.0', 'ok', 'lmtp') },
    },
    {
      why: 'an SMTP reply line and a host beside it, as plugins wrote them before replies had fields',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'failed', reply: '550 5.7.1 refused', host: 'capture' }] },
      expect: { recipient: 'a@x.test', result: 'failed', reply: deliveryReply(550, '5.7.1', 'refused', 'capture') },
    },
    {
      why: 'a recipient left out is deferred',
      answer: { outcomes: [] },
      expect: {
        recipient: 'a@x.test',
        result: 'deferred',
        reply: deliveryReply(451, '4.3.0', 'the deliver plugin gave no result for this recipient'),
      },
    },
    {
      why: 'no outcomes list at all',
      answer: { delivered: true },
      expect: {
        recipient: 'a@x.test',
        result: 'deferred',
        reply: deliveryReply(451, '4.3.0', 'the deliver plugin gave no result for this recipient'),
      },
      problem: /no outcomes list/,
    },
    {
      why: 'a "delivered" with a 550 contradicts itself: deferred, not counted delivered',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'delivered', reply: '550 5.1.1 unknown' }] },
      expect: { recipient: 'a@x.test', result: 'deferred', reply: INVALID },
      problem: /a delivered recipient cannot have reply code 550/,
    },
    {
      why: 'a "failed" whose text is no reply: deferred, never bounced on garbage',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'failed', reply: 'nope' }] },
      expect: { recipient: 'a@x.test', result: 'deferred', reply: INVALID },
      problem: /neither an SMTP reply/,
    },
    {
      why: 'an unknown result',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'bounced', reply: '550 x' }] },
      expect: { recipient: 'a@x.test', result: 'deferred', reply: INVALID },
      problem: /result "bounced"/,
    },
    {
      why: 'an enhanced code of another class',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'failed', reply: { code: 550, enhanced: '4.1.1', text: 'x' } }] },
      expect: { recipient: 'a@x.test', result: 'deferred', reply: INVALID },
      problem: /enhanced code "4\.1\.1"/,
    },
    {
      why: 'a text that is not a string',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'failed', reply: { code: 550, text: 5 } }] },
      expect: { recipient: 'a@x.test', result: 'deferred', reply: INVALID },
      problem: /text/,
    },
    {
      why: 'a code that is not a number',
      answer: { outcomes: [{ recipient: 'a@x.test', result: 'deferred', reply: { code: '451', text: 'x' } }] },
      expect: { recipient: 'a@x.test', result: 'deferred', reply: INVALID },
      problem: /reply code "451"/,
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const { outcomes, problems } = offeredOutcomes(['a@x.test'], c.answer);
      assert.deepEqual(outcomes, [c.expect]);
      if (c.problem) assert.match(problems.join('\n'), c.problem);
      else assert.deepEqual(problems, []);
    });
  }

  it('answers in the order of the recipients, whatever the order of the outcomes', () => {
    const answer = {
      outcomes: [
        { recipient: 'b@x.test', result: 'failed', reply: '550 no' },
        { recipient: 'a@x.test', result: 'delivered', reply: '250 ok' },
      ],
    };
    assert.deepEqual(
      offeredOutcomes(['a@x.test', 'b@x.test'], answer).outcomes.map((o) => [o.recipient, o.result]),
      [
        ['a@x.test', 'delivered'],
        ['b@x.test', 'failed'],
      ],
    );
  });
});

describe('routeErrorOutcome', () => {
  const cases: { why: string; permanent: boolean; text: string; expect: DeliveryOutcome }[] = [
    {
      why: 'a permanent error with a reply',
      permanent: true,
      text: '550 5.1.2 no such domain here',
      expect: { recipient: 'a@x.test', result: 'failed', reply: deliveryReply(550, '5.1.2', 'no such domain here') },
    },
    {
      why: 'a text that is no reply gets the generic code of its class',
      permanent: false,
      text: 'mailstore in maintenance',
      expect: { recipient: 'a@x.test', result: 'deferred', reply: deliveryReply(451, undefined, 'mailstore in maintenance') },
    },
    {
      why: 'a reply of the other class is text too: the route decides permanence',
      permanent: false,
      text: '550 5.1.2 gone',
      expect: { recipient: 'a@x.test', result: 'deferred', reply: deliveryReply(451, undefined, '550 5.1.2 gone') },
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(routeErrorOutcome('a@x.test', c.permanent, c.text), c.expect));
});
