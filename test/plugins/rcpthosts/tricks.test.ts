/*
 * The relay tricks rcpthosts refuses, on addresses as the core's parser
 * hands them over.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePath } from '../../../core/smtp/address.js';
import { relayTrick } from '../../../plugins/rcpthosts/tricks.js';

describe('relayTrick', () => {
  const cases: { path: string; trick: string | undefined }[] = [
    { path: '<user@example.test>', trick: undefined },
    { path: '<first.last+tag@example.test>', trick: undefined },
    { path: '<"quoted user"@example.test>', trick: undefined },
    { path: '<user%evil.test@example.test>', trick: '"%" hack' },
    { path: '<evil.test!user@example.test>', trick: '"!" bang path' },
    { path: '<@example.test:user@evil.test>', trick: 'source route' },
    { path: '<@a.test,@b.test:user@example.test>', trick: 'source route' },
    { path: '<"user@evil.test"@example.test>', trick: 'quoted local part with "@"' },
    { path: '<"user%evil.test"@example.test>', trick: '"%" hack' },
  ];
  for (const c of cases) {
    it(`${c.path} -> ${c.trick ?? 'ordinary'}`, () => {
      const parsed = parsePath(c.path);
      assert.ok(parsed.ok && parsed.address, `parses: ${c.path}`);
      assert.equal(relayTrick(parsed.address), c.trick);
    });
  }
});
