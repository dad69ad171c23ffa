/*
 * The SASL exchanges of SMTP AUTH, driven by a scripted client: what each
 * mechanism asks, how it decodes, and what counts as malformed or cancelled.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Ask, cramChallenge, cramMd5, login, plain } from '../../../plugins/auth/sasl.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
/** Base64 of text and raw octets, for responses that are not UTF-8. */
const bytes64 = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))).toString('base64');

/** A client that answers the challenges with `lines`, recording what it was asked. */
function script(lines: string[]): { ask: Ask; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    ask: async (challenge) => {
      asked.push(challenge);
      const line = lines.shift();
      if (line === undefined) throw new Error('client has nothing more to say');
      return line;
    },
  };
}

describe('PLAIN (RFC 4616)', () => {
  const cases: { why: string; initial?: string; lines?: string[]; kind: string; user?: string; password?: string }[] = [
    {
      why: 'initial response',
      initial: b64('\0alice@example.test\0secret'),
      kind: 'credentials',
      user: 'alice@example.test',
      password: 'secret',
    },
    { why: 'after an empty 334', lines: [b64('\0bob\0pw')], kind: 'credentials', user: 'bob', password: 'pw' },
    { why: 'authzid equal to the user', initial: b64('bob\0bob\0pw'), kind: 'credentials', user: 'bob', password: 'pw' },
    { why: 'authzid of someone else', initial: b64('admin\0bob\0pw'), kind: 'malformed' },
    { why: 'two fields only', initial: b64('bob\0pw'), kind: 'malformed' },
    { why: 'empty user', initial: b64('\0\0pw'), kind: 'malformed' },
    { why: 'not base64', initial: 'not*base64', kind: 'malformed' },
    { why: 'empty initial response "="', initial: '=', kind: 'malformed' },
    { why: 'cancelled with "*"', lines: ['*'], kind: 'cancelled' },
    { why: 'cancelled as the initial response', initial: '*', kind: 'cancelled' },
    // Found by fuzzing: invalid UTF-8 was decoded to U+FFFD, so different octets gave the same user name or password.
    { why: 'a user name that is not UTF-8', initial: bytes64('\0', [0xff, 0xfe], '\0pw'), kind: 'malformed' },
    { why: 'an overlong "/" in the user name', initial: bytes64('\0a', [0xc0, 0xaf], 'b\0pw'), kind: 'malformed' },
    { why: 'a UTF-16 surrogate in the password', initial: bytes64('\0u\0', [0xed, 0xa0, 0x80]), kind: 'malformed' },
    {
      why: 'a leading byte order mark stays part of the user name',
      initial: b64('\0\ufeffu\0pw'),
      kind: 'credentials',
      user: '\ufeffu',
      password: 'pw',
    },
    {
      why: 'password with spaces and UTF-8',
      initial: b64('\0u\0pass wörd'),
      kind: 'credentials',
      user: 'u',
      password: 'pass wörd',
    },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const { ask, asked } = script([...(c.lines ?? [])]);
      const out = await plain(c.initial, ask);
      assert.equal(out.kind, c.kind);
      if (out.kind === 'credentials') {
        assert.equal(out.credentials.username, c.user);
        assert.equal(out.credentials.password, c.password);
      }
      if (c.initial === undefined) assert.deepEqual(asked, ['']);
    });
  }
});

describe('LOGIN', () => {
  it('asks for the user name and the password', async () => {
    const { ask, asked } = script([b64('alice'), b64('secret')]);
    const out = await login(undefined, ask);
    assert.deepEqual(asked, [b64('Username:'), b64('Password:')]);
    assert.equal(out.kind, 'credentials');
    if (out.kind === 'credentials')
      assert.deepEqual(out.credentials, { mechanism: 'LOGIN', username: 'alice', password: 'secret' });
  });
  it('refuses a password that is not UTF-8 (found by fuzzing)', async () => {
    const { ask } = script([bytes64([0xe9, 0x74, 0xe9])]);
    assert.equal((await login(b64('alice'), ask)).kind, 'malformed');
  });
  it('takes the user name as the initial response', async () => {
    const { ask, asked } = script([b64('secret')]);
    const out = await login(b64('alice'), ask);
    assert.deepEqual(asked, [b64('Password:')]);
    assert.equal(out.kind, 'credentials');
  });
  it('can be cancelled at the password', async () => {
    const { ask } = script([b64('alice'), '*']);
    assert.equal((await login(undefined, ask)).kind, 'cancelled');
  });
  it('refuses a user name that is not base64', async () => {
    const { ask } = script(['%%%']);
    assert.equal((await login(undefined, ask)).kind, 'malformed');
  });
});

describe('CRAM-MD5 (RFC 2195)', () => {
  it('sends a unique challenge and returns the digest to check', async () => {
    const challenge = cramChallenge('mx.test');
    assert.match(challenge, /^<\d+\.\d+@mx\.test>$/);
    assert.notEqual(challenge, cramChallenge('mx.test'));
    const digest = createHmac('md5', 'secret').update(challenge).digest('hex');
    const { ask, asked } = script([b64(`alice ${digest}`)]);
    const out = await cramMd5(undefined, ask, challenge);
    assert.deepEqual(asked, [b64(challenge)]);
    assert.equal(out.kind, 'credentials');
    if (out.kind === 'credentials') {
      assert.deepEqual(out.credentials, { mechanism: 'CRAM-MD5', username: 'alice', challenge, response: digest });
    }
  });
  it('refuses an initial response and a response that is not "user digest"', async () => {
    assert.equal((await cramMd5(b64('x'), script([]).ask, '<1@x>')).kind, 'malformed');
    assert.equal((await cramMd5(undefined, script([b64('alice nothex')]).ask, '<1@x>')).kind, 'malformed');
  });
});
