/*
 * The tapable hooks and the handler types, derived from the hook table
 * (table.ts): bail hooks for decision and service hooks (the first final
 * answer wins), series hooks for the others (every handler runs). Handlers are
 * never tapped here directly: plugins go through PluginContext.on
 * (pipeline/plugin-context.ts), which adds timeouts, timing and error handling.
 */
import { AsyncSeriesBailHook, AsyncSeriesHook } from 'tapable';
import type { HookResult, UnavailableResult } from './results.js';
import { HOOK_TABLE, type HookKind, type HookName, type HookSpec, type HookTable } from './table.js';

export { HOOK_NAMES, HOOK_TABLE, type HookKind, type HookName, type HookScope, isHookName } from './table.js';

type Mutable<T extends readonly unknown[]> = [...T];

/** The arguments a handler of hook K receives. */
export type HookArgs<K extends HookName> = HookTable[K] extends HookSpec<HookKind, infer A, unknown> ? Mutable<A> : never;

/** What a handler of hook K may return (or resolve to). */
export type HookReturn<K extends HookName> = HookTable[K] extends HookSpec<HookKind, readonly unknown[], infer R> ? R : never;

/** The handler signature plugins implement for hook K. */
export type HookHandler<K extends HookName> = (...args: HookArgs<K>) => HookReturn<K> | Promise<HookReturn<K>>;

/**
 * What the core gets from a guarded bail hook: a decision hook's guard turns
 * `continue` into undefined and failures into a tempfail, so callers see a
 * final result or nothing; a service hook's answer is passed on as it is, but for
 * `unavailable(reason)`, which its guard turns into a DirectoryUnavailable rejection.
 */
type BailOutput<K extends HookName> = HookTable[K]['kind'] extends 'decision'
  ? HookResult | undefined
  : Exclude<HookReturn<K>, UnavailableResult>;

type TapableHook<K extends HookName> = HookTable[K]['kind'] extends 'decision' | 'service'
  ? AsyncSeriesBailHook<HookArgs<K>, BailOutput<K>>
  : AsyncSeriesHook<HookArgs<K>>;

export type Hooks = { readonly [K in HookName]: TapableHook<K> };

export function createHooks(): Hooks {
  const hooks: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(HOOK_TABLE)) {
    // tapable types the names as a tuple of the arguments' length; the table has them as a list.
    const names = [...spec.args] as never;
    hooks[name] =
      spec.kind === 'decision' || spec.kind === 'service' ? new AsyncSeriesBailHook(names) : new AsyncSeriesHook(names);
  }
  return Object.freeze(hooks) as Hooks;
}
