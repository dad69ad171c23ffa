/*
 * Password schemes of a users file, checked against hashes made by the tools
 * admins use (argon2, htpasswd-style bcrypt, slappasswd-style {SSHA}), and the
 * users file formats with their error messages.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hash as argon2 } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { schemeOf, verifyCramMd5, verifyPassword } from '../../../plugins/file-users/passwords.js';
import { readUsersFile } from '../../../plugins/file-users/users-file.js';
import { REPO, run } from '../../harness/gateway.js';

function ssha(password: string, salt: Buffer): string {
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

describe('password schemes', () => {
  it('argon2id', async () => {
    const stored = await argon2('secret');
    assert.equal(schemeOf(stored), 'argon2');
    assert.equal(await verifyPassword(stored, 'secret'), true);
    assert.equal(await verifyPassword(stored, 'Secret'), false);
  });
  it('bcrypt, including the $2y$ form of htpasswd', async () => {
    const stored = bcrypt.hashSync('secret', 4);
    assert.equal(schemeOf(stored), 'bcrypt');
    assert.equal(await verifyPassword(stored, 'secret'), true);
    assert.equal(await verifyPassword(stored, 'wrong'), false);
    const y = stored.replace(/^\$2b\$/, '$2y$');
    assert.equal(await verifyPassword(y, 'secret'), true);
  });
  it('{SSHA}', async () => {
    const stored = ssha('secret', Buffer.from('saltsalt'));
    assert.equal(schemeOf(stored), 'ssha');
    assert.equal(await verifyPassword(stored, 'secret'), true);
    assert.equal(await verifyPassword(stored, 'secret2'), false);
  });
  it('{PLAIN}', async () => {
    assert.equal(await verifyPassword('{PLAIN}secret', 'secret'), true);
    assert.equal(await verifyPassword('{PLAIN}secret', 'secre'), false);
  });
  const unknown = ['secret', '$1$abc$def', '{SHA}abc', '{SSHA}c2hvcnQ=', '$2b$04$short'];
  for (const stored of unknown) {
    it(`unknown scheme: ${stored}`, async () => {
      assert.equal(schemeOf(stored), undefined);
      assert.equal(await verifyPassword(stored, 'secret'), false);
    });
  }
  it('CRAM-MD5 digest', () => {
    const digest = createHmac('md5', 'tanstaaftanstaaf').update('<1896.697170952@postoffice.reston.mci.net>').digest('hex');
    // RFC 2195's own example.
    assert.equal(digest, 'b913a602c7eda7a495b4e6e7334d3890');
    assert.equal(verifyCramMd5('tanstaaftanstaaf', '<1896.697170952@postoffice.reston.mci.net>', digest.toUpperCase()), true);
    assert.equal(verifyCramMd5('other', '<1896.697170952@postoffice.reston.mci.net>', digest), false);
  });
});

describe('users files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-users-'));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads YAML with domains, hashes, CRAM-MD5 secrets and mailboxes', () => {
    const file = write(
      'users.yaml',
      'domains: [Example.TEST]\nusers:\n  Alice@example.test:\n    password: "{PLAIN}pw"\n    cram_md5: s\n    mailbox: /srv/alice\n',
    );
    const table = readUsersFile(file);
    assert.deepEqual([...table.domains], ['example.test']);
    assert.deepEqual(table.users.get('alice@example.test'), {
      address: 'alice@example.test',
      password: '{PLAIN}pw',
      cramMd5: 's',
      mailbox: '/srv/alice',
    });
  });
  it('reads the flat "address:hash" form with comments', () => {
    const file = write('users', '# users\nbob@example.test:{PLAIN}x\n\n');
    assert.equal(readUsersFile(file).users.get('bob@example.test')?.password, '{PLAIN}x');
  });
  const broken: { why: string; name: string; text: string; error: RegExp }[] = [
    {
      why: 'unknown scheme names file, line and user',
      name: 'a.yaml',
      text: 'users:\n  x@y.test: { password: plain }\n',
      error: /a\.yaml:2: x@y\.test: unknown password scheme/,
    },
    {
      why: 'unknown field',
      name: 'b.yaml',
      text: 'users:\n  x@y.test: { pasword: "{PLAIN}x" }\n',
      error: /b\.yaml:2: x@y\.test: unknown field "pasword"/,
    },
    {
      why: 'not an address',
      name: 'c.yaml',
      text: 'users:\n  alice: { password: "{PLAIN}x" }\n',
      error: /c\.yaml:2: "alice" is not an address/,
    },
    { why: 'YAML syntax', name: 'd.yaml', text: 'users: [\n', error: /d\.yaml:\d+:\d+: / },
    {
      why: 'flat line without a hash',
      name: 'e',
      text: 'ok@y.test:{PLAIN}x\nbad@y.test\n',
      error: /e:2: expected "user@domain:password-hash"/,
    },
  ];
  for (const c of broken) {
    it(c.why, () => assert.throws(() => readUsersFile(write(c.name, c.text)), c.error));
  }
});

describe('npm run hash-password', () => {
  it('hashes the password read from standard input with argon2id', async () => {
    const r = await run(process.execPath, [join(REPO, 'dist', 'plugins', 'file-users', 'hash-password.js')], 'pass wörd\n');
    assert.equal(r.code, 0, r.stderr);
    const stored = r.stdout.trim();
    assert.equal(schemeOf(stored), 'argon2');
    assert.equal(await verifyPassword(stored, 'pass wörd'), true);
  });
  it('refuses an empty password', async () => {
    const r = await run(process.execPath, [join(REPO, 'dist', 'plugins', 'file-users', 'hash-password.js')], '\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /empty password/);
  });
});
