/*
 * The failed-login throttle: failures per client inside the window, checks in
 * flight counted before the password is checked, a success that clears only
 * its own user's failures, and the bounds on what it keeps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AuthAttempt, FailureThrottle } from '../../../core/model/failure-throttle.js';

const failOnce = (t: FailureThrottle, client: string, user: string, now: number): number => {
  const attempt = t.reserve(client, now);
  assert.ok(attempt, `${client} may try at ${now}`);
  return attempt.fail(user, now);
};

describe('FailureThrottle', () => {
  it('counts failures per client inside the window and forgets them after', () => {
    const t = new FailureThrottle(5, 1000);
    assert.equal(failOnce(t, '192.0.2.1', 'a', 0), 1);
    assert.equal(failOnce(t, '192.0.2.1', 'b', 500), 2);
    assert.deepEqual(t.load('192.0.2.2', 500), { failures: 0, inFlight: 0 }, 'another client');
    assert.equal(t.load('192.0.2.1', 1200).failures, 1, 'the first failure left the window');
    assert.equal(t.load('192.0.2.1', 2000).failures, 0);
  });

  it('counts checks in flight: parallel attempts get no more than the limit', () => {
    const t = new FailureThrottle(5, 1000);
    const attempts = Array.from({ length: 20 }, () => t.reserve('c', 0));
    const granted = attempts.filter((a): a is AuthAttempt => a !== undefined);
    assert.equal(granted.length, 5, 'only 5 of 20 parallel attempts may check a password');
    assert.ok(t.blocked('c', 0));
    for (const a of granted) a.fail('victim', 1);
    assert.deepEqual(t.load('c', 2), { failures: 5, inFlight: 0 });
    assert.equal(t.reserve('c', 2), undefined);
  });

  it('failures and checks in flight add up to the limit', () => {
    const t = new FailureThrottle(5, 1000);
    for (let i = 0; i < 3; i++) failOnce(t, 'c', 'victim', i);
    const one = t.reserve('c', 10);
    const two = t.reserve('c', 10);
    assert.ok(one && two);
    assert.equal(t.reserve('c', 10), undefined, '3 failures + 2 in flight');
    one.release();
    assert.ok(t.reserve('c', 11), 'a check that did not happen (directory down) frees its slot and counts nothing');
    assert.equal(t.load('c', 11).failures, 3);
  });

  it('a success clears only the failures of the same user name', () => {
    const t = new FailureThrottle(5, 1000);
    failOnce(t, 'c', 'bob@example.test', 0);
    failOnce(t, 'c', 'bob@example.test', 1);
    failOnce(t, 'c', 'alice@example.test', 2);
    t.reserve('c', 3)!.succeed('ALICE@example.test');
    assert.equal(t.load('c', 3).failures, 2, "alice's mistake is forgiven, the guesses at bob are not");
  });

  it('interleaving a valid login does not reset the count', () => {
    const t = new FailureThrottle(5, 1000);
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      const guess = t.reserve('c', i);
      if (!guess) break;
      failures = guess.fail('victim@example.test', i);
      t.reserve('c', i)?.succeed('attacker@example.test');
    }
    assert.equal(failures, 5);
    assert.ok(t.blocked('c', 20));
  });

  it('an attempt settles once', () => {
    const t = new FailureThrottle(5, 1000);
    const a = t.reserve('c', 0)!;
    a.fail('x', 0);
    a.fail('x', 0);
    a.release();
    a.succeed('x');
    assert.deepEqual(t.load('c', 0), { failures: 1, inFlight: 0 });
  });

  it('keeps at most maxClients addresses, dropping the least recently active', () => {
    const t = new FailureThrottle(5, 1000, 10);
    for (let i = 0; i < 50; i++) failOnce(t, `c${i}`, 'x', i);
    assert.equal(t.size, 10);
    assert.equal(t.load('c0', 50).failures, 0, 'dropped');
    assert.equal(t.load('c49', 50).failures, 1, 'kept');
  });

  it('sweeps clients whose failures all left the window', () => {
    const t = new FailureThrottle(5, 1000);
    for (let i = 0; i < 100; i++) failOnce(t, `c${i}`, 'x', 0);
    failOnce(t, 'c100', 'x', 500);
    t.reserve('late', 1000)!.release();
    assert.equal(t.size, 2, 'c100 (inside the window) and the new client');
  });

  it('a client evicted while its check was in flight still gets the failure', () => {
    const t = new FailureThrottle(5, 1000, 2);
    const pending = t.reserve('c', 0)!;
    t.reserve('d', 1)!.release();
    t.reserve('e', 2)!.release(); // evicts c, the least recently active
    assert.equal(pending.fail('x', 3), 1);
    assert.equal(t.load('c', 3).failures, 1);
  });
});
