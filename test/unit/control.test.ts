/*
 * Requests from `qgate queue flush|remove|bounce` to a running gateway: one
 * file per request, taken once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { takeControlRequests, writeControlRequest } from '../../core/delivery/control.js';

describe('control requests', () => {
  it('are written as files and taken exactly once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-control-'));
    writeControlRequest(dir, { action: 'flush', id: undefined });
    writeControlRequest(dir, { action: 'bounce', id: '0MWT707BG0038AI' });
    const taken = takeControlRequests(dir).sort((a, b) => a.action.localeCompare(b.action));
    assert.deepEqual(taken, [
      { action: 'bounce', id: '0MWT707BG0038AI' },
      { action: 'flush', id: undefined },
    ]);
    assert.deepEqual(takeControlRequests(dir), []);
  });

  it('refuse something that is not a queue id', () => {
    assert.throws(() => writeControlRequest(tmpdir(), { action: 'remove', id: '../../etc/passwd' }), /not a queue id/);
  });
});
