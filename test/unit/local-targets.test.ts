/*
 * One local recipient's outcome from the outcomes of its targets (an alias
 * may lead to several mailboxes and forwards).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combineTargets, type TargetResult } from '../../core/delivery/local.js';
import { deliveryReply } from '../../core/model/index.js';

const delivered = (text: string): TargetResult => ({ result: 'delivered', reply: deliveryReply(250, '2.0.0', text) });
const failed = (text: string): TargetResult => ({ result: 'failed', reply: deliveryReply(550, '5.1.1', text) });
const deferred = (text: string): TargetResult => ({ result: 'deferred', reply: deliveryReply(451, '4.2.0', text) });

describe('combineTargets', () => {
  const cases: { why: string; targets: TargetResult[]; expect: TargetResult }[] = [
    { why: 'one target: its outcome', targets: [delivered('delivered to /m/new/1')], expect: delivered('delivered to /m/new/1') },
    {
      why: 'all delivered: one reply naming each copy',
      targets: [delivered('delivered to /a/new/1'), delivered('delivered to /b/new/1')],
      expect: delivered('delivered to /a/new/1; delivered to /b/new/1'),
    },
    {
      why: 'a failure beats deliveries, and the bounce names only the failure, not the mailboxes that got a copy',
      targets: [delivered('delivered to /a/new/1'), failed('<x@y>: User unknown')],
      expect: failed('<x@y>: User unknown'),
    },
    {
      why: 'a deferral beats a failure: the recipient is tried again, the delivered targets find their copies then',
      targets: [failed('<x@y>: User unknown'), deferred('disk full')],
      expect: deferred('disk full'),
    },
    { why: 'no targets at all', targets: [], expect: delivered('no targets') },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(combineTargets(c.targets), c.expect));
});
