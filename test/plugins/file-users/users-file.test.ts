/*
 * The users file formats with their error messages, and the hash-password
 * helper. The password schemes themselves: test/unit/password-hash.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { passwordScheme, verifyPassword } from '../../../core/plugin-api/index.js';
import { readUsersFile } from '../../../plugins/file-users/users-file.js';
import { REPO, run } from '../../harness/gateway.js';

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
    assert.equal(passwordScheme(stored), 'argon2');
    assert.equal(await verifyPassword(stored, 'pass wörd'), true);
  });
  it('refuses an empty password', async () => {
    const r = await run(process.execPath, [join(REPO, 'dist', 'plugins', 'file-users', 'hash-password.js')], '\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /empty password/);
  });
});
