/*
 * The running gateway: configuration, logger, queue (locked and recovered),
 * one pipeline per name and one listener per entry, wired together, plus the
 * signals an MTA answers: SIGTERM/SIGINT (graceful stop), SIGHUP (reload) and
 * SIGUSR1 (reopen the log file). Started as root with `user:`, it binds the
 * listeners, opens the queue and the log, then runs as that user.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ReloadOutcome } from './admin/reload.js';
import { resolveAdminSettings } from './admin/settings.js';
import { type RunningAdmin, startAdmin } from './admin/start.js';
import { ConfigError } from './config/errors.js';
import { type LoadedConfig, loadConfig } from './config/load.js';
import { createRecipientCheck } from './delivery/recipient-check.js';
import { createScheduler, loadAliasTable } from './delivery/setup.js';
import { createLogger } from './log/logger.js';
import { enableMetrics } from './metrics/metrics.js';
import { gatewayInfo } from './pipeline/gateway-info.js';
import { buildPipeline, type Pipeline } from './pipeline/pipeline.js';
import { asUser, chownTree, dropPrivileges, isRoot, resolveRunAs } from './process/privileges.js';
import { FileQueue } from './queue/file-queue.js';
import type { QueueLock } from './queue/lock.js';
import { SmtpListener } from './smtp/server.js';

export interface RunningGateway {
  readonly listeners: readonly { name: string; address: string; port: number }[];
  /** The admin API's URL, if admin.enabled. */
  readonly admin: string | undefined;
  stop(): Promise<void>;
  reload(): Promise<ReloadOutcome>;
}

export async function buildPipelines(loaded: LoadedConfig, log: Logger): Promise<Map<string, Pipeline>> {
  const pipelines = new Map<string, Pipeline>();
  const problems: ConfigError['problems'][number][] = [];
  const gateway = gatewayInfo(loaded.config);
  for (const spec of loaded.pipelines.values()) {
    try {
      pipelines.set(spec.name, await buildPipeline(spec, log, loaded.config.hook_timeout, { gateway }));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return pipelines;
}

/** How long a stopping gateway waits for its last log lines to be written (a stuck stdout reader). */
const LOG_FLUSH_MS = 5_000;

/** How often a gateway that started on a full queue disk tries again to record its pid. */
const PID_RETRY_MS = 5_000;

function keepRecordingPid(lock: QueueLock, path: string, log: Logger): void {
  log.warn(
    { event: 'queue', path, file: lock.path },
    'queue disk full: started without recording the pid in gateway.lock; free space on the queue disk ' +
      '(delivering the queue frees some). Until then qgate queue flush|remove|bounce cannot reach this gateway',
  );
  const retry = setInterval(() => {
    let done = !lock.held; // stopped meanwhile
    try {
      if (!done && lock.recordPid()) {
        done = true;
        log.info({ event: 'queue', path, file: lock.path }, 'pid recorded in gateway.lock');
      }
    } catch (err) {
      done = true;
      log.error({ err, event: 'queue', path }, 'cannot record the pid in gateway.lock');
    }
    if (done) clearInterval(retry);
  }, PID_RETRY_MS);
  retry.unref();
}

export async function startGateway(configFile: string): Promise<RunningGateway> {
  const loaded = loadConfig(configFile);
  const { config } = loaded;
  // Only root can become someone else; started as that user already (systemd User=), nothing changes.
  const runAs = config.user !== undefined && isRoot() ? resolveRunAs(config.user, config.group) : undefined;
  const logFile = config.log.file === undefined ? undefined : resolve(loaded.dir, config.log.file);
  const logs = createLogger({ level: config.log.level, format: config.log.format, file: logFile, owner: runAs });
  const { log } = logs;
  const adminSettings = resolveAdminSettings(loaded);
  if (adminSettings.enabled && adminSettings.metrics) enableMetrics();
  const pipelines = await buildPipelines(loaded, log);
  // Read before the queue is locked, so a bad aliases file or recipient list stops start-up cleanly.
  const aliases = loadAliasTable(loaded, log);
  const recipientCheck = createRecipientCheck(loaded, pipelines, aliases, log);

  const queue = new FileQueue(loaded.queuePath, { groupCommit: config.queue.group_commit });
  const lock = queue.lock();
  // A full queue disk must not keep the gateway down: delivering the queue is what frees it.
  // Only the pid is missing from gateway.lock until then; it is written once there is room.
  if (!lock.pidRecorded) keepRecordingPid(lock, loaded.queuePath, log);
  const recovery = await queue.open();
  if (runAs) {
    // The queue (entries a run as root left too) and the mail store belong to the user the gateway becomes.
    chownTree(loaded.queuePath, runAs);
    const maildirRoot = resolve(loaded.dir, config.delivery.maildir_root);
    mkdirSync(maildirRoot, { recursive: true });
    chownTree(maildirRoot, runAs);
  }
  log.info({ event: 'queue', path: loaded.queuePath, messages: recovery.messages, removed: recovery.removed }, 'queue opened');
  if (recovery.corrupt.length) {
    log.error(
      { event: 'queue', corrupt: recovery.corrupt },
      'damaged queue entries moved to corrupt/; inspect them, they were not delivered',
    );
  }

  // Plugins start as the user they will run as: a file one creates (a self-signed certificate)
  // is one it can read again on SIGHUP, and one it cannot create fails now, not at a reload.
  const initPlugins = async () => {
    for (const pipeline of pipelines.values()) await pipeline.hooks.init.promise({ log });
  };
  await (runAs ? asUser(runAs, initPlugins) : initPlugins());
  const scheduler = config.delivery.enabled ? createScheduler(loaded, pipelines, queue, log, aliases) : undefined;

  const listeners: SmtpListener[] = [];
  const bound: { name: string; address: string; port: number }[] = [];
  // Bound before the SMTP listeners: once a gateway says it listens, qgate can reach it.
  let admin: RunningAdmin | undefined;
  try {
    if (adminSettings.enabled) {
      admin = await startAdmin(loaded.queuePath, adminSettings, {
        queue,
        scheduler,
        log,
        reload: () => reload(),
        requestStop: () => shutdown(),
      });
    }
    for (const listenerConfig of config.listeners) {
      const listener = new SmtpListener(
        {
          listener: listenerConfig,
          hostname: listenerConfig.hostname ?? config.hostname,
          pipeline: pipelines.get(listenerConfig.pipeline)!,
          queue,
          log: log.child({ listener: listenerConfig.name }),
          ...(recipientCheck ? { recipientCheck } : {}),
        },
        log,
      );
      // Connections wait until privileges are dropped: no session ever runs as root.
      const at = await listener.listen({ hold: true });
      listeners.push(listener);
      bound.push({ name: listenerConfig.name, ...at });
      log.info(
        {
          event: 'listening',
          listener: listenerConfig.name,
          address: at.address,
          port: at.port,
          pipeline: listenerConfig.pipeline,
        },
        'listening',
      );
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.shutdown(0)));
    await admin?.close();
    await queue.close();
    throw err;
  }

  if (runAs) {
    dropPrivileges(runAs);
    log.info({ event: 'privileges', user: runAs.user, uid: runAs.uid, gid: runAs.gid }, `running as ${runAs.user}`);
  } else if (isRoot()) {
    log.warn(
      { event: 'privileges' },
      'running as root: every session and plugin runs with full privileges. Set `user:` (e.g. qgate) to run as that user after binding the ports',
    );
  }
  for (const listener of listeners) listener.release();
  await scheduler?.start();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info(
        { event: 'shutdown', graceMs: config.shutdown_grace },
        'shutting down: no new connections, finishing transactions',
      );
      await admin?.close();
      await Promise.all(listeners.map((l) => l.shutdown(config.shutdown_grace)));
      await scheduler?.stop();
      for (const pipeline of pipelines.values()) await pipeline.hooks.shutdown.promise({ log }).catch(() => undefined);
      await queue.close();
      log.info({ event: 'stopped' }, 'stopped');
      // Under a delivery backlog the last lines were still queued for writing when the process exited.
      await logs.flush(LOG_FLUSH_MS);
    })();
    return stopping;
  };
  const reload = async (): Promise<ReloadOutcome> => {
    log.info({ event: 'reload' }, 'SIGHUP: reloading plugins');
    const problems: string[] = [];
    await Promise.all(
      [...pipelines.values()].map((pipeline) =>
        pipeline.hooks.reload.promise({ log }).catch((err: unknown) => {
          problems.push(err instanceof Error ? err.message : String(err));
          log.error({ err }, 'reload failed');
        }),
      ),
    );
    return problems.length ? { ok: false, problems } : { ok: true };
  };
  process.on('SIGHUP', () => void reload());
  // A stop that fails (the queue directory removed under it, say) must still end the process.
  const shutdown = () =>
    void stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.fatal({ err, event: 'shutdown' }, 'stopping failed; exiting (acknowledged mail is safe in the queue)');
        logs.flushSync();
        process.exit(70);
      },
    );
  // logrotate's postrotate: write to a new file at the configured path.
  process.on('SIGUSR1', () => {
    if (!logs.file) return;
    logs.reopen();
    log.info({ event: 'log', file: logs.file }, 'log file reopened');
  });
  // Safety nets. A stray rejection is logged, not fatal. An uncaught exception leaves
  // unknown state behind, so the process exits for its supervisor to restart it; the
  // queue needs no cleanup (every acknowledged message is committed, the rest is tmp/).
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection; please report this as a bug'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting (acknowledged mail is safe in the queue)');
    logs.flushSync();
    process.exit(70);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // A repeated signal while stopping must not kill the process mid-commit.
    process.on(signal, shutdown);
  }
  return { listeners: bound, admin: admin?.url, stop, reload };
}
