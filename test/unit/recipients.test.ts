/*
 * Which envelope recipients are the same address (RFC 5321 2.4): the rows
 * say what one delivery serves and what stays two.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupDuplicates, recipientKey } from '../../core/delivery/recipients.js';

describe('recipientKey', () => {
  const rows: { a: string; b: string; same: boolean; why: string }[] = [
    { a: 'u@example.test', b: 'u@example.test', same: true, why: 'the same RCPT twice' },
    { a: 'u@EXAMPLE.test', b: 'u@example.test', same: true, why: 'domains compare without case' },
    { a: 'U@example.test', b: 'u@example.test', same: false, why: 'local parts are case-sensitive (RFC 5321 2.4)' },
    { a: '"u"@example.test', b: 'u@example.test', same: true, why: 'quoting is syntax, not part of the mailbox' },
    { a: '"u.v"@example.test', b: 'u.v@example.test', same: true, why: 'a quoted dot-atom is the dot-atom' },
    { a: '"u\\"v"@example.test', b: '"u\\"v"@EXAMPLE.test', same: true, why: 'quoted pairs are undone alike' },
    { a: '"a@b"@example.test', b: 'a@b.example.test', same: false, why: 'the last "@" splits' },
    { a: 'u@example.test', b: 'u@example.test.', same: false, why: 'a trailing dot is another name; nothing is guessed' },
    { a: 'Postmaster', b: 'postmaster', same: true, why: 'the bare postmaster has no case (RFC 5321 4.5.1)' },
    { a: 'u', b: 'U', same: false, why: 'other bare names stay as written' },
  ];
  for (const row of rows) {
    it(row.why, () => assert.equal(recipientKey(row.a) === recipientKey(row.b), row.same, `${row.a} / ${row.b}`));
  }
});

describe('groupDuplicates', () => {
  it('keeps first-seen order and the first spelling first', () => {
    assert.deepEqual(
      [...groupDuplicates(['b@x.test', 'a@X.TEST', 'b@X.test', 'a@x.test', 'A@x.test']).values()],
      [['b@x.test', 'b@X.test'], ['a@X.TEST', 'a@x.test'], ['A@x.test']],
    );
  });
  it('no recipients, no groups', () => assert.equal(groupDuplicates([]).size, 0));
});
