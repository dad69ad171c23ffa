/*
 * The plugin guide (docs/plugins.md) shows real code: every block marked
 * `<!-- file: PATH -->` is that file of the repository, verbatim, so the guide
 * changes when the example packages do (their tests run with npm test).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../harness/gateway.js';

const guide = readFileSync(join(REPO, 'docs', 'plugins.md'), 'utf8');
const blocks = [...guide.matchAll(/<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)```\n/g)].map((m) => ({ path: m[1]!, code: m[2]! }));

describe('docs/plugins.md', () => {
  it('shows the three example plugins', () => {
    const paths = blocks.map((b) => b.path);
    for (const name of ['header-stamp', 'pg-recipients', 'json-users']) {
      assert.ok(paths.includes(`examples/qgate-plugin-${name}/src/index.ts`), name);
    }
  });
  for (const { path, code } of blocks) {
    it(`${path} is shown as it is`, () => assert.equal(code, readFileSync(join(REPO, path), 'utf8')));
  }
  it('is linked from the README', () => {
    assert.ok(readFileSync(join(REPO, 'README.md'), 'utf8').includes('(docs/plugins.md)'));
  });
});
