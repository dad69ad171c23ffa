/*
 * Loads config.yaml and the pipeline files it names, validates them and
 * resolves paths relative to the file that wrote them. Problems are reported
 * together, each with file, line, column and key: first those of config.yaml
 * itself, then (once it is valid) those of the pipelines it names.
 */
import { isIP } from 'node:net';
import { hostname as systemHostname } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, type ConfigProblem } from './errors.js';
import { type CoreConfig, CoreConfigSchema, type PipelineConfig, PipelineSchema, type PluginEntryConfig } from './schema.js';
import { type KeyPath, SourceFile } from './source.js';
import { validate } from './validate.js';

export interface PipelineSpec {
  readonly name: string;
  /** The file the pipeline was written in, and where in it. */
  readonly source: SourceFile;
  readonly basePath: KeyPath;
  /** Directory that relative plugin paths are resolved against. */
  readonly dir: string;
  readonly entries: readonly PluginEntryConfig[];
}

export interface LoadedConfig {
  readonly file: string;
  readonly dir: string;
  readonly source: SourceFile;
  readonly config: CoreConfig & { hostname: string };
  readonly pipelines: ReadonlyMap<string, PipelineSpec>;
  /** Absolute queue directory. */
  readonly queuePath: string;
  /**
   * The text of every file read (config.yaml and the pipeline files), by absolute path:
   * the delivery thread loads the same configuration from them, even if a file changed since.
   */
  readonly texts: ReadonlyMap<string, string>;
}

export interface LoadOptions {
  /** Texts to use instead of reading these paths (another thread's LoadedConfig.texts). */
  readonly texts?: ReadonlyMap<string, string> | undefined;
}

function displayName(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  const texts = new Map<string, string>();
  const read = (path: string): SourceFile => {
    const given = options.texts?.get(path);
    const source = given === undefined ? SourceFile.read(path, displayName(path)) : SourceFile.parse(given, displayName(path));
    texts.set(path, source.text);
    return source;
  };
  const path = resolve(file);
  const dir = dirname(path);
  const source = read(path);
  const raw = source.value();
  const checked = validate<CoreConfig>(CoreConfigSchema, raw, source, []);
  if (!checked.ok) throw new ConfigError(checked.problems);
  const config = checked.value;
  const problems: ConfigProblem[] = [];

  const pipelines = new Map<string, PipelineSpec>();
  for (const [name, value] of Object.entries(config.pipelines)) {
    if (typeof value === 'string') {
      const pipelineFile = resolve(dir, value);
      let pipelineSource: SourceFile;
      try {
        pipelineSource = read(pipelineFile);
      } catch (err) {
        if (err instanceof ConfigError) {
          problems.push(
            ...err.problems.map((p) =>
              p.line === 0 ? source.problem(['pipelines', name], `pipeline file ${value}: ${p.message}`) : p,
            ),
          );
          continue;
        }
        throw err;
      }
      const spec = validate<PipelineConfig>(PipelineSchema, pipelineSource.value(), pipelineSource, []);
      if (!spec.ok) {
        problems.push(...spec.problems);
        continue;
      }
      pipelines.set(name, {
        name,
        source: pipelineSource,
        basePath: [],
        dir: dirname(pipelineFile),
        entries: spec.value.plugins,
      });
    } else {
      const spec = validate<PipelineConfig>(PipelineSchema, value, source, ['pipelines', name]);
      if (!spec.ok) {
        problems.push(...spec.problems);
        continue;
      }
      pipelines.set(name, { name, source, basePath: ['pipelines', name], dir, entries: spec.value.plugins });
    }
  }

  const names = new Set<string>();
  const endpoints = new Set<string>();
  config.listeners.forEach((listener, i) => {
    if (!Object.hasOwn(config.pipelines, listener.pipeline)) {
      const known = Object.keys(config.pipelines);
      problems.push(
        source.problem(
          ['listeners', i, 'pipeline'],
          `no pipeline named "${listener.pipeline}"; defined: ${known.length ? known.join(', ') : '(none)'}`,
        ),
      );
    }
    // Checked here, not at bind time, so check config finds it: 999.1.1.1 would otherwise be
    // looked up as a host name when the listener binds, and fail only then.
    if (!isIP(listener.address)) {
      problems.push(
        source.problem(
          ['listeners', i, 'address'],
          `expected an IPv4 or IPv6 address (127.0.0.1, ::1, 0.0.0.0, ::), got ${JSON.stringify(listener.address)}`,
        ),
      );
    }
    if (names.has(listener.name))
      problems.push(source.problem(['listeners', i, 'name'], `duplicate listener name "${listener.name}"`));
    names.add(listener.name);
    const endpoint = `${listener.address}:${listener.port}`;
    if (listener.port !== 0 && endpoints.has(endpoint)) {
      problems.push(source.problem(['listeners', i, 'port'], `another listener already uses ${endpoint}`));
    }
    endpoints.add(endpoint);
  });

  const d = config.delivery;
  if (d.pipeline !== undefined && !Object.hasOwn(config.pipelines, d.pipeline)) {
    const known = Object.keys(config.pipelines);
    problems.push(
      source.problem(
        ['delivery', 'pipeline'],
        `no pipeline named "${d.pipeline}"; defined: ${known.length ? known.join(', ') : '(none)'}`,
      ),
    );
  }
  // Two routes for one domain: only the first would ever be used, so the second is a mistake.
  const routed = new Map<string, number>();
  d.routes.forEach((route, i) => {
    const domain = route.domain.toLowerCase();
    const first = routed.get(domain);
    if (first === undefined) routed.set(domain, i);
    else {
      problems.push(
        source.problem(
          ['delivery', 'routes', i, 'domain'],
          `delivery.routes[${first}] already routes ${JSON.stringify(route.domain)}; only the first would be used`,
        ),
      );
    }
  });

  if (problems.length) throw new ConfigError(problems);
  return {
    file: path,
    dir,
    source,
    config: { ...config, hostname: config.hostname ?? systemHostname() },
    pipelines,
    queuePath: resolve(dir, config.queue.path),
    texts,
  };
}
