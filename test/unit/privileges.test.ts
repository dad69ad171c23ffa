/*
 * Who `user:` and `group:` name, through the system's user database (getent):
 * names and numbers, the primary group by default, and a readable error for
 * a name that does not exist.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveRunAs } from '../../core/process/privileges.js';

test('a user name: its uid and primary group', () => {
  assert.deepEqual(resolveRunAs('nobody'), { user: 'nobody', uid: 65534, gid: 65534, group: '65534' });
});

test('a uid and a group name', () => {
  assert.deepEqual(resolveRunAs('0', 'nogroup'), { user: 'root', uid: 0, gid: 65534, group: 'nogroup' });
});

test('an unknown user or group names the key to fix', () => {
  assert.throws(() => resolveRunAs('no-such-user-qgate'), /user "no-such-user-qgate" does not exist .*fix `user:`/);
  assert.throws(() => resolveRunAs('nobody', 'no-such-group-qgate'), /group "no-such-group-qgate" does not exist .*fix `group:`/);
});
