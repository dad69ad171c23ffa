/*
 * The stamp template, as a table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderStamp, type StampFacts, unknownPlaceholders } from '../src/stamp.js';

const facts: StampFacts = {
  hostname: 'mx.example.net',
  listener: 'submission',
  client: '192.0.2.7',
  helo: 'client.example.org',
  tls: 'TLSv1.3',
  user: 'alice@example.net',
  queue_id: '0MWT707BG0038AI',
};

describe('renderStamp', () => {
  const cases: { template: string; out: string; why: string }[] = [
    { template: 'by {hostname} on {listener}', out: 'by mx.example.net on submission', why: 'placeholders are replaced' },
    { template: '{client} {client}', out: '192.0.2.7 192.0.2.7', why: 'each occurrence' },
    {
      template: 'tls={tls}; user={user}; id={queue_id}',
      out: 'tls=TLSv1.3; user=alice@example.net; id=0MWT707BG0038AI',
      why: 'all facts',
    },
    { template: 'plain text', out: 'plain text', why: 'no placeholder' },
    { template: '{nope} {HOSTNAME}', out: '{nope} {HOSTNAME}', why: 'unknown names stay as written' },
  ];
  for (const c of cases) it(c.why, () => assert.equal(renderStamp(c.template, facts), c.out));

  it('a fact with CR, LF or other controls cannot start a new header line', () => {
    assert.equal(renderStamp('user={user}', { ...facts, user: 'a\r\nBcc: x@evil.example\tb' }), 'user=a Bcc: x@evil.example b');
  });
});

describe('unknownPlaceholders', () => {
  const cases: { template: string; unknown: string[] }[] = [
    { template: 'by {hostname}', unknown: [] },
    { template: '{host} {helo} {queueid}', unknown: ['host', 'queueid'] },
    { template: '{ hostname }', unknown: [] },
  ];
  for (const c of cases) it(c.template, () => assert.deepEqual(unknownPlaceholders(c.template), c.unknown));
});
