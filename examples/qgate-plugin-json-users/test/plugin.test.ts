/*
 * json-users in a real pipeline (qgate/testing): the directory hooks asked
 * directly, AUTH PLAIN over SMTP through the built-in auth plugin, the file's
 * errors, and a reload that keeps the previous table when the file breaks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TestPipeline, testPipeline } from 'qgate/testing';
import jsonUsers from '../src/index.js';
import { hashPassword, verifyPassword } from '../src/passwords.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('json-users', () => {
  let dir: string;
  let t: TestPipeline;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'json-users-'));
    writeFileSync(
      join(dir, 'users.json'),
      JSON.stringify({
        domains: ['example.test'],
        users: {
          'Alice@example.test': { password: await hashPassword('correct horse', 10), mailbox: '/srv/mail/alice/Maildir' },
          'bob@example.test': {},
        },
      }),
    );
    t = await testPipeline({
      dir,
      plugins: [
        { plugin: jsonUsers, with: { file: 'users.json', domains: ['example.org'] } },
        { use: 'auth', with: { require_tls: false, failure_delay: 0 } },
        { use: 'rcpthosts', with: { domains: ['example.test'] } },
      ],
    });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const lookups: { address: string; answer: unknown; why: string }[] = [
    {
      address: 'alice@EXAMPLE.test',
      answer: { address: 'Alice@example.test', mailbox: '/srv/mail/alice/Maildir' },
      why: 'a user, found without case, with her Maildir',
    },
    { address: 'bob@example.test', answer: { address: 'bob@example.test' }, why: 'a user without a mailbox of his own' },
    { address: 'carol@example.test', answer: null, why: 'unknown in a domain of the file: no such user' },
    { address: 'carol@example.org', answer: null, why: 'unknown in a domain from the options' },
    { address: 'carol@elsewhere.test', answer: undefined, why: 'another domain is left to the next directory' },
  ];
  for (const c of lookups) {
    it(`lookupUser ${c.address}: ${c.why}`, async () => assert.deepEqual(await t.lookupUser(c.address), c.answer));
  }

  it('authenticate checks the password against the scrypt hash', async () => {
    const ask = (username: string, password: string, mechanism = 'PLAIN') => t.authenticate({ mechanism, username, password });
    assert.deepEqual(await ask('alice@example.test', 'correct horse'), { ok: true, user: 'Alice@example.test' });
    assert.deepEqual(await ask('alice@example.test', 'wrong'), { ok: false });
    assert.deepEqual(await ask('bob@example.test', ''), { ok: false }, 'a user without a password cannot log in');
    assert.deepEqual(await ask('alice@example.test', 'correct horse', 'CRAM-MD5'), { ok: false });
    assert.deepEqual(await ask('nobody@example.test', 'x'), { ok: false });
    assert.equal(await ask('nobody@elsewhere.test', 'x'), undefined);
  });

  it('serves SMTP AUTH through the auth plugin', async () => {
    const client = await t.connect();
    await client.command('EHLO client.example.test');
    assert.equal(
      (await client.command(`AUTH PLAIN ${b64('\0alice@example.test\0wrong')}`)).full,
      '535 5.7.8 Error: authentication failed',
    );
    assert.equal(
      (await client.command(`AUTH PLAIN ${b64('\0alice@example.test\0correct horse')}`)).full,
      '235 2.7.0 Authentication successful',
    );
    assert.equal((await client.command('MAIL FROM:<alice@example.test>')).code, 250);
    assert.equal((await client.command('RCPT TO:<friend@elsewhere.test>')).code, 250, 'an authenticated client may relay');
    await client.quit();
  });

  it('a file that breaks keeps the previous table at reload', async () => {
    writeFileSync(join(dir, 'users.json'), '{ "users": { "not-an-address": {} } }');
    await t.reload();
    const error = await t.waitForLog((l) => l.plugin === 'json-users' && l.level === 'error');
    assert.match(error.msg, /users reload failed; keeping the previous users/);
    assert.match(String((error.err as { message?: string } | undefined)?.message), /users\.json: \/users\/not-an-address/);
    assert.equal((await t.lookupUser('alice@example.test'))?.address, 'Alice@example.test');
  });
});

describe('json-users file errors stop the pipeline', () => {
  const cases: { content: string; error: RegExp; why: string }[] = [
    { content: '{', error: /users\.json: .*JSON/, why: 'not JSON' },
    { content: '{"users":{"a@b.test":{"pasword":"x"}}}', error: /\/users\/a@b\.test\/pasword/, why: 'an unknown field' },
    {
      content: '{"users":{"a@b.test":{"password":"secret"}}}',
      error: /password: not a \$scrypt\$ hash/,
      why: 'a cleartext password',
    },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'json-users-'));
      writeFileSync(join(dir, 'users.json'), c.content);
      try {
        await assert.rejects(testPipeline({ dir, plugins: [{ plugin: jsonUsers, with: { file: 'users.json' } }] }), c.error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('password hashes', () => {
  it('round-trip, with a fresh salt each time', async () => {
    const [one, two] = [await hashPassword('pässword', 10), await hashPassword('pässword', 10)];
    assert.match(one, /^\$scrypt\$ln=10,r=8,p=1\$/);
    assert.notEqual(one, two);
    assert.equal(await verifyPassword(one, 'pässword'), true);
    assert.equal(await verifyPassword(one, 'pa\u0308ssword'), true, 'NFC: the same password typed another way');
    assert.equal(await verifyPassword(one, 'password'), false);
  });

  it('refuse hashes whose parameters would make a login cost too much', async () => {
    assert.equal(
      await verifyPassword('$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'x'),
      false,
    );
  });
});
