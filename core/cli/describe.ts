/*
 * `qgate check config`: prepares the configuration as `start` and a reload do
 * (plugins set up, aliases and recipient lists read), then prints, per
 * listener, its plugins with where each was loaded from, and which plugins run
 * on each hook and in what order; then delivery: its pipeline's plugins on the
 * delivery and directory hooks, the local domains and the static routes.
 */
import type { LoadedConfig } from '../config/load.js';
import type { DeliveryConfig } from '../config/schema.js';
import { HOOK_NAMES, HOOK_TABLE, type HookName } from '../hooks/hooks.js';
import { silentLogger } from '../log/logger.js';
import type { Pipeline, PluginInstance } from '../pipeline/pipeline.js';
import { describeSource } from '../pipeline/registry.js';
import { prepareConfig } from '../prepare.js';

/** The hooks an SMTP listener's pipeline serves, in the hook table's order: all but the delivery and POP3 hooks. */
export const LISTENER_HOOKS: readonly HookName[] = HOOK_NAMES.filter(
  (h) => HOOK_TABLE[h].scope !== 'delivery' && HOOK_TABLE[h].scope !== 'pop3',
);

/** The hooks a POP3 listener's pipeline serves: its lifecycle, the directory (logins) and the POP3 hooks. */
export const POP3_HOOKS: readonly HookName[] = HOOK_NAMES.filter((h) =>
  ['gateway', 'directory', 'pop3'].includes(HOOK_TABLE[h].scope),
);

/** The hooks of the delivery pipeline: where mail goes, how, its bounces, and the directory RCPT and delivery ask. */
export const DELIVERY_HOOKS: readonly HookName[] = HOOK_NAMES.filter(
  (h) => HOOK_TABLE[h].scope === 'delivery' || HOOK_TABLE[h].scope === 'directory',
);

/** What the core does on a delivery hook after the plugins (or without any). */
const CORE_DELIVERY: Partial<Record<HookName, string>> = {
  route: 'core (local_domains, routes, MX)',
  deliver: 'core (Maildir, SMTP)',
  lookupUser: 'core (create_mailboxes, else an existing Maildir)',
};

/** "example.org -> mailstore.internal:25, tls required, auth gw, recipients relay-recipients.txt" */
export function routeLine(route: DeliveryConfig['routes'][number]): string {
  const host = route.host.includes(':') ? `[${route.host}]` : route.host;
  const parts = [`${route.domain} -> ${host}:${route.port}`, `tls ${route.tls}`];
  if (route.auth) parts.push(`auth ${route.auth.user}`);
  parts.push(`recipients ${route.recipients ?? 'any'}`);
  return parts.join(', ');
}

/** "size (built-in)", "stamp (package qgate-plugin-header-stamp@1.0.0)", "local (file plugins/local.js)". */
function pluginLine(plugin: PluginInstance): string {
  return `${plugin.name} (${describeSource({ file: plugin.module, source: plugin.source })})`;
}

export async function describeConfig(loaded: LoadedConfig): Promise<string> {
  // The same preparation as start and reload: pipelines, aliases, recipient lists.
  const { pipelines } = await prepareConfig(loaded, silentLogger());
  const lines: string[] = [`${loaded.source.file}: OK`];
  const width = Math.max(...[...LISTENER_HOOKS, ...POP3_HOOKS].map((h) => h.length)) + 1;
  for (const listener of loaded.config.listeners) {
    const pipeline = pipelines.get(listener.pipeline)!;
    const spec = loaded.pipelines.get(listener.pipeline)!;
    lines.push('');
    lines.push(
      `listener ${listener.name}${listener.protocol === 'pop3' ? ' (pop3)' : ''} on ${listener.address}:${listener.port}, pipeline ${listener.pipeline} (${spec.source.file})`,
    );
    lines.push(`  plugins: ${pipeline.plugins.map(pluginLine).join(', ') || '(none)'}`);
    const order = pipeline.order();
    for (const hook of listener.protocol === 'pop3' ? POP3_HOOKS : LISTENER_HOOKS) {
      const taps = order[hook];
      let text = taps?.length ? taps.join(' -> ') : '-';
      if (hook === 'rcpt' && !taps?.length) text = '- (refused unless the session may relay: no plugin accepts)';
      if (hook === 'tls' && !taps?.length) text = '- (no STLS, no implicit TLS: logins need plaintext_login)';
      if (hook === 'queue') text = `${taps?.length ? `${taps.join(' -> ')} -> ` : ''}core queue`;
      lines.push(`  ${`${hook}:`.padEnd(width)} ${text}`);
    }
  }
  lines.push('', ...describeDelivery(loaded, pipelines, width));
  return `${lines.join('\n')}\n`;
}

function describeDelivery(loaded: LoadedConfig, pipelines: ReadonlyMap<string, Pipeline>, width: number): string[] {
  const d = loaded.config.delivery;
  if (!d.enabled) return ['delivery: disabled (accepted mail stays queued)'];
  const pipeline = d.pipeline ? pipelines.get(d.pipeline) : undefined;
  const spec = d.pipeline ? loaded.pipelines.get(d.pipeline) : undefined;
  const lines = [spec ? `delivery, pipeline ${spec.name} (${spec.source.file})` : 'delivery, no pipeline'];
  lines.push(`  plugins: ${pipeline?.plugins.map(pluginLine).join(', ') || '(none)'}`);
  const order = pipeline?.order() ?? {};
  for (const hook of DELIVERY_HOOKS) {
    const taps = order[hook] ?? [];
    const core = CORE_DELIVERY[hook];
    const text = [...taps, ...(core ? [core] : [])].join(' -> ') || '-';
    lines.push(`  ${`${hook}:`.padEnd(width)} ${text}`);
  }
  lines.push(`  local domains: ${d.local_domains.join(', ') || '(none)'}`);
  lines.push('  routes:');
  for (const route of d.routes) lines.push(`    ${routeLine(route)}`);
  if (!d.routes.some((r) => r.domain === '*')) lines.push(`    other domains -> MX:${d.mx_port}, tls ${d.mx_tls}`);
  return lines;
}
