/*
 * `qgate check config`: prepares the configuration as `start` and a reload do
 * (plugins set up, aliases and recipient lists read), then prints, per
 * listener, its plugins with where each was loaded from, and which plugins run
 * on each hook and in what order.
 */
import type { LoadedConfig } from '../config/load.js';
import { HOOK_NAMES, HOOK_TABLE, type HookName } from '../hooks/hooks.js';
import { silentLogger } from '../log/logger.js';
import type { PluginInstance } from '../pipeline/pipeline.js';
import { describeSource } from '../pipeline/registry.js';
import { prepareConfig } from '../prepare.js';

/** The hooks a listener's pipeline serves, in the hook table's order: all but the delivery hooks. */
export const LISTENER_HOOKS: readonly HookName[] = HOOK_NAMES.filter((h) => HOOK_TABLE[h].scope !== 'delivery');

/** "size (built-in)", "stamp (package qgate-plugin-header-stamp@1.0.0)", "local (file plugins/local.js)". */
function pluginLine(plugin: PluginInstance): string {
  return `${plugin.name} (${describeSource({ file: plugin.module, source: plugin.source })})`;
}

export async function describeConfig(loaded: LoadedConfig): Promise<string> {
  // The same preparation as start and reload: pipelines, aliases, recipient lists.
  const { pipelines } = await prepareConfig(loaded, silentLogger());
  const lines: string[] = [`${loaded.source.file}: OK`];
  const width = Math.max(...LISTENER_HOOKS.map((h) => h.length)) + 1;
  for (const listener of loaded.config.listeners) {
    const pipeline = pipelines.get(listener.pipeline)!;
    const spec = loaded.pipelines.get(listener.pipeline)!;
    lines.push('');
    lines.push(
      `listener ${listener.name} on ${listener.address}:${listener.port}, pipeline ${listener.pipeline} (${spec.source.file})`,
    );
    lines.push(`  plugins: ${pipeline.plugins.map(pluginLine).join(', ') || '(none)'}`);
    const order = pipeline.order();
    for (const hook of LISTENER_HOOKS) {
      const taps = order[hook];
      let text = taps?.length ? taps.join(' -> ') : '-';
      if (hook === 'rcpt' && !taps?.length) text = '- (refused unless the session may relay: no plugin accepts)';
      if (hook === 'queue') text = `${taps?.length ? `${taps.join(' -> ')} -> ` : ''}core queue`;
      lines.push(`  ${`${hook}:`.padEnd(width)} ${text}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
