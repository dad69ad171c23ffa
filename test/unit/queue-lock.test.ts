/*
 * The queue lock on a real file system: flock(2) decides who holds the queue,
 * whatever the lock file says; the file carries the holder's pid for finding it.
 * Two open file descriptions in one process conflict like two processes do.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LOCK_FILE, lockHolder, QueueLock, QueueLocked } from '../../core/queue/lock.js';

describe('QueueLock', () => {
  const dirs: string[] = [];
  const queueDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-lock-unit-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('records the pid, refuses a second holder naming it, and is free again after release', () => {
    const dir = queueDir();
    assert.equal(lockHolder(dir), undefined, 'no lock file: nobody holds the queue');
    const lock = QueueLock.acquire(dir);
    assert.equal(lock.pidRecorded, true);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'latin1'), `${process.pid}\n`);
    assert.deepEqual(lockHolder(dir), { pid: process.pid });
    assert.throws(
      () => QueueLock.acquire(dir),
      (err: unknown) => {
        assert.ok(err instanceof QueueLocked);
        assert.equal(err.pid, process.pid);
        assert.equal(err.message, `queue ${dir} is in use by the gateway with pid ${process.pid}`);
        return true;
      },
    );
    lock.release();
    assert.equal(lock.held, false);
    assert.ok(!existsSync(join(dir, LOCK_FILE)), 'released: the file is removed');
    assert.equal(lockHolder(dir), undefined);
    QueueLock.acquire(dir).release();
  });

  it('takes over a lock file nobody holds, whatever pid it names, and cuts the old content', () => {
    const dir = queueDir();
    writeFileSync(join(dir, LOCK_FILE), '1\n999999999 left by a gateway killed with -9\n');
    writeFileSync(join(dir, 'gateway.pid'), '1\n');
    assert.equal(lockHolder(dir), undefined, 'a pid in the file is not a holder');
    const lock = QueueLock.acquire(dir);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'latin1'), `${process.pid}\n`);
    assert.ok(!existsSync(join(dir, 'gateway.pid')), 'the pid file of earlier releases is removed');
    lock.release();
  });

  it('a holder whose pid is not recorded is still a holder', () => {
    const dir = queueDir();
    const lock = QueueLock.acquire(dir);
    writeFileSync(join(dir, LOCK_FILE), ''); // as after a start on a full disk
    assert.deepEqual(lockHolder(dir), { pid: undefined });
    assert.throws(() => QueueLock.acquire(dir), {
      message: `queue ${dir} is in use by another gateway (its pid is not recorded in ${LOCK_FILE}, perhaps the queue disk is full)`,
    });
    assert.equal(lock.recordPid(), true, 'recorded again once it can be written');
    assert.deepEqual(lockHolder(dir), { pid: process.pid });
    lock.release();
  });
});
