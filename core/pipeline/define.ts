/*
 * What a plugin module exports: definePlugin({ name, options, setup }). The
 * registry loads such a definition and the pipeline calls its setup() with a
 * plugin context and the validated options. setup() may throw an OptionError
 * to point at the option that is wrong. Pure declarations, no I/O.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { PluginContext } from './plugin-context.js';

export interface PluginDefinition<S extends TSchema = TSchema> {
  /** Plugin name, as written after `use:` for built-ins; used in logs and decisions. */
  readonly name: string;
  readonly description?: string;
  /** Options schema (TypeBox); `with:` in the pipeline is validated against it, defaults filled in. */
  readonly options?: S;
  /** Called once per pipeline that uses the plugin: register hook handlers with ctx.on(). */
  setup(ctx: PluginContext, options: Static<S>): void | Promise<void>;
}

/** Declares a plugin; the identity function that gives the options their type. */
export function definePlugin<S extends TSchema>(definition: PluginDefinition<S>): PluginDefinition<S> {
  return definition;
}

/** One problem with a plugin's options: the path below its `with:` and what is wrong. */
export interface OptionProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** A key of the map at `path` that is wrong itself (the position is the key's, not its value's). */
  readonly key?: string;
}

/**
 * Thrown by setup() for options the schema cannot check (a listener name that does
 * not exist, a file that does not parse): the configuration error then names the
 * file, line and column of that option, like a schema error.
 *
 *   throw new OptionError(['implicit_listeners', 0], 'unknown listener "smtps"');
 */
export class OptionError extends Error {
  readonly problems: readonly OptionProblem[];

  constructor(path: readonly (string | number)[], message: string);
  constructor(problems: readonly OptionProblem[]);
  constructor(pathOrProblems: readonly (string | number)[] | readonly OptionProblem[], message?: string) {
    const problems =
      message === undefined
        ? (pathOrProblems as readonly OptionProblem[])
        : [{ path: pathOrProblems as readonly (string | number)[], message }];
    super(problems.map((p) => `${[...p.path, ...(p.key === undefined ? [] : [p.key])].join('.')}: ${p.message}`).join('; '));
    this.name = 'OptionError';
    this.problems = problems;
  }
}
