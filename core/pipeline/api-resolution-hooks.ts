/*
 * The module customization hooks behind api-resolution.ts. They run in Node's
 * loader thread: `qgate` and `qgate/testing`, imported from anywhere, resolve
 * to the running gateway's own modules; every other specifier is left to Node.
 */
import type { InitializeHook, ResolveHook } from 'node:module';

let modules: Readonly<Record<string, string>> = {};

export const initialize: InitializeHook<{ modules: Readonly<Record<string, string>> }> = (data) => {
  modules = data.modules;
};

export const resolve: ResolveHook = (specifier, context, nextResolve) => {
  const url = Object.hasOwn(modules, specifier) ? modules[specifier] : undefined;
  return url === undefined ? nextResolve(specifier, context) : { url, format: 'module', shortCircuit: true };
};
