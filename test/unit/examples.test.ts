/*
 * The example plugin packages and the template document what their schemas say: the options
 * table in each README is the one `qgate plugin docs` renders (the same code as
 * the README's own tables), so the examples, and the guide built on them, do not drift.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pluginOptionsTable, replaceOptionsBlock } from '../../core/cli/plugin-docs.js';
import { REPO } from '../harness/gateway.js';

const PACKAGES = [...readdirSync(join(REPO, 'examples')).map((name) => join('examples', name)), join('templates', 'plugin')];

describe('example plugin packages and the plugin template', () => {
  for (const folder of PACKAGES) {
    it(`${folder}: README options table matches the schema (npm run docs there)`, async () => {
      const readme = readFileSync(join(REPO, folder, 'README.md'), 'utf8');
      const table = await pluginOptionsTable(join(REPO, 'dist', folder, 'src', 'index.js'), REPO);
      assert.equal(readme, replaceOptionsBlock(readme, table));
    });
  }
});
