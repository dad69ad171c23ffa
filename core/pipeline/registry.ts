/*
 * Finds the module behind a pipeline entry's `use:`: a built-in plugin (a
 * folder under plugins/), a local file (./x.js, /abs/x.js) or an npm package
 * resolved from the config's directory. The core never imports plugins by
 * name; it only loads what the configuration asks for.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PluginDefinition } from './define.js';

const BUILTIN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

export function builtinPluginNames(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(BUILTIN_DIR, d.name, 'index.js')))
    .map((d) => d.name)
    .sort();
}

export class PluginResolveError extends Error {}

function isPath(use: string): boolean {
  return use.startsWith('.') || use.startsWith('/');
}

/** Absolute file of the module named by `use`, looked up from `fromDir`. */
export function resolvePluginModule(use: string, fromDir: string): string {
  if (isPath(use)) {
    const file = resolve(fromDir, use);
    if (!existsSync(file)) throw new PluginResolveError(`plugin file ${file} does not exist`);
    return file;
  }
  const builtin = join(BUILTIN_DIR, use, 'index.js');
  if (/^[a-z0-9-]+$/.test(use) && existsSync(builtin)) return builtin;
  try {
    return createRequire(join(fromDir, 'package.json')).resolve(use);
  } catch {
    const esm = resolveEsmPackage(use, fromDir);
    if (esm) return esm;
    const names = builtinPluginNames();
    throw new PluginResolveError(
      `unknown plugin "${use}"; built-in plugins: ${names.join(', ') || '(none)'}; or give a path (./my-plugin.js) or an installed npm package`,
    );
  }
}

type ExportsField = string | { [condition: string]: ExportsField | undefined } | undefined;

function pickExport(field: ExportsField): string | undefined {
  if (typeof field === 'string' || field === undefined) return field;
  const root = '.' in field ? field['.'] : field;
  if (typeof root === 'string' || root === undefined) return root;
  for (const condition of ['import', 'node', 'default']) {
    const picked = pickExport(root[condition]);
    if (picked) return picked;
  }
  return undefined;
}

/** ESM-only packages (an "import" export condition) that require.resolve cannot see. */
function resolveEsmPackage(name: string, fromDir: string): string | undefined {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: ExportsField; main?: string };
      const entry = pickExport(pkg.exports) ?? pkg.main ?? 'index.js';
      const file = join(pkgDir, entry);
      return existsSync(file) ? file : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function isPluginDefinition(v: unknown): v is PluginDefinition {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as PluginDefinition).name === 'string' &&
    typeof (v as PluginDefinition).setup === 'function'
  );
}

export async function loadPluginModule(file: string): Promise<PluginDefinition> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown; plugin?: unknown };
  const def = isPluginDefinition(mod.default) ? mod.default : mod.plugin;
  if (!isPluginDefinition(def)) {
    throw new PluginResolveError(`${file} does not export a plugin (default export of definePlugin({ name, setup }))`);
  }
  return def;
}
