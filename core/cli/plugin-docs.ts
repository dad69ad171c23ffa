/*
 * `qgate plugin docs PATH`: a plugin's options table, rendered from its schema
 * by the same code as the README's own tables (core/config/options-table.ts),
 * printed or written between the `<!-- options -->` markers of a README.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { optionsTable } from '../config/options-table.js';
import { importPlugin, resolvePlugin } from '../pipeline/registry.js';

const BLOCK = /(<!-- options(?::[\w-]+)? -->\n)[\s\S]*?(\n?<!-- \/options -->)/;

/** The README with its options block replaced by `table`. Pure; throws without the markers. */
export function replaceOptionsBlock(readme: string, table: string): string {
  if (!BLOCK.test(readme)) throw new Error('no <!-- options --> ... <!-- /options --> block to write the table into');
  return readme.replace(BLOCK, (_all, open: string) => `${open}${table}\n<!-- /options -->`);
}

/** The options table of the plugin at `use`: a file, a built-in name, or a package installed from `fromDir`. */
export async function pluginOptionsTable(use: string, fromDir: string): Promise<string> {
  // On the command line "dist/src/index.js" is a file, where a pipeline would take it for a package.
  const file = !use.startsWith('.') && !use.startsWith('/') && existsSync(resolve(fromDir, use));
  const { definition } = await importPlugin(resolvePlugin(file ? `./${use}` : use, fromDir));
  if (!definition.options) return '| key | default | meaning |\n|---|---|---|';
  return optionsTable(definition.options);
}
