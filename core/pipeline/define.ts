/*
 * What a plugin module exports: definePlugin({ name, options, setup }). The
 * registry loads such a definition and the pipeline calls its setup() with a
 * plugin context and the validated options. Pure declarations, no I/O.
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
