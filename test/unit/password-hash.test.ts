/*
 * The password schemes of user directories, checked against hashes made by the
 * tools admins use: `doveadm pw` (Dovecot 2.3), `mkpasswd` (Debian's whois),
 * `slappasswd` (OpenLDAP), Python's crypt module, and argon2/bcrypt libraries.
 * All hashes below are of PASSWORD unless they say otherwise.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { hash as argon2 } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import {
  MAX_SHA_CRYPT_ROUNDS,
  type PasswordPolicy,
  type PasswordScheme,
  passwordScheme,
  verifyCramMd5,
  verifyPassword,
} from '../../core/plugin-api/index.js';

const PASSWORD = 'Tr0ub4dor&3';

interface Case {
  readonly made: string;
  readonly stored: string;
  readonly scheme: PasswordScheme;
  readonly policy?: PasswordPolicy;
  readonly password?: string;
}

const MADE_BY_TOOLS: readonly Case[] = [
  {
    made: 'doveadm pw -s SHA512-CRYPT',
    stored:
      '{SHA512-CRYPT}$6$CGqUV/q0gfy5gSLc$rBMyILW4i8j9Il42d7jWzmDeDZgPHpP/cCKgxq1iVbeh6i..1xYlyHcPm7hRySv6oWSyFEhobalQTuAFKurIU/',
    scheme: 'sha-crypt',
  },
  {
    made: 'doveadm pw -s SHA512-CRYPT -r 10000',
    stored:
      '{SHA512-CRYPT}$6$rounds=10000$vvPO1YrdqLt9gb3U$w7UJxn51CgM.U6TNtloQA63LxmAI72nBOTJzLLCpS9VXvKGXyGGXVDkxJ5n/39aO6ogG6vO4AtZ6jqNtTb7QN/',
    scheme: 'sha-crypt',
  },
  {
    made: 'doveadm pw -s SHA256-CRYPT',
    stored: '{SHA256-CRYPT}$5$Uf913S3HzBdob6tM$0TZaA7zOW/YSe8CUwLdgKTgrq/NU./wjEPSHBxJXho6',
    scheme: 'sha-crypt',
  },
  {
    made: 'doveadm pw -s BLF-CRYPT',
    stored: '{BLF-CRYPT}$2y$05$tzkhrOSk8MjHW3OIS6Q36.m.Ez9OzGdZ9BMRRL8u3DZYo9XRHPePy',
    scheme: 'bcrypt',
  },
  {
    made: 'doveadm pw -s ARGON2ID',
    stored: '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$3CDyBJECzoCZU+X+xHfL9w$TTMfhejgG72YzPTYePteDcPKJFf1iVTiVBXM9Z/3BPw',
    scheme: 'argon2',
  },
  { made: 'doveadm pw -s SSHA', stored: '{SSHA}ZDS6PHpJ3xKOqRhmjYB8r3spgyfbvqXL', scheme: 'ssha' },
  { made: 'doveadm pw -s SHA', stored: '{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=', scheme: 'sha' },
  {
    made: 'doveadm pw -s SSHA512',
    stored: '{SSHA512}uf7rvv0aixVq2uNCUfsEaPvnDiCbyCyrrpHRggWwZNmBHR9f+o3CoiCprs/paPsiv9j0Akp2+zjdCYPCedBg4KJ8tlo=',
    scheme: 'ssha512',
  },
  { made: 'doveadm pw -s SSHA256', stored: '{SSHA256}J+3L8wTsVKkoZZqyjTqYZftUKZlAWT8hsJMU63pPHZY7NUyu', scheme: 'ssha256' },
  { made: 'doveadm pw -s MD5-CRYPT', stored: '{MD5-CRYPT}$1$oQwo05Uk$2p1S2.T9OOvQKSazoUzIh1', scheme: 'md5-crypt' },
  {
    made: 'doveadm pw -s CRYPT (bcrypt payload)',
    stored: '{CRYPT}$2y$05$AwIjynoHpCzyaJ9N6uhwVOiJl.y8D4EeAKIl1y2RUGu8XlFLrX8qm',
    scheme: 'bcrypt',
  },
  { made: 'doveadm pw -s PLAIN', stored: '{PLAIN}Tr0ub4dor&3', scheme: 'plain', policy: { plaintext: true } },
  { made: 'doveadm pw -s CLEARTEXT', stored: '{CLEARTEXT}Tr0ub4dor&3', scheme: 'plain', policy: { plaintext: true } },
  {
    made: 'mkpasswd -m sha-512',
    stored: '$6$NC.7z7Wk.H9Hr2CF$7lMpPqvEBxGPjFz7SwTZp7TQpOKzhAERVWDSGDolr6QMM5zaujMypuY6an8guMGVqJ0rQN8FJlGRSfJzNitFI.',
    scheme: 'sha-crypt',
  },
  {
    made: 'mkpasswd -m sha-512 -R 20000',
    stored:
      '$6$rounds=20000$S6JVFyD1D/ppLR8t$MvHymfoCfrPrpo3/tPJpIwV9CUAv.kVubPiv3f0oWsDUoS4qPSPOQb1uHH1.oEi4YqRfD01cnvYFyF8YZgl3T0',
    scheme: 'sha-crypt',
  },
  { made: 'mkpasswd -m sha-256', stored: '$5$6KgqC8WEmwzTaJgF$BXejJQZhd8i3dF1iG23vC42RWin1f/bETtWKdzZ2DL3', scheme: 'sha-crypt' },
  { made: 'mkpasswd -m md5', stored: '$1$ZN1bLFYI$G8YFr4SxjfVVz.sx7sGX2/', scheme: 'md5-crypt' },
  { made: 'mkpasswd -m des, as {CRYPT}', stored: '{CRYPT}yZIL/wY6Un1N6', scheme: 'des-crypt' },
  {
    made: 'mkpasswd -m des, bare, with defaultScheme CRYPT',
    stored: 'yZIL/wY6Un1N6',
    scheme: 'des-crypt',
    policy: { defaultScheme: 'CRYPT' },
  },
  { made: 'mkpasswd -m bcrypt', stored: '$2b$05$r/AEoXGBj3.uSbjOM7fPy.id0.k837VyQR6h5S1RPwk4FMgv7/p46', scheme: 'bcrypt' },
  { made: "slappasswd -h '{SSHA}'", stored: '{SSHA}dcPlMhUCeUj7DyapNKBllUyLzjMaDCLy', scheme: 'ssha' },
  { made: "slappasswd -h '{SHA}'", stored: '{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=', scheme: 'sha' },
  {
    made: "slappasswd -h '{CRYPT}' -c '$6$%.16s'",
    stored: '{CRYPT}$6$GIvr1ttiMtEeW2iy$oZuCa2DIMsYE6BccF0vx4KMcddohjdiYjl.8s8OCQI6Z80DoTuLz/5WEDz3EoyXFYvgs/JE6igRDEKDCR/kcW/',
    scheme: 'sha-crypt',
  },
  {
    made: 'python3 crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512)), a non-ASCII password',
    stored: '$6$DgDHTNtYGnA6teAN$U3RQ0lCq5C8X8gGQFWJK8MCy1G9NT5Kw8db4whCKClsID2u0wzJ5frlY..PGsTCkIaJFWxi6ACyEbkIeXaZQm/',
    scheme: 'sha-crypt',
    password: 'pässwörd',
  },
];

describe('password hashes made by real tools', () => {
  for (const c of MADE_BY_TOOLS) {
    const password = c.password ?? PASSWORD;
    it(`${c.made}: ${c.scheme}`, async () => {
      assert.equal(passwordScheme(c.stored, c.policy), c.scheme);
      assert.equal(await verifyPassword(c.stored, password, c.policy), true, 'the right password');
      assert.equal(await verifyPassword(c.stored, `x${password}`, c.policy), false, 'one character more');
      assert.equal(await verifyPassword(c.stored, password.toUpperCase(), c.policy), false, 'other case');
      assert.equal(await verifyPassword(c.stored, '', c.policy), false, 'empty');
    });
  }
  it('DES crypt reads only the first 8 characters, as crypt(3) does', async () => {
    assert.equal(await verifyPassword('{CRYPT}yZIL/wY6Un1N6', `${PASSWORD.slice(0, 8)}anything`), true);
  });
  it('a scheme prefix is read in any case, as Dovecot does', async () => {
    assert.equal(await verifyPassword('{ssha}ZDS6PHpJ3xKOqRhmjYB8r3spgyfbvqXL', PASSWORD), true);
  });
});

describe('hashes made here by the libraries', () => {
  it('argon2id, bare', async () => {
    const stored = await argon2('secret');
    assert.equal(passwordScheme(stored), 'argon2');
    assert.equal(await verifyPassword(stored, 'secret'), true);
    assert.equal(await verifyPassword(stored, 'Secret'), false);
  });
  it('bcrypt, including the $2y$ form of htpasswd', async () => {
    const stored = bcrypt.hashSync('secret', 4);
    assert.equal(passwordScheme(stored), 'bcrypt');
    assert.equal(await verifyPassword(stored, 'secret'), true);
    assert.equal(await verifyPassword(stored, 'wrong'), false);
    assert.equal(await verifyPassword(stored.replace(/^\$2b\$/, '$2y$'), 'secret'), true);
  });
  it('{SSHA} with a long salt', async () => {
    const salt = Buffer.from('a salt of sixteen', 'utf8');
    const stored = `{SSHA}${Buffer.concat([createHash('sha1').update('secret').update(salt).digest(), salt]).toString('base64')}`;
    assert.equal(await verifyPassword(stored, 'secret'), true);
    assert.equal(await verifyPassword(stored, 'secret2'), false);
  });
});

describe('what never matches', () => {
  const never: { why: string; stored: string; policy?: PasswordPolicy }[] = [
    { why: 'cleartext without a prefix', stored: PASSWORD },
    { why: '{PLAIN} when plaintext is not allowed', stored: `{PLAIN}${PASSWORD}` },
    { why: '{CLEARTEXT} when plaintext is not allowed', stored: `{CLEARTEXT}${PASSWORD}` },
    { why: 'bare cleartext with defaultScheme PLAIN but plaintext off', stored: PASSWORD, policy: { defaultScheme: 'PLAIN' } },
    { why: 'bare DES crypt without defaultScheme CRYPT', stored: 'yZIL/wY6Un1N6' },
    { why: 'a truncated MD5-crypt', stored: '$1$abc$def' },
    { why: '{SHA} of the wrong length', stored: '{SHA}abc' },
    { why: '{SSHA} without a salt', stored: '{SSHA}h0Vy56WuaklGamrFeLmK26eMaqY=' },
    { why: 'a short bcrypt', stored: '$2b$04$short' },
    { why: 'an unknown scheme', stored: '{MD4}abc' },
    { why: 'a SHA-512 payload under {SHA256-CRYPT}', stored: `{SHA256-CRYPT}${MADE_BY_TOOLS[13]!.stored}` },
    {
      why: 'an argon2 payload under {CRYPT}',
      stored: '{CRYPT}$argon2id$v=19$m=65536,t=3,p=1$3CDyBJECzoCZU+X+xHfL9w$TTMfhejgG72YzPTYePteDcPKJFf1iVTiVBXM9Z/3BPw',
    },
    { why: 'empty', stored: '' },
  ];
  for (const c of never) {
    it(c.why, async () => {
      assert.equal(passwordScheme(c.stored, c.policy), undefined);
      assert.equal(await verifyPassword(c.stored, PASSWORD, c.policy), false);
      assert.equal(await verifyPassword(c.stored, c.stored, c.policy), false, 'the stored value itself');
    });
  }
  it(`SHA-crypt with more than ${MAX_SHA_CRYPT_ROUNDS} rounds is refused, not computed`, async () => {
    const stored = `$6$rounds=${MAX_SHA_CRYPT_ROUNDS + 1}$saltsalt$${'a'.repeat(86)}`;
    const started = Date.now();
    assert.equal(passwordScheme(stored), undefined);
    assert.equal(await verifyPassword(stored, PASSWORD), false);
    assert.ok(Date.now() - started < 100, 'answered without hashing');
  });
});

describe('CRAM-MD5', () => {
  it("RFC 2195's own example", () => {
    const challenge = '<1896.697170952@postoffice.reston.mci.net>';
    const digest = createHmac('md5', 'tanstaaftanstaaf').update(challenge).digest('hex');
    assert.equal(digest, 'b913a602c7eda7a495b4e6e7334d3890');
    assert.equal(verifyCramMd5('tanstaaftanstaaf', challenge, digest.toUpperCase()), true);
    assert.equal(verifyCramMd5('other', challenge, digest), false);
  });
});
