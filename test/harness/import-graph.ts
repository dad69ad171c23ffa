/*
 * The import graph of the sources: every import, re-export, import() and
 * require() of each .ts file under the given folders (read with the TypeScript
 * pre-processor, so `import type` and multi-line imports count), and the
 * folder-level graph built from it. folderOf and folderCycles are pure.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** Importing file, relative to the root, with "/" separators. */
  readonly from: string;
  /** The imported file (relative to the root) for a relative specifier, else the specifier itself. */
  readonly to: string;
  readonly specifier: string;
  /** The specifier is relative ("./x.js", "../y.js"). */
  readonly local: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const posix = (path: string) => path.split(sep).join('/');

export function readImports(root: string, dirs: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const dir of dirs) {
    for (const file of sourceFiles(join(root, dir))) {
      const from = posix(relative(root, file));
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      for (const { fileName: specifier } of info.importedFiles) {
        const local = specifier.startsWith('./') || specifier.startsWith('../');
        const to = local ? posix(relative(root, resolve(dirname(file), specifier))).replace(/\.js$/, '.ts') : specifier;
        edges.push({ from, to, specifier, local });
      }
    }
  }
  return edges;
}

/**
 * The folder a source file belongs to: "core/<stage>" or "plugins/<name>";
 * files directly under core/ (gateway.ts) form the folder "core".
 */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'plugins' || parts[0] === 'core') return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
  return parts.slice(0, -1).join('/');
}

/** Strongly connected groups of two or more folders (Tarjan), each sorted; the groups sorted too. */
export function folderCycles(edges: readonly { readonly from: string; readonly to: string }[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (from === to) continue;
    if (!graph.has(from)) graph.set(from, new Set());
    if (!graph.has(to)) graph.set(to, new Set());
    graph.get(from)!.add(to);
  }
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)!) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
      } while (member !== node);
      if (group.length > 1) groups.push(group.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return groups.sort((a, b) => a[0]!.localeCompare(b[0]!));
}
