/*
 * rcpthosts control files, as qmail's (the matching is test/unit/domain-set.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseControlFile } from '../../../plugins/rcpthosts/domains.js';

describe('parseControlFile', () => {
  it('reads one entry per line, skipping comments and blank lines', () => {
    assert.deepEqual(parseControlFile('# our domains\nexample.net\n\n  .example.org  # subs\r\n#x\n'), [
      'example.net',
      '.example.org',
    ]);
  });
});
