/*
 * Secret option values: a literal, { env: NAME } or { file: path } become the
 * string; an unset variable or an unreadable file is a configuration problem at
 * that option's file, line and column, which never shows the value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveSecret, Secret } from '../../core/config/secret.js';
import { SourceFile } from '../../core/config/source.js';
import { validate } from '../../core/config/validate.js';
import { Type } from '../../core/plugin-api/index.js';

const dir = mkdtempSync(join(tmpdir(), 'qgate-secret-'));
writeFileSync(join(dir, 'bind.pw'), 's3cret\n');
writeFileSync(join(dir, 'two-lines.pw'), 'line1\nline2\n\n');
writeFileSync(join(dir, 'crlf.pw'), 'pw\r\n');
writeFileSync(join(dir, 'big.pw'), 'x'.repeat(70_000));
const env = { QGATE_TEST_PW: 'from-env', EMPTY: '' };

describe('resolveSecret', () => {
  const rows: { why: string; value: unknown; expected: string | RegExp }[] = [
    { why: 'a literal string is itself', value: 'plain', expected: 'plain' },
    { why: 'an environment variable', value: { env: 'QGATE_TEST_PW' }, expected: 'from-env' },
    { why: 'an empty variable is a value', value: { env: 'EMPTY' }, expected: '' },
    { why: 'a file, relative to the config directory, newline stripped', value: { file: 'bind.pw' }, expected: 's3cret' },
    { why: 'an absolute file path', value: { file: join(dir, 'bind.pw') }, expected: 's3cret' },
    { why: 'only one trailing newline is stripped', value: { file: 'two-lines.pw' }, expected: 'line1\nline2\n' },
    { why: 'a CRLF ending is stripped', value: { file: 'crlf.pw' }, expected: 'pw' },
    { why: 'an unset variable', value: { env: 'QGATE_NOT_SET' }, expected: /environment variable QGATE_NOT_SET is not set/ },
    { why: 'a bad variable name', value: { env: 'A-B' }, expected: /name of an environment variable/ },
    { why: 'a missing file', value: { file: 'nope.pw' }, expected: /cannot read .*nope\.pw: no such file/ },
    { why: 'a file too large to be a secret', value: { file: 'big.pw' }, expected: /larger than 65536 octets/ },
    { why: 'both keys', value: { env: 'A', file: 'b' }, expected: /expected a string, \{ env: NAME \} or \{ file: path \}/ },
    { why: 'another key', value: { vault: 'x' }, expected: /expected a string/ },
    { why: 'a number', value: 42, expected: /expected a string/ },
    { why: 'an empty path', value: { file: '' }, expected: /file: expected a path/ },
  ];
  for (const row of rows) {
    test(row.why, () => {
      const got = resolveSecret(row.value, dir, env);
      if (typeof row.expected === 'string') assert.deepEqual(got, { ok: true, value: row.expected });
      else {
        assert.equal(got.ok, false);
        assert.match(got.ok ? '' : got.message, row.expected);
      }
    });
  }
});

describe('Secret() in an options schema', () => {
  const schema = Type.Object(
    { bind_password: Type.Optional(Secret()), url: Secret({ default: '' }) },
    { additionalProperties: false },
  );
  const check = (yaml: string) => {
    const source = SourceFile.parse(`with:\n${yaml.replace(/^/gm, '  ')}`, join(dir, 'inbound.yaml'));
    return validate<{ bind_password?: string; url: string }>(schema, source.value(['with']), source, ['with'], dir);
  };

  test('the plugin sees the string a file names', () => {
    const checked = check('bind_password: { file: bind.pw }\n');
    assert.ok(checked.ok);
    assert.deepEqual(checked.value, { bind_password: 's3cret', url: '' });
  });

  test('the plugin sees the string a variable names', () => {
    process.env.QGATE_SECRET_TEST = 'pw-from-environment';
    try {
      const checked = check('bind_password: { env: QGATE_SECRET_TEST }\n');
      assert.ok(checked.ok);
      assert.equal(checked.value.bind_password, 'pw-from-environment');
    } finally {
      delete process.env.QGATE_SECRET_TEST;
    }
  });

  test('an unset variable is a positioned problem naming the key', () => {
    const checked = check('url: x\nbind_password:\n  env: QGATE_UNSET_FOR_TEST\n');
    assert.equal(checked.ok, false);
    const [problem] = checked.ok ? [] : checked.problems;
    assert.equal(problem?.key, 'with.bind_password');
    assert.equal(problem?.line, 4);
    assert.match(problem?.message ?? '', /environment variable QGATE_UNSET_FOR_TEST is not set/);
  });

  test('an unreadable file is a positioned problem that does not show the value', () => {
    const checked = check('bind_password: { file: missing.pw }\n');
    assert.equal(checked.ok, false);
    const [problem] = checked.ok ? [] : checked.problems;
    assert.equal(problem?.key, 'with.bind_password');
    assert.equal(problem?.line, 2);
    assert.match(problem?.message ?? '', /cannot read .*missing\.pw: no such file$/);
  });

  test('a malformed value does not echo a literal', () => {
    const checked = check('bind_password: { env: X, file: y }\n');
    assert.equal(checked.ok, false);
    assert.doesNotMatch(JSON.stringify(checked), /got/);
  });
});
