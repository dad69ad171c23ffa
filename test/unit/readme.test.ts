/*
 * The README documents what the code has: its option tables are the schemas
 * rendered, and its hook table is the hook table (core/hooks/table.ts) rendered.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hookReference } from '../../core/hooks/reference.js';
import { HOOK_NAMES } from '../../core/hooks/table.js';
import { expectedTables, README, readmeHookTable, readmeTables } from '../harness/readme-tables.js';

const text = readFileSync(README, 'utf8');

describe('README', () => {
  const actual = readmeTables(text);
  for (const [name, table] of Object.entries(expectedTables())) {
    it(`option table "${name}" matches its schema (rewrite: node dist/test/harness/readme-tables.js --write)`, () => {
      assert.equal(actual[name], table);
    });
  }

  it('the hook table is core/hooks/table.ts rendered (rewrite: node dist/test/harness/readme-tables.js --write)', () => {
    const section = text.slice(text.indexOf('## Hooks'), text.indexOf('## Writing a plugin'));
    assert.equal(readmeHookTable(section), hookReference());
    const documented = [...section.matchAll(/^\| `([\w-]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented, [...HOOK_NAMES], 'one row per hook, in table order');
  });

  it('says how to install, start and test', () => {
    for (const command of ['npm install && npm start', 'npm test', 'npm run bench']) assert.ok(text.includes(command), command);
  });
});
