/*
 * The directory contract's pure parts: which answers of lookupUser,
 * authenticate and route count as answers, and how a user record's forwards,
 * deliverLocally and enabled shape the local resolution.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveLocal, type UserDetails } from '../../core/delivery/local-address.js';
import { answerProblem } from '../../core/hooks/answers.js';
import { isUnavailable, unavailable } from '../../core/hooks/results.js';

describe('answerProblem', () => {
  const cases: { hook: 'lookupUser' | 'authenticate' | 'route'; value: unknown; ok: boolean; why: string }[] = [
    { hook: 'lookupUser', value: undefined, ok: true, why: 'nothing: ask the next directory' },
    { hook: 'lookupUser', value: null, ok: true, why: 'null: no such user' },
    { hook: 'lookupUser', value: { address: 'a@b.test' }, ok: true, why: 'a minimal record' },
    {
      hook: 'lookupUser',
      value: { address: 'a@b.test', mailbox: '/m', forwards: ['c@d.test'], deliverLocally: false, enabled: false, quota: 10 },
      ok: true,
      why: 'every field',
    },
    { hook: 'lookupUser', value: true, ok: false, why: '`true` is not a user' },
    { hook: 'lookupUser', value: {}, ok: false, why: 'a record without its address' },
    { hook: 'lookupUser', value: { address: 'a@b.test', forwards: 'c@d.test' }, ok: false, why: 'forwards not a list' },
    { hook: 'lookupUser', value: { address: 'a@b.test', enabled: 'no' }, ok: false, why: 'enabled not a boolean' },
    { hook: 'lookupUser', value: { address: 'a@b.test', quota: -1 }, ok: false, why: 'a negative quota' },
    { hook: 'lookupUser', value: { address: 'a@b.test', attributes: { n: 1 } }, ok: false, why: 'attributes not strings' },
    { hook: 'authenticate', value: { ok: true, user: 'a' }, ok: true, why: 'a verdict' },
    { hook: 'authenticate', value: null, ok: false, why: 'null is no verdict' },
    { hook: 'authenticate', value: { ok: 'yes' }, ok: false, why: 'ok not a boolean' },
    { hook: 'route', value: { kind: 'local' }, ok: true, why: 'a route' },
    { hook: 'route', value: { kind: 'teleport' }, ok: false, why: 'a route of unknown kind' },
  ];
  for (const c of cases) it(`${c.hook}: ${c.why}`, () => assert.equal(answerProblem(c.hook, c.value) === undefined, c.ok));

  it('unavailable(reason) is recognized', () => {
    assert.equal(isUnavailable(unavailable('down')), true);
    assert.deepEqual(unavailable('down'), { action: 'unavailable', reason: 'down' });
    assert.equal(isUnavailable({ address: 'a@b.test' }), false);
  });
});

describe('resolveLocal with user records', () => {
  const users: Record<string, UserDetails> = {
    'fwd@l.test': { forwards: ['x@far.test'], deliverLocally: false },
    'both@l.test': { forwards: ['alice@l.test', 'x@far.test'] },
    'self@l.test': { forwards: ['self@l.test', 'x@far.test'], deliverLocally: false },
    'off@l.test': { disabled: true },
    'ping@l.test': { forwards: ['pong@l.test'], deliverLocally: false },
    'pong@l.test': { forwards: ['ping@l.test'], deliverLocally: false },
  };
  const resolve = (address: string) =>
    resolveLocal(address, (d) => d === 'l.test', {
      aliases: {},
      delimiters: '-',
      postmaster: 'postmaster@l.test',
      userExists: (local, domain) =>
        ['alice', 'fwd', 'both', 'self', 'off', 'ping', 'pong'].includes(local) && domain === 'l.test',
      userDetails: (local, domain) => users[`${local}@${domain}`],
    });
  const cases: { address: string; targets: string[]; why: string }[] = [
    { address: 'alice@l.test', targets: ['mailbox alice'], why: 'a plain user' },
    { address: 'fwd@l.test', targets: ['forward x@far.test'], why: 'forwards only' },
    { address: 'both@l.test', targets: ['mailbox alice', 'forward x@far.test', 'mailbox both'], why: 'forwards and a copy' },
    { address: 'self@l.test', targets: ['forward x@far.test', 'mailbox self'], why: 'a forward to oneself keeps the copy' },
    { address: 'off@l.test', targets: ['disabled off@l.test'], why: 'a disabled account' },
    { address: 'fwd-ext@l.test', targets: ['forward x@far.test'], why: 'an extension reaches the user and its forwards' },
    { address: 'ping@l.test', targets: ['loop ping@l.test'], why: 'forwards in a circle are a loop' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const got = resolve(c.address).map((t) => (t.kind === 'mailbox' ? `mailbox ${t.local}` : `${t.kind} ${t.address}`));
      assert.deepEqual(got, c.targets);
    });
  }
});
