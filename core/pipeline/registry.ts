/*
 * Finds and loads the module behind a pipeline entry's `use:`: a built-in
 * plugin (a folder under plugins/), a file (./x.js, /abs/x.js, relative to the
 * file that configured it) or an npm package installed where the configuration
 * lives, and says which of the three it was (package@version for a package).
 * The core never imports plugins by name; it only loads what the configuration asks for.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as resolveModule } from 'import-meta-resolve';
import type { PluginDefinition } from './define.js';

const BUILTIN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

export function builtinPluginNames(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(BUILTIN_DIR, d.name, 'index.js')))
    .map((d) => d.name)
    .sort();
}

/** Where a plugin's module came from, for `qgate check config` and error messages. */
export type PluginSource =
  | { readonly kind: 'built-in' }
  | { readonly kind: 'path' }
  /** A definition handed over in code (the test kit). */
  | { readonly kind: 'in-memory' }
  | { readonly kind: 'package'; readonly name: string; readonly version: string | undefined };

export interface ResolvedPlugin {
  /** Absolute file of the module. */
  readonly file: string;
  readonly source: PluginSource;
}

export interface LoadedPlugin extends ResolvedPlugin {
  readonly definition: PluginDefinition;
}

/** Loads the plugin named by a pipeline entry's `use:`, looked up from the configuring file's folder. */
export type PluginLoader = (use: string, fromDir: string) => Promise<LoadedPlugin>;

/** A `use:` that cannot be resolved or loaded; the message is the whole explanation. */
export class PluginResolveError extends Error {}

function isPath(use: string): boolean {
  return use.startsWith('.') || use.startsWith('/');
}

/** "@scope/name/sub" -> "@scope/name"; "name/sub" -> "name". */
export function packageName(use: string): string {
  const parts = use.split('/');
  return use.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** A path as the config loader shows it: relative to the working directory when below it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** "built-in", "file plugins/stamp.js", "package qgate-plugin-x@1.2.0". */
export function describeSource(plugin: ResolvedPlugin): string {
  const { source } = plugin;
  if (source.kind === 'built-in') return 'built-in';
  if (source.kind === 'path') return `file ${displayPath(plugin.file)}`;
  if (source.kind === 'in-memory') return 'in memory';
  return `package ${source.name}${source.version ? `@${source.version}` : ''}`;
}

/** The version in the package.json of `name` that holds `file` (walking up from it). */
function installedVersion(name: string, file: string): string | undefined {
  for (let dir = dirname(file); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    try {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === name) return typeof pkg.version === 'string' ? pkg.version : undefined;
    } catch {
      // A broken package.json on the way up is not ours to judge; keep looking.
    }
  }
  return undefined;
}

/** Every node_modules folder Node's resolution visits from `fromDir`, nearest first. */
function searchedFolders(fromDir: string): string[] {
  const out: string[] = [];
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    out.push(join(dir, 'node_modules'));
    if (dirname(dir) === dir) return out;
  }
}

/**
 * The file behind `use`, looked up from `fromDir`. Packages are resolved as
 * `import` would from that folder (import-meta-resolve implements Node's ESM
 * algorithm: "exports" with the import/node conditions, ESM-only and CommonJS
 * packages alike), so what check config finds is what start loads.
 */
export function resolvePlugin(use: string, fromDir: string): ResolvedPlugin {
  if (isPath(use)) {
    const file = resolve(fromDir, use);
    if (!existsSync(file)) throw new PluginResolveError(`plugin file ${file} does not exist`);
    return { file, source: { kind: 'path' } };
  }
  const builtin = join(BUILTIN_DIR, use, 'index.js');
  if (/^[a-z0-9-]+$/.test(use) && existsSync(builtin)) return { file: builtin, source: { kind: 'built-in' } };
  const name = packageName(use);
  let url: string;
  try {
    url = resolveModule(use, pathToFileURL(join(resolve(fromDir), 'config.yaml')).href);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && !existsAnywhere(name, fromDir)) {
      const folders = searchedFolders(fromDir);
      throw new PluginResolveError(
        `unknown plugin "${use}": not a built-in plugin (${builtinPluginNames().join(', ') || 'none'}), and no package ` +
          `"${name}" in ${folders[0]} or the node_modules of a folder above it (up to ${folders.at(-1)}); ` +
          `give a path (./my-plugin.js) or install the package there (npm install ${name})`,
      );
    }
    throw new PluginResolveError(`package "${use}" cannot be loaded: ${(err as Error).message}`);
  }
  if (!url.startsWith('file:')) throw new PluginResolveError(`"${use}" is ${url}, not a plugin package`);
  const file = fileURLToPath(url);
  return { file, source: { kind: 'package', name, version: installedVersion(name, file) } };
}

function existsAnywhere(name: string, fromDir: string): boolean {
  return searchedFolders(fromDir).some((folder) => existsSync(join(folder, name, 'package.json')));
}

function isPluginDefinition(v: unknown): v is PluginDefinition {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as PluginDefinition).name === 'string' &&
    typeof (v as PluginDefinition).setup === 'function'
  );
}

/** Imports a resolved plugin module and checks that it exports a plugin. */
export async function importPlugin(resolved: ResolvedPlugin): Promise<LoadedPlugin> {
  let mod: { default?: unknown; plugin?: unknown };
  try {
    mod = (await import(pathToFileURL(resolved.file).href)) as typeof mod;
  } catch (err) {
    throw new PluginResolveError(`cannot load plugin: ${(err as Error).message}`);
  }
  const definition = isPluginDefinition(mod.default) ? mod.default : mod.plugin;
  if (!isPluginDefinition(definition)) {
    throw new PluginResolveError(
      `cannot load plugin: ${resolved.file} does not export a plugin (default export of definePlugin({ name, setup }))`,
    );
  }
  return { ...resolved, definition };
}

/** The default PluginLoader: resolve, then import. */
export const loadPlugin: PluginLoader = async (use, fromDir) => importPlugin(resolvePlugin(use, fromDir));
