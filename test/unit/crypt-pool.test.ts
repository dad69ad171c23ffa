/*
 * The crypt pool's bound: checks submitted faster than the threads take them
 * wait in a queue of MAX_QUEUED; the ones past it are refused at once (never
 * queued without end), the others all compute the right crypt(3) string, and
 * the pool takes checks again afterwards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CRYPT_THREADS, cryptOffThread, MAX_QUEUED } from '../../core/security/crypt-pool.js';

/** mkpasswd -m des -S yZ 'Tr0ub4dor&3' */
const DES = 'yZIL/wY6Un1N6';
const MD5 = '$1$ZN1bLFYI$G8YFr4SxjfVVz.sx7sGX2/';

describe('crypt pool', () => {
  it('refuses checks past its queue, computes the rest, and recovers', async () => {
    const submitted = MAX_QUEUED + CRYPT_THREADS + 50;
    const results = await Promise.allSettled(
      Array.from({ length: submitted }, () => cryptOffThread({ scheme: 'des-crypt', password: 'Tr0ub4dor&3', stored: DES })),
    );
    const done = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(refused.length >= 50, `${refused.length} refused of ${submitted}`);
    assert.ok(done.length >= MAX_QUEUED, `${done.length} computed`);
    for (const r of done) assert.equal(r.value, DES);
    assert.equal(await cryptOffThread({ scheme: 'md5-crypt', password: 'Tr0ub4dor&3', stored: MD5 }), MD5);
    assert.notEqual(await cryptOffThread({ scheme: 'md5-crypt', password: 'wrong', stored: MD5 }), MD5);
  });
});
