/*
 * Configuration errors: each problem names file, line, column and key, and what
 * was expected, like `config.yaml:14:7 listeners[0].port: must be <= 65535, got 70000`.
 */

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted key path ("pipelines.inbound.plugins[2].with.max"), or "" for the whole file. */
  readonly key: string;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.key ? `${where} ${p.key}: ${p.message}` : `${where}: ${p.message}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}
