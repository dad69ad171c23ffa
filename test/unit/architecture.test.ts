/*
 * Who may import whom (README "Architecture"): no two core folders import each
 * other, even through others; the shared model imports nothing from the core
 * and the hook contract only the model; the core never imports a plugin; a
 * plugin imports only the public API ('qgate', core/plugin-api), its own files,
 * node: modules and npm packages; and core/plugin-api only re-exports.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { folderCycles, folderOf, type ImportEdge, readImports } from '../harness/import-graph.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PLUGIN_API = 'core/plugin-api/index.ts';

function describeEdges(edges: readonly ImportEdge[]): string {
  return edges.map((e) => `  ${e.from} -> ${e.specifier}`).join('\n');
}

describe('folderCycles', () => {
  const cases: { name: string; edges: [string, string][]; cycles: string[][] }[] = [
    {
      name: 'a chain has none',
      edges: [
        ['a', 'b'],
        ['b', 'c'],
      ],
      cycles: [],
    },
    {
      name: 'two folders importing each other',
      edges: [
        ['a', 'b'],
        ['b', 'a'],
      ],
      cycles: [['a', 'b']],
    },
    {
      name: 'a cycle through a third folder',
      edges: [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'a'],
        ['c', 'd'],
      ],
      cycles: [['a', 'b', 'c']],
    },
    {
      name: 'a folder importing itself is not a cycle',
      edges: [
        ['a', 'a'],
        ['a', 'b'],
      ],
      cycles: [],
    },
    {
      name: 'two separate cycles',
      edges: [
        ['a', 'b'],
        ['b', 'a'],
        ['c', 'd'],
        ['d', 'c'],
        ['b', 'c'],
      ],
      cycles: [
        ['a', 'b'],
        ['c', 'd'],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(folderCycles(c.edges.map(([from, to]) => ({ from, to }))), c.cycles);
    });
  }
});

describe('folderOf', () => {
  const cases: [string, string][] = [
    ['core/smtp/session.ts', 'core/smtp'],
    ['core/gateway.ts', 'core'],
    ['core/delivery/remote/cache.ts', 'core/delivery'],
    ['plugins/auth/index.ts', 'plugins/auth'],
  ];
  for (const [file, folder] of cases) it(`${file} is in ${folder}`, () => assert.equal(folderOf(file), folder));
});

describe('import rules', () => {
  const edges = readImports(ROOT, ['core', 'plugins']);
  const internal = edges.filter((e) => e.local);
  const coreEdges = internal.filter((e) => e.from.startsWith('core/') && e.to.startsWith('core/'));

  it('reads the sources', () => {
    // A guard against a test that passes because it saw nothing.
    assert.ok(edges.length > 200, `only ${edges.length} imports found under ${ROOT}`);
    assert.ok(internal.some((e) => e.from === 'core/smtp/session.ts'));
  });

  it('no folder-level import cycles in the core', () => {
    const folderEdges = coreEdges.map((e) => ({ from: folderOf(e.from), to: folderOf(e.to) }));
    const cycles = folderCycles(folderEdges);
    const explain = cycles.map((group) => {
      const inGroup = coreEdges.filter(
        (e) => folderOf(e.from) !== folderOf(e.to) && group.includes(folderOf(e.from)) && group.includes(folderOf(e.to)),
      );
      return `${group.join(' <-> ')}:\n${describeEdges(inGroup)}`;
    });
    assert.deepEqual(cycles, [], `folders that import each other:\n${explain.join('\n')}`);
  });

  it('core/model imports nothing from the rest of the core', () => {
    const bad = internal.filter((e) => folderOf(e.from) === 'core/model' && folderOf(e.to) !== 'core/model');
    assert.deepEqual(bad, [], `core/model must stand alone:\n${describeEdges(bad)}`);
  });

  it('core/hooks imports only core/model', () => {
    const bad = internal.filter(
      (e) => folderOf(e.from) === 'core/hooks' && !['core/hooks', 'core/model'].includes(folderOf(e.to)),
    );
    assert.deepEqual(bad, [], `the contract must not depend on the engines:\n${describeEdges(bad)}`);
  });

  it('the core never imports a plugin', () => {
    const bad = edges.filter((e) => e.from.startsWith('core/') && e.local && !e.to.startsWith('core/'));
    assert.deepEqual(bad, [], `core reaches plugins only through hooks:\n${describeEdges(bad)}`);
  });

  it("plugins import only 'qgate', their own files, node: modules and npm packages", () => {
    const builtins = new Set(builtinModules);
    const bad = edges.filter((e) => {
      if (!e.from.startsWith('plugins/')) return false;
      if (e.local) return e.to !== PLUGIN_API && folderOf(e.to) !== folderOf(e.from);
      if (e.specifier === 'qgate' || e.specifier === 'qgate/testing') return false;
      // A bare name is an npm package (or a Node built-in); a path into this package is not.
      return !(
        e.specifier.startsWith('node:') ||
        builtins.has(e.specifier) ||
        /^(@[^/]+\/)?[^./][^/]*(\/.*)?$/.test(e.specifier)
      );
    });
    assert.deepEqual(bad, [], `plugins use the public API only:\n${describeEdges(bad)}`);
  });

  it('core/plugin-api only re-exports', () => {
    const file = join(ROOT, PLUGIN_API);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    const bad = source.statements
      .filter((s) => !(ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined))
      .map((s) => s.getText(source).split('\n')[0]);
    assert.deepEqual(bad, [], 'declarations belong in core/model, core/hooks or core/pipeline');
  });
});
