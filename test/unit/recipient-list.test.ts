import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { listedEntry, parseRecipientList } from '../../core/delivery/recipient-list.js';

describe('parseRecipientList', () => {
  test('addresses, @domain entries, comments and blank lines', () => {
    const list = parseRecipientList(
      [
        '# the mailstore behind the route',
        'bob@relay.test',
        '  Carol@Relay.Test   # trailing comment',
        '',
        '@all.relay.test',
        'we#ird@relay.test',
        '"quoted name"@relay.test',
        'ünï@relay.test',
      ].join('\n'),
      'list.txt',
    );
    assert.deepEqual(
      [...list.addresses].sort(),
      ['"quoted name"@relay.test', 'bob@relay.test', 'carol@relay.test', 'we#ird@relay.test', 'ünï@relay.test'].sort(),
    );
    assert.deepEqual([...list.domains], ['all.relay.test']);
  });

  test('CRLF line ends', () => {
    assert.deepEqual(
      [...parseRecipientList('a@relay.test\r\nb@relay.test\r\n', 'x').addresses],
      ['a@relay.test', 'b@relay.test'],
    );
  });

  const bad: [string, string][] = [
    [
      'bob@relay.test\nbob relay.test\n',
      'list.txt:2: expected one address per line (user@example.net or @example.net), got "bob relay.test"',
    ],
    [
      'bob@relay.test OK\n',
      'list.txt:1: expected one address per line (user@example.net or @example.net), got "bob@relay.test OK"',
    ],
    ['\n\nbob\n', 'list.txt:3: expected an address (user@example.net) or a domain (@example.net), got "bob"'],
    ['@\n', 'list.txt:1: expected a domain after "@", got "@"'],
    ['@bad_domain!\n', 'list.txt:1: expected a domain after "@", got "@bad_domain!"'],
    ['bob@\n', 'list.txt:1: expected an address (user@example.net) or a domain (@example.net), got "bob@"'],
    ['@a.test:bob@relay.test\n', 'list.txt:1: expected a domain after "@", got "@a.test:bob@relay.test"'],
    ['a..b@relay.test\n', 'list.txt:1: expected an address (user@example.net) or a domain (@example.net), got "a..b@relay.test"'],
  ];
  for (const [text, message] of bad) {
    test(`refuses ${JSON.stringify(text.trim())}, naming file and line`, () => {
      assert.throws(() => parseRecipientList(text, 'list.txt'), { message });
    });
  }
});

describe('listedEntry', () => {
  const list = parseRecipientList('bob@relay.test\nfoo-bar@relay.test\n@all.relay.test\n', 'list.txt');
  const rows: [string, string, string | undefined, string][] = [
    ['bob', 'relay.test', 'bob@relay.test', 'listed'],
    ['BOB', 'RELAY.TEST', 'bob@relay.test', 'case does not matter'],
    ['bob+tag', 'relay.test', 'bob@relay.test', 'an extension falls back to the user'],
    ['bob-a-b', 'relay.test', 'bob@relay.test', 'the shortest reading is tried last'],
    ['foo-bar', 'relay.test', 'foo-bar@relay.test', 'a delimiter in a listed name'],
    ['foo-bar-x', 'relay.test', 'foo-bar@relay.test', 'the longest user wins'],
    ['mallory', 'relay.test', undefined, 'not listed'],
    ['bobby', 'relay.test', undefined, 'a prefix is not a match'],
    ['anyone', 'all.relay.test', '@all.relay.test', 'a whole domain'],
    ['anyone', 'sub.all.relay.test', undefined, '@domain does not cover sub-domains'],
    ['bob', 'other.test', undefined, 'another domain'],
  ];
  for (const [local, domain, expected, why] of rows) {
    test(`${why}: ${local}@${domain}`, () => assert.equal(listedEntry(list, local, domain, '-+'), expected));
  }

  test('no extensions when recipient_delimiter is empty', () => {
    assert.equal(listedEntry(list, 'bob+tag', 'relay.test', ''), undefined);
  });
});
