/*
 * A parsed YAML file that remembers where every value came from, so any error
 * can name file, line, column and key.
 */
import { readFileSync } from 'node:fs';
import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';

export type KeyPath = readonly (string | number)[];

export class SourceFile {
  private constructor(
    readonly file: string,
    /** The text parsed, so another thread can build from the very same file (core/process). */
    readonly text: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  static read(file: string, displayName = file): SourceFile {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([
        { file: displayName, line: 0, column: 0, key: '', message: `cannot read: ${(err as Error).message}` },
      ]);
    }
    return SourceFile.parse(text, displayName);
  }

  static parse(text: string, displayName: string): SourceFile {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length) {
      throw new ConfigError(
        doc.errors.map((e) => {
          const pos = lines.linePos(e.pos[0]);
          return {
            file: displayName,
            line: pos.line,
            column: pos.col,
            key: '',
            message: `YAML syntax error: ${e.message.split('\n')[0]}`,
          };
        }),
      );
    }
    return new SourceFile(displayName, text, doc, lines);
  }

  /** The plain JavaScript value of the document (or of the node at `path`). */
  value(path: KeyPath = []): unknown {
    if (path.length === 0) return this.doc.toJS({ maxAliasCount: 100 }) ?? {};
    const node = this.doc.getIn(path, true) as Node | undefined;
    return node ? (node.toJS(this.doc, { maxAliasCount: 100 }) as unknown) : undefined;
  }

  /** Line and column of the value at `path`, or of `key` inside it, falling back to the nearest parent. */
  locate(path: KeyPath, key?: string): { line: number; column: number } {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = (depth === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, depth), true)) as Node | null;
      if (!node) continue;
      if (key !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
        const keyNode = pair?.key as Node | undefined;
        if (keyNode?.range) return this.pos(keyNode.range[0]);
      }
      if (node.range) return this.pos(node.range[0]);
    }
    return { line: 1, column: 1 };
  }

  problem(path: KeyPath, message: string, key?: string): ConfigProblem {
    const { line, column } = this.locate(path, key);
    return { file: this.file, line, column, key: formatKeyPath(key === undefined ? path : [...path, key]), message };
  }

  isSequence(path: KeyPath): boolean {
    return isSeq(this.doc.getIn(path, true));
  }

  private pos(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }
}

/** listeners[0].port */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}
