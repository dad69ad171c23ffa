/*
 * The README documents what the code has: its option tables are the schemas
 * rendered, and its hook table lists exactly the hooks in core/hooks/hooks.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createHooks } from '../../core/hooks/hooks.js';
import { expectedTables, README, readmeTables } from '../harness/readme-tables.js';

const text = readFileSync(README, 'utf8');

describe('README', () => {
  const actual = readmeTables(text);
  for (const [name, table] of Object.entries(expectedTables())) {
    it(`option table "${name}" matches its schema (rewrite: node dist/test/harness/readme-tables.js --write)`, () => {
      assert.equal(actual[name], table);
    });
  }

  it('the hook table lists exactly the declared hooks', () => {
    const section = text.slice(text.indexOf('## Hooks'), text.indexOf('## Writing a plugin'));
    const documented = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented.sort(), Object.keys(createHooks()).sort());
  });

  it('says how to install, start and test', () => {
    for (const command of ['npm install && npm start', 'npm test', 'npm run bench']) assert.ok(text.includes(command), command);
  });
});
