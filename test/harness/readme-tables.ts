/*
 * The README's option tables, rendered from the schemas, and its hook table,
 * rendered from core/hooks/table.ts. The readme test compares;
 * `node dist/test/harness/readme-tables.js --write` rewrites them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionsTable } from '../../core/config/options-table.js';
import { CoreConfigSchema, DeliverySchema, ListenerSchema, PluginEntrySchema, RouteSchema } from '../../core/config/schema.js';
import { hookReference } from '../../core/hooks/reference.js';
import { AuthOptions } from '../../plugins/auth/options.js';
import { BlacklistOptions } from '../../plugins/blacklist/options.js';
import { ClamavOptions } from '../../plugins/clamav/options.js';
import { FileUsersOptions } from '../../plugins/file-users/options.js';
import { LdapUsersOptions } from '../../plugins/ldap-users/options.js';
import { RcpthostsOptions } from '../../plugins/rcpthosts/options.js';
import { RelayOptions } from '../../plugins/relay/options.js';
import { RelayCtrlOptions } from '../../plugins/relay-ctrl/options.js';
import { SizeOptions } from '../../plugins/size/options.js';
import { SpamassassinOptions } from '../../plugins/spamassassin/options.js';
import { SqlUsersOptions } from '../../plugins/sql-users/options.js';
import { StarttlsOptions } from '../../plugins/starttls/options.js';
import { REPO } from './gateway.js';

export const README = join(REPO, 'README.md');

export function expectedTables(): Record<string, string> {
  const props = CoreConfigSchema.properties;
  return {
    core: optionsTable(CoreConfigSchema, '', ['queue', 'log', 'listeners', 'delivery', 'admin']),
    delivery: optionsTable(DeliverySchema, 'delivery.', ['routes']),
    route: optionsTable(RouteSchema),
    queue: optionsTable(props.queue, 'queue.'),
    log: optionsTable(props.log, 'log.'),
    admin: optionsTable(props.admin, 'admin.'),
    listener: optionsTable(ListenerSchema),
    'plugin-entry': optionsTable(PluginEntrySchema),
    rcpthosts: optionsTable(RcpthostsOptions),
    starttls: optionsTable(StarttlsOptions),
    auth: optionsTable(AuthOptions),
    'file-users': optionsTable(FileUsersOptions),
    'sql-users': optionsTable(SqlUsersOptions),
    'ldap-users': optionsTable(LdapUsersOptions),
    relay: optionsTable(RelayOptions),
    'relay-ctrl': optionsTable(RelayCtrlOptions),
    size: optionsTable(SizeOptions),
    blacklist: optionsTable(BlacklistOptions),
    clamav: optionsTable(ClamavOptions),
    spamassassin: optionsTable(SpamassassinOptions),
  };
}

const MARKER = /<!-- options:([\w-]+) -->\n[\s\S]*?<!-- \/options -->/g;

export function readmeTables(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(MARKER)) {
    out[m[1]!] = m[0].replace(/^<!-- options:[\w-]+ -->\n/, '').replace(/\n?<!-- \/options -->$/, '');
  }
  return out;
}

const HOOKS_MARKER = /<!-- hooks -->\n([\s\S]*?)\n?<!-- \/hooks -->/;

/** The hook table between `<!-- hooks -->` and `<!-- /hooks -->`, if the README has one. */
export function readmeHookTable(text: string): string | undefined {
  return HOOKS_MARKER.exec(text)?.[1];
}

export function renderReadme(text: string): string {
  const tables = expectedTables();
  return text
    .replace(MARKER, (_all, name: string) => `<!-- options:${name} -->\n${tables[name] ?? ''}\n<!-- /options -->`)
    .replace(HOOKS_MARKER, () => `<!-- hooks -->\n${hookReference()}\n<!-- /hooks -->`);
}

if (process.argv.includes('--write')) writeFileSync(README, renderReadme(readFileSync(README, 'utf8')));
