/*
 * The public plugin API: everything a plugin may import, built-in or third
 * party. Built-in plugins use nothing else, which proves this is enough.
 *
 *   import { definePlugin, Type, reject } from 'qgate';
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { PluginContext } from '../pipeline/plugin-context.js';

// Every TypeBox type (TObject, TString, ...), so a plugin built with `declaration: true`
// can name its options' types through 'qgate' (otherwise TS2742: "cannot be named
// without a reference to .../@sinclair/typebox"). Value checks options in tests.
export type * from '@sinclair/typebox';
export { Type } from '@sinclair/typebox';
export { Value } from '@sinclair/typebox/value';
export { compilePattern, type Pattern } from '../config/pattern.js';
export { Duration, Size } from '../config/schema.js';
export type { HookHandler, HookName } from '../hooks/hooks.js';
export type { NoteKey } from '../hooks/notes.js';
export { accept, disconnect, type HookResult, next, reject, tempfail } from '../hooks/results.js';
export type * from '../hooks/types.js';
export type { Directory, PluginContext, Reloadable } from '../pipeline/plugin-context.js';
export { formatReply, type Reply, reply } from '../smtp/reply.js';

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
