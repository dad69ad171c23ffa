/*
 * What a reload reports: its outcome (for SIGHUP's log line and the admin API)
 * and, in words, what changed between two configurations: listeners added,
 * removed or moved, pipelines whose plugin entries changed, delivery and core
 * settings. Pure: compares what the loader read; files that plugin options
 * name are read again by the plugins' setup, which logs their own summaries.
 */
import type { LoadedConfig } from './config/load.js';

export type ReloadOutcome =
  | { readonly ok: true; readonly changed: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

interface Endpoint {
  readonly address: string;
  readonly port: number;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function describeChanges(
  before: LoadedConfig,
  after: LoadedConfig,
  boundBefore: ReadonlyMap<string, Endpoint>,
  boundAfter: ReadonlyMap<string, Endpoint>,
): string[] {
  const changed: string[] = [];
  const show = (e: Endpoint) => `${e.address}:${e.port}`;
  for (const [name, at] of boundAfter) {
    const was = boundBefore.get(name);
    if (!was) changed.push(`listener ${name} added on ${show(at)}`);
    else if (show(was) !== show(at)) changed.push(`listener ${name} moved from ${show(was)} to ${show(at)}`);
  }
  for (const name of boundBefore.keys()) if (!boundAfter.has(name)) changed.push(`listener ${name} removed`);
  const listenersBefore = new Map(before.config.listeners.map((l) => [l.name, l]));
  for (const listener of after.config.listeners) {
    const was = listenersBefore.get(listener.name);
    if (!was || !boundBefore.has(listener.name)) continue;
    const { port: _p, address: _a, ...rest } = listener;
    const { port: _wp, address: _wa, ...wasRest } = was;
    if (!same(rest, wasRest)) changed.push(`listener ${listener.name} settings changed`);
  }
  for (const [name, spec] of after.pipelines) {
    const was = before.pipelines.get(name);
    if (!was) changed.push(`pipeline ${name} added`);
    else if (!same(was.entries, spec.entries)) changed.push(`pipeline ${name} changed`);
  }
  for (const name of before.pipelines.keys()) if (!after.pipelines.has(name)) changed.push(`pipeline ${name} removed`);
  const { listeners: _l, pipelines: _p, delivery, ...core } = after.config;
  const { listeners: _wl, pipelines: _wp, delivery: wasDelivery, ...wasCore } = before.config;
  const keys = (a: object, b: object) => [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const key of keys(core, wasCore) as (keyof typeof core)[]) {
    if (!same(core[key], wasCore[key])) changed.push(`${key} changed`);
  }
  for (const key of keys(delivery, wasDelivery) as (keyof typeof delivery)[]) {
    if (!same(delivery[key], wasDelivery[key])) changed.push(`delivery.${key} changed`);
  }
  return changed;
}
