/*
 * `qgate plugin new NAME`: writes a plugin package from templates/plugin (a
 * plugin that builds with declaration: true, with a passing test on the test
 * kit), renamed, with qgate as a dev dependency (this installation, unless
 * told otherwise) and as an optional peer. Never writes into a non-empty folder.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This qgate installation (the package root: bin/, dist/, templates/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEMPLATE_DIR = join(PACKAGE_ROOT, 'templates', 'plugin');
/** The name the template's files use for the plugin; replaced everywhere. */
const TEMPLATE_NAME = 'my-plugin';

export interface PluginNames {
  /** As written after `use:` in logs and decisions ("header-stamp"). */
  readonly plugin: string;
  /** The npm package ("qgate-plugin-header-stamp", or "@acme/qgate-plugin-header-stamp"). */
  readonly package: string;
}

/** "header-stamp", "qgate-plugin-header-stamp" or "@acme/qgate-plugin-header-stamp". Pure. */
export function pluginNames(input: string): PluginNames {
  const m = /^(@[a-z0-9][a-z0-9._-]*\/)?(?:qgate-plugin-)?([a-z0-9][a-z0-9-]*)$/.exec(input);
  if (!m || input.length > 214) {
    throw new Error(
      `"${input}" is not a plugin name: use lower-case letters, digits and "-" (header-stamp), optionally as qgate-plugin-NAME or @scope/qgate-plugin-NAME`,
    );
  }
  const plugin = m[2]!;
  return { plugin, package: `${m[1] ?? ''}qgate-plugin-${plugin}` };
}

/** The template's files with names and the qgate dependency filled in. Pure. */
export function renderTemplate(
  files: ReadonlyMap<string, string>,
  names: PluginNames,
  qgate: { readonly spec: string; readonly version: string },
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, text] of files) {
    const target = path.replaceAll(TEMPLATE_NAME, names.plugin).replace(/(^|\/)gitignore$/, '$1.gitignore');
    let content = text.replaceAll(`qgate-plugin-${TEMPLATE_NAME}`, names.package).replaceAll(TEMPLATE_NAME, names.plugin);
    if (path === 'package.json') {
      const manifest = JSON.parse(content) as {
        devDependencies: Record<string, string>;
        peerDependencies: Record<string, string>;
      };
      manifest.devDependencies.qgate = qgate.spec;
      manifest.peerDependencies.qgate = `>=${qgate.version}`;
      content = `${JSON.stringify(manifest, null, 2)}\n`;
    }
    out.set(target, content);
  }
  return out;
}

function readTree(root: string, dir = root, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readTree(root, path, out);
    else out.set(relative(root, path), readFileSync(path, 'utf8'));
  }
  return out;
}

export interface ScaffoldOptions {
  /** Where to write; default ./<package name without scope>. */
  readonly dir?: string;
  /** The qgate dev dependency; default file: this installation. */
  readonly qgate?: string;
}

/** Writes the package; returns its folder and the files written. */
export function scaffoldPlugin(input: string, options: ScaffoldOptions = {}): { dir: string; files: string[] } {
  const names = pluginNames(input);
  const dir = resolve(options.dir ?? names.package.replace(/^@[^/]+\//, ''));
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty; choose another --dir`);
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const files = renderTemplate(readTree(TEMPLATE_DIR), names, {
    spec: options.qgate ?? `file:${PACKAGE_ROOT.replace(/\/$/, '')}`,
    version: pkg.version,
  });
  for (const [path, content] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return { dir, files: [...files.keys()].sort() };
}
