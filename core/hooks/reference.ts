/*
 * Renders the hook table (table.ts) as the Markdown table in the README's
 * "Hooks" section, so the README is checked against the table
 * (test/unit/readme.test.ts) and never drifts from it. Pure.
 */
import { HOOK_NAMES, HOOK_TABLE } from './table.js';

export function hookReference(): string {
  const rows = ['| hook | kind | fires | arguments | a handler may return |', '|---|---|---|---|---|'];
  for (const name of HOOK_NAMES) {
    const spec = HOOK_TABLE[name];
    rows.push(`| \`${name}\` | ${spec.kind} | ${spec.fires} | ${spec.shows} | ${spec.returns} |`);
  }
  return rows.join('\n');
}
