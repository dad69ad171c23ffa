/*
 * Secret option values (a bind password, a database URL): a plugin option made
 * with Secret() takes a literal string, `{ env: NAME }` (that environment
 * variable) or `{ file: path }` (that file's text, one trailing newline
 * stripped; a relative path starts at the config file's directory), so secrets
 * stay out of the YAML. Resolved by the validator (validate.ts) at start-up,
 * `check config` and every reload, so the plugin only ever sees the string.
 * A variable that is unset or a file that cannot be read is a configuration
 * error at that option. Values are never put into error messages.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Type } from '@sinclair/typebox';

/** A string option that may come from `{ env: NAME }` or `{ file: path }`. */
export function Secret(options: { description?: string; default?: string } = {}) {
  return Type.Unsafe<string>({ secret: true, ...options });
}

/** Longest secret file read: a password or a URL, not a data file read by mistake. */
const MAX_SECRET_FILE = 64 * 1024;

export type SecretResolution = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly message: string };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The string `value` stands for; `dir` is where relative file paths start. */
export function resolveSecret(value: unknown, dir: string, env: NodeJS.ProcessEnv = process.env): SecretResolution {
  if (typeof value === 'string') return { ok: true, value };
  const keys = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
  if (keys.length !== 1 || (keys[0] !== 'env' && keys[0] !== 'file')) {
    return { ok: false, message: 'expected a string, { env: NAME } or { file: path }' };
  }
  const source = (value as Record<string, unknown>)[keys[0]];
  if (keys[0] === 'env') {
    if (typeof source !== 'string' || !ENV_NAME.test(source)) {
      return { ok: false, message: 'env: expected the name of an environment variable (letters, digits, "_")' };
    }
    const found = env[source];
    if (found === undefined) return { ok: false, message: `environment variable ${source} is not set` };
    return { ok: true, value: found };
  }
  if (typeof source !== 'string' || source === '') return { ok: false, message: 'file: expected a path' };
  const path = resolve(dir, source);
  let text: string;
  try {
    const buffer = readFileSync(path);
    if (buffer.length > MAX_SECRET_FILE) return { ok: false, message: `${path} is larger than ${MAX_SECRET_FILE} octets` };
    text = buffer.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    return { ok: false, message: `cannot read ${path}: ${why}` };
  }
  // `echo secret > file` writes a newline the secret does not have; only one is taken off.
  return { ok: true, value: text.replace(/\r?\n$/, '') };
}
