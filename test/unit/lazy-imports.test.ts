/*
 * Libraries that only some configurations need are loaded on their first use:
 * every plugin imports the plugin API (which has the password checks), and the
 * SMTP side never relays, so the main thread of a gateway that checks no
 * passwords carries neither the password libraries nor nodemailer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

const DIST = new URL('../../', import.meta.url).href;
const LAZY = ['nodemailer', 'bcryptjs', '@node-rs/argon2', 'piscina'];

/** The packages of LAZY that a fresh node process resolved while running `script` (an ES module body). */
function loadedBy(script: string): string[] {
  const hook = `export async function resolve(s, c, next) {
    const r = await next(s, c);
    const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url);
    if (m) process.stdout.write('LOADED ' + m[1] + '\\n');
    return r;
  }`;
  const main = `import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    const dist = ${JSON.stringify(DIST)};
    ${script}`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', main], { encoding: 'utf8' });
  const loaded = new Set(out.split('\n').flatMap((line) => (line.startsWith('LOADED ') ? [line.slice(7)] : [])));
  return LAZY.filter((name) => loaded.has(name));
}

describe('libraries loaded on first use', () => {
  it('the gateway and the plugin API load none of them', () => {
    const loaded = loadedBy(`await import(dist + 'core/gateway.js'); await import(dist + 'core/plugin-api/index.js');`);
    assert.deepEqual(loaded, []);
  });

  it('a bcrypt check loads bcryptjs, and only it', () => {
    const loaded = loadedBy(`const { verifyPassword } = await import(dist + 'core/plugin-api/index.js');
      const hash = '$2b$04$' + 'a'.repeat(53);
      await verifyPassword(hash, 'secret');`);
    assert.deepEqual(loaded, ['bcryptjs']);
  });
});
