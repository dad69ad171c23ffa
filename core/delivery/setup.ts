/*
 * Builds the scheduler from configuration: routing table, retry policies,
 * aliases, the DNS resolver and the delivery pipeline
 * whose plugins serve the route, deliver, bounce and lookupUser hooks; and
 * the settings of the local resolution that RCPT and delivery share.
 */

import { Resolver } from 'node:dns/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { LoadedConfig } from '../config/load.js';
import { SourceFile } from '../config/source.js';
import { DomainSet } from '../model/index.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { displayPath } from '../pipeline/registry.js';
import type { MessageQueue } from '../queue/queue.js';
import { AliasError, type AliasTable, aliasTable } from './local-address.js';
import { type LocalRecipientSettings, LocalRecipients } from './local-recipients.js';
import { Scheduler, type SchedulerDeps, type SchedulerSettings } from './scheduler.js';

/**
 * The aliases file, read and checked with the rest of the configuration (start,
 * check config, reload): a file that cannot be read, is not YAML or has a bad
 * entry is a configuration error pointing at delivery.aliases or into the file.
 * One table serves both the RCPT check and delivery, so they never see two
 * versions of the file.
 */
export function readAliasTable(loaded: LoadedConfig): AliasTable {
  const name = loaded.config.delivery.aliases;
  if (!name) return {};
  const file = resolve(loaded.dir, name);
  let source: SourceFile;
  try {
    source = SourceFile.read(file, displayPath(file));
  } catch (err) {
    if (err instanceof ConfigError) {
      // Unreadable: the key that names the file is where to look; YAML errors already point into it.
      throw new ConfigError(
        err.problems.map((p) =>
          p.line === 0 ? loaded.source.problem(['delivery', 'aliases'], `aliases file ${name}: ${p.message}`) : p,
        ),
      );
    }
    throw err;
  }
  try {
    return aliasTable(source.value());
  } catch (err) {
    if (err instanceof AliasError) throw new ConfigError([source.problem(err.key === undefined ? [] : [err.key], err.problem)]);
    throw err;
  }
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
  aliases: () => AliasTable,
): Scheduler {
  const { settings, deps } = schedulerConfig(loaded, pipelines, queue, log, aliases);
  return new Scheduler(settings, deps);
}

/** The scheduler's settings and engines from configuration, for a new scheduler or a reload. */
export function schedulerConfig(
  loaded: LoadedConfig,
  pipelines: ReadonlyMap<string, Pipeline>,
  queue: MessageQueue,
  log: Logger,
  aliases: () => AliasTable,
): { settings: SchedulerSettings; deps: SchedulerDeps } {
  const { config } = loaded;
  const d = config.delivery;
  const pipeline = d.pipeline ? pipelines.get(d.pipeline) : undefined;
  if (d.pipeline && !pipeline) throw new Error(`delivery.pipeline: no pipeline named "${d.pipeline}"`);
  const hooksFrom = pipeline ?? new Pipeline('delivery');

  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (d.dns_servers?.length) resolver.setServers(d.dns_servers);

  const lifetimeMs = d.queue_lifetime;
  const local = localRecipientSettings(loaded, aliases);
  return {
    settings: {
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
    deps: {
      queue,
      hooks: hooksFrom.hooks,
      recipients: new LocalRecipients(local, hooksFrom.users),
      resolver,
      log: log.child({ component: 'delivery' }),
    },
  };
}
