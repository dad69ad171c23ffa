/*
 * A pipeline: one set of hooks and the plugin instances tapped into them, in
 * the order the YAML lists them. Each listener runs one pipeline. Building it
 * resolves and loads every plugin, validates its options (errors point into
 * the YAML) and runs its setup().
 */
import type { Logger } from 'pino';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import type { PipelineSpec } from '../config/load.js';
import { validate } from '../config/validate.js';
import { createHooks, type HookName, type Hooks } from '../hooks/hooks.js';
import type { AuthVerdict, Credentials, GatewayInfo, UserRecord } from '../hooks/types.js';
import { OptionError } from './define.js';
import { standaloneGateway } from './gateway-info.js';
import { createPluginContext, type Directory } from './plugin-context.js';
import { type LoadedPlugin, loadPlugin, type PluginLoader, PluginResolveError, type PluginSource } from './registry.js';

export interface PluginInstance {
  readonly name: string;
  readonly use: string;
  readonly module: string;
  /** Built-in, a path, or package@version: what `qgate check config` shows. */
  readonly source: PluginSource;
}

export class Pipeline {
  readonly hooks: Hooks = createHooks();
  readonly plugins: PluginInstance[] = [];
  /** ESMTP parameters plugins declared they handle, beyond SIZE, BODY and SMTPUTF8. */
  readonly parameters = { MAIL: new Set<string>(), RCPT: new Set<string>() };
  readonly users: Directory = {
    lookup: async (address: string): Promise<UserRecord | null | undefined> => {
      const at = address.lastIndexOf('@');
      const local = at < 0 ? address : address.slice(0, at);
      const domain = at < 0 ? '' : address.slice(at + 1).toLowerCase();
      return this.hooks.lookupUser.promise({ address, local, domain });
    },
    authenticate: async (credentials: Credentials): Promise<AuthVerdict | undefined> =>
      this.hooks.authenticate.promise(credentials),
  };

  constructor(readonly name: string) {}

  /** Plugin names tapped into each hook, in the order they run. */
  order(): Partial<Record<HookName, string[]>> {
    const out: Partial<Record<HookName, string[]>> = {};
    for (const [name, hook] of Object.entries(this.hooks) as [HookName, { taps: { name: string }[] }][]) {
      if (hook.taps.length) out[name] = hook.taps.map((t) => t.name);
    }
    return out;
  }
}

export interface BuildOptions {
  /** Finds each entry's plugin; the test kit passes one that also knows in-memory definitions. */
  readonly load?: PluginLoader;
  /** What ctx.gateway tells the plugins; default: a gateway with no listeners and no domains. */
  readonly gateway?: GatewayInfo;
}

/** Runs the shutdown hooks (a throw is logged by the plugin's guard, never thrown here). */
export async function shutdownPipelines(pipelines: ReadonlyMap<string, Pipeline>, log: Logger): Promise<void> {
  for (const pipeline of pipelines.values()) await pipeline.hooks.shutdown.promise({ log }).catch(() => undefined);
}

export async function buildPipeline(
  spec: PipelineSpec,
  log: Logger,
  defaultTimeoutMs: number,
  { load = loadPlugin, gateway = standaloneGateway() }: BuildOptions = {},
): Promise<Pipeline> {
  const pipeline = new Pipeline(spec.name);
  const problems: ConfigProblem[] = [];
  const names = new Set<string>();
  const prepared: { index: number; setup: () => Promise<void> }[] = [];

  for (const [index, entry] of spec.entries.entries()) {
    if (!entry.enabled) continue;
    const at = [...spec.basePath, 'plugins', index];
    let loaded: LoadedPlugin;
    try {
      loaded = await load(entry.use, spec.dir);
    } catch (err) {
      const message = err instanceof PluginResolveError ? err.message : `cannot load plugin: ${(err as Error).message}`;
      problems.push(spec.source.problem([...at, 'use'], message));
      continue;
    }
    const def = loaded.definition;
    const name = entry.name ?? def.name;
    if (names.has(name)) {
      problems.push(spec.source.problem(at, `plugin name "${name}" is used twice in this pipeline; give one of them a name:`));
      continue;
    }
    names.add(name);
    let options: unknown = entry.with ?? {};
    if (def.options) {
      const checked = validate(def.options, structuredClone(options), spec.source, [...at, 'with'], spec.dir);
      if (!checked.ok) {
        problems.push(...checked.problems);
        continue;
      }
      options = checked.value;
    }
    const ctx = createPluginContext({
      name,
      pipeline: spec.name,
      hooks: pipeline.hooks,
      log: log.child({ plugin: name, pipeline: spec.name }),
      configDir: spec.dir,
      timeoutMs: entry.timeout ?? defaultTimeoutMs,
      users: pipeline.users,
      parameters: pipeline.parameters,
      gateway,
    });
    pipeline.plugins.push({ name, use: entry.use, module: loaded.file, source: loaded.source });
    prepared.push({ index, setup: async () => def.setup(ctx, options as never) });
  }
  if (problems.length) throw new ConfigError(problems);

  // Setup runs in pipeline order so taps land in that order on every hook. Every plugin's
  // problems are collected, so one run of `qgate check config` lists them all.
  for (const { index, setup } of prepared) {
    const at = [...spec.basePath, 'plugins', index];
    try {
      await setup();
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else if (err instanceof OptionError) {
        problems.push(...err.problems.map((p) => spec.source.problem([...at, 'with', ...p.path], p.message, p.key)));
      } else problems.push(spec.source.problem(at, `plugin setup failed: ${(err as Error).message}`));
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return pipeline;
}
