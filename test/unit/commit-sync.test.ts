/*
 * queue.commit_sync "auto": the queue's file system read from mountinfo (the
 * longest mount point holding the path, later mounts over earlier ones, octal
 * escapes in paths), and what that file system comes to on this machine,
 * against util-linux's findmnt.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileSystemOf, resolveCommitSync } from '../../core/queue/commit-sync.js';

const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
  '30 27 0:27 / /var/spool rw,relatime shared:5 - xfs /dev/vdb rw',
  '31 30 0:28 / /var/spool/qgate\\040queue rw,relatime - btrfs /dev/vdc rw',
  '32 27 0:29 / /srv rw - tmpfs tmpfs rw',
  '33 27 0:30 / /srv rw master:7 - nfs4 server:/export rw',
  '34 27 0:31 / /data rw - ext3 /dev/vdd rw',
  'not a mountinfo line',
  '',
].join('\n');

describe('commit_sync: the file system of the queue', () => {
  const cases: [string, string | undefined][] = [
    ['/var/spool/qgate', 'xfs'],
    ['/var/spool', 'xfs'],
    ['/var/spooled', 'ext4'],
    ['/var/spool/qgate queue/messages', 'btrfs'],
    ['/srv/queue', 'nfs4'],
    ['/home/user/var/queue', 'ext4'],
    ['/data/q', 'ext3'],
  ];
  for (const [path, type] of cases) {
    test(`${path} is on ${type}`, () => assert.equal(fileSystemOf(MOUNTINFO, path), type));
  }

  test('no mount holds the path in a table without /', () => {
    assert.equal(fileSystemOf('22 27 0:21 / /proc rw - proc proc rw\n', '/var/queue'), undefined);
  });
});

describe('commit_sync "auto" on this machine', () => {
  /** The file system findmnt (util-linux) sees at path: the last of the mounts stacked there. */
  function findmnt(path: string): string {
    const types = execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', path], { encoding: 'utf8' }).trim();
    return types.split('\n').at(-1)!;
  }

  test('a queue under the temporary directory: its file system as findmnt sees it, one flush only on ext3/ext4/XFS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-commit-sync-'));
    try {
      const queue = join(dir, 'queue', 'not-yet-made');
      const resolved = resolveCommitSync('auto', queue);
      const type = findmnt(dir);
      assert.equal(resolved.fileSystem, type);
      assert.equal(resolved.commitSync, ['ext3', 'ext4', 'xfs'].includes(type) ? 'file' : 'directory');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a queue on tmpfs (/dev/shm) keeps the directory fsync', () => {
    assert.equal(findmnt('/dev/shm'), 'tmpfs');
    assert.deepEqual(resolveCommitSync('auto', '/dev/shm/qgate-queue'), { commitSync: 'directory', fileSystem: 'tmpfs' });
  });

  test('a setting other than auto is taken as it is', () => {
    assert.equal(resolveCommitSync('directory', tmpdir()).commitSync, 'directory');
    assert.equal(resolveCommitSync('file', '/dev/shm/q').commitSync, 'file');
  });
});
