/*
 * One qgate per process: plugins import 'qgate' and 'qgate/testing', and those
 * specifiers must reach the API of the gateway that is running, whatever the
 * plugin's folder holds (no node_modules at all, or a nested copy of qgate that
 * npm installed for it). A second copy would bring its own hook contract,
 * schemas and notes: it might seem to work and then fail in subtle ways.
 * installApiResolution() registers Node's module customization hooks
 * (module.register, Node >= 20.6) that map the two specifiers to this copy's
 * files; the CLI and the test kit call it before any plugin loads.
 */
import { register } from 'node:module';

/** The specifiers plugins may import, and this copy's module for each. */
export const API_MODULES: Readonly<Record<string, string>> = Object.freeze({
  qgate: new URL('../plugin-api/index.js', import.meta.url).href,
  'qgate/testing': new URL('../testing/index.js', import.meta.url).href,
});

let installed = false;

/** Idempotent; affects modules resolved from now on (plugins are imported later). */
export function installApiResolution(): void {
  if (installed) return;
  installed = true;
  register(new URL('./api-resolution-hooks.js', import.meta.url), { data: { modules: API_MODULES } });
}
