/*
 * Builds the scheduler from configuration: routing table, retry policies,
 * aliases (re-read on SIGHUP), the DNS resolver and the delivery pipeline
 * whose plugins serve the route, deliver, bounce and lookupUser hooks; and
 * the settings of the local resolution that RCPT and delivery share.
 */

import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { DomainSet } from '../model/index.js';
import { Pipeline } from '../pipeline/pipeline.js';
import type { MessageQueue } from '../queue/queue.js';
import { type AliasTable, parseAliasesYaml } from './local-address.js';
import { type LocalRecipientSettings, LocalRecipients } from './local-recipients.js';
import { Scheduler } from './scheduler.js';

/**
 * The aliases file, read now (a broken file stops start-up) and on every
 * SIGHUP (a broken file keeps the previous table). One table serves both the
 * RCPT check and delivery, so they never see two versions of the file.
 */
export function loadAliasTable(loaded: LoadedConfig, log: Logger): () => AliasTable {
  const d = loaded.config.delivery;
  const aliasFile = d.aliases ? resolve(loaded.dir, d.aliases) : undefined;
  const loadAliases = (): AliasTable => (aliasFile ? parseAliasesYaml(readFileSync(aliasFile, 'utf8')) : {});
  let aliases = loadAliases();
  process.on('SIGHUP', () => {
    try {
      aliases = loadAliases();
    } catch (err) {
      log.error({ err, file: aliasFile }, 'aliases reload failed; keeping the previous table');
    }
  });
  return () => aliases;
}

/** How addresses in local domains resolve, from the delivery settings; RCPT and delivery both use it. */
export function localRecipientSettings(loaded: LoadedConfig, aliases: () => AliasTable): LocalRecipientSettings {
  const { config } = loaded;
  const d = config.delivery;
  const localDomains = new DomainSet(d.local_domains);
  return {
    isLocalDomain: (domain) => localDomains.has(domain),
    maildirRoot: resolve(loaded.dir, d.maildir_root),
    createMailboxes: d.create_mailboxes,
    aliases,
    delimiters: d.recipient_delimiter,
    postmaster: d.postmaster ?? `postmaster@${config.hostname}`,
  };
}

export function createScheduler(
  loaded: LoadedConfig,
  pipelines: ReadonlyMap<string, Pipeline>,
  queue: MessageQueue,
  log: Logger,
  aliases: () => AliasTable = loadAliasTable(loaded, log),
): Scheduler {
  const { config } = loaded;
  const d = config.delivery;
  const pipeline = d.pipeline ? pipelines.get(d.pipeline) : undefined;
  if (d.pipeline && !pipeline) throw new Error(`delivery.pipeline: no pipeline named "${d.pipeline}"`);
  const hooksFrom = pipeline ?? new Pipeline('delivery');

  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (d.dns_servers?.length) resolver.setServers(d.dns_servers);

  const lifetimeMs = d.queue_lifetime;
  const local = localRecipientSettings(loaded, aliases);
  return new Scheduler(
    {
      hostname: config.hostname,
      helo: d.helo ?? config.hostname,
      routing: { isLocal: local.isLocalDomain, routes: d.routes, mxPort: d.mx_port, mxTls: d.mx_tls },
      doubleBounce: d.double_bounce,
      bounceMaxBytes: d.bounce_max_bytes,
      retryLocal: { baseMs: d.retry_base_local, lifetimeMs },
      retryRemote: { baseMs: d.retry_base_remote, lifetimeMs },
      concurrencyLocal: d.concurrency_local,
      concurrencyRemote: d.concurrency_remote,
      concurrencyPerDomain: d.concurrency_per_domain,
      connectTimeoutMs: d.connect_timeout,
      commandTimeoutMs: d.command_timeout,
    },
    {
      queue,
      hooks: hooksFrom.hooks,
      recipients: new LocalRecipients(local, hooksFrom.users),
      resolver,
      log: log.child({ component: 'delivery' }),
    },
  );
}
