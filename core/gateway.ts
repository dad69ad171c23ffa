/*
 * The running gateway: configuration, logger, queue (locked and recovered),
 * one pipeline per name and one listener per entry, wired together, plus the
 * signals an MTA answers: SIGTERM/SIGINT (graceful stop), SIGHUP (reload) and
 * SIGUSR1 (reopen the log file). Started as root with `user:`, it binds the
 * listeners, opens the queue and the log, then runs as that user.
 * A reload (reload.ts plans it) prepares the whole configuration again as
 * check config does, binds new listeners, and only then swaps, for new
 * sessions and delivery runs; a failure anywhere keeps the running one.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { resolveAdminSettings } from './admin/settings.js';
import { type RunningAdmin, startAdmin } from './admin/start.js';
import { ConfigError, formatProblem } from './config/errors.js';
import { type LoadedConfig, loadConfig } from './config/load.js';
import { createLogger } from './log/logger.js';
import { enableMetrics, setThreadMetricsSource } from './metrics/metrics.js';
import { shutdownPipelines } from './pipeline/pipeline.js';
import { Pop3Listener } from './pop3/server.js';
import { type PreparedConfig, prepareConfig, resolveAccount } from './prepare.js';
import { DeliveryThread } from './process/delivery-thread.js';
import { asUser, chownTree, dropPrivileges, isRoot } from './process/privileges.js';
import { FileQueue } from './queue/file-queue.js';
import type { QueueLock } from './queue/lock.js';
import { describeChanges, type ReloadOutcome } from './reload.js';
import { SmtpListener } from './smtp/server.js';
import type { SessionSettings } from './smtp/session.js';

export type { ReloadOutcome } from './reload.js';

export interface RunningGateway {
  /** The listeners bound now (a reload may change them). */
  readonly listeners: readonly { name: string; address: string; port: number }[];
  /** The admin API's URL, if admin.enabled. */
  readonly admin: string | undefined;
  stop(): Promise<void>;
  /** Re-reads and applies the configuration (SIGHUP); never throws. */
  reload(): Promise<ReloadOutcome>;
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

/**
 * What every listener gets: the SMTP session's settings and the Maildir root, which a POP3
 * listener serves. One object for both, so the reload below treats them alike.
 */
type ListenerSettings = SessionSettings & { readonly maildirRoot: string };

/** An SMTP or a POP3 listener (`protocol:`); both have the same life. */
type Listener = SmtpListener | Pop3Listener;

interface Bound {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

function sessionSettings(prepared: PreparedConfig, index: number, queue: FileQueue, log: Logger): ListenerSettings {
  const { config } = prepared.loaded;
  const listener = config.listeners[index]!;
  return {
    listener,
    hostname: listener.hostname ?? config.hostname,
    pipeline: prepared.pipelines.get(listener.pipeline)!,
    queue,
    maildirRoot: resolve(prepared.loaded.dir, config.delivery.maildir_root),
    log: log.child({ listener: listener.name }),
    ...(prepared.recipientCheck ? { recipientCheck: prepared.recipientCheck } : {}),
  };
}

/** `hold`: connections wait for release() (until privileges are dropped at start-up). */
async function bindListener(settings: ListenerSettings, log: Logger, hold = false): Promise<{ listener: Listener; at: Bound }> {
  const config = settings.listener;
  const listener = config.protocol === 'pop3' ? new Pop3Listener(settings, log) : new SmtpListener(settings, log);
  const at = await listener.listen({ hold });
  log.info(
    {
      event: 'listening',
      listener: config.name,
      protocol: config.protocol,
      address: at.address,
      port: at.port,
      pipeline: config.pipeline,
    },
    'listening',
  );
  return { listener, at: { name: config.name, ...at } };
}

export async function startGateway(configFile: string): Promise<RunningGateway> {
  const loaded = loadConfig(configFile);
  const { config } = loaded;
  // Only root can become someone else; started as that user already (systemd User=), nothing changes.
  const runAs = isRoot() ? resolveAccount(loaded) : undefined;
  const logFile = config.log.file === undefined ? undefined : resolve(loaded.dir, config.log.file);
  const logs = createLogger({ level: config.log.level, format: config.log.format, file: logFile, owner: runAs });
  const { log } = logs;
  /** Ends the process after a failure that leaves unknown state (status 70); the queue needs no cleanup. */
  const exitFailed = (err: unknown, event: string | undefined, what: string): never => {
    log.fatal({ err, ...(event ? { event } : {}) }, `${what}; exiting (acknowledged mail is safe in the queue)`);
    logs.flushSync();
    process.exit(70);
  };
  const adminSettings = resolveAdminSettings(loaded);
  if (adminSettings.enabled && adminSettings.metrics) enableMetrics();
  // From the first moment: SIGHUP's default action would kill the process. One that comes
  // before the gateway is ready is answered once it is.
  let hupPending = false;
  let onHup = () => {
    hupPending = true;
  };
  process.on('SIGHUP', () => onHup());
  // Prepared before the queue is locked, so a bad plugin, aliases file or recipient list stops start-up cleanly.
  let prepared = await prepareConfig(loaded, log);

  const queue = new FileQueue(loaded.queuePath, {
    groupCommit: config.queue.group_commit,
    commitSync: config.queue.commit_sync,
  });
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
  const { commitSync, fileSystem } = queue.commitSyncInfo();
  log.info(
    { event: 'queue', path: loaded.queuePath, messages: recovery.messages, removed: recovery.removed, commitSync, fileSystem },
    'queue opened',
  );
  if (recovery.corrupt.length) {
    log.error(
      { event: 'queue', corrupt: recovery.corrupt },
      'damaged queue entries moved to corrupt/; inspect them, they were not delivered',
    );
  }

  // Plugins start as the user they will run as: a file one creates (a self-signed certificate)
  // is one it can read again on SIGHUP, and one it cannot create fails now, not at a reload.
  const initPlugins = async () => {
    for (const pipeline of prepared.pipelines.values()) await pipeline.hooks.init.promise({ log });
  };
  await (runAs ? asUser(runAs, initPlugins) : initPlugins());
  /** Delivery, in its own thread once started (after privileges are dropped); undefined when off. */
  let scheduler: DeliveryThread | undefined;
  // Every commit (and every release from quarantine) goes to the delivery thread.
  queue.onCommit((id) => scheduler?.committed(id));
  const startDelivery = async (): Promise<DeliveryThread> => {
    const thread = await DeliveryThread.start({
      configFile,
      texts: prepared.loaded.texts,
      metrics: adminSettings.enabled && adminSettings.metrics,
      logs,
      onFailure: (err) => exitFailed(err, 'delivery', 'the delivery thread failed'),
    });
    setThreadMetricsSource(() => thread.metrics());
    return thread;
  };
  const stopDelivery = async (thread: DeliveryThread): Promise<void> => {
    setThreadMetricsSource(undefined);
    await thread.stop();
  };

  /** The listeners by name, and where each is bound. */
  let listeners = new Map<string, { listener: Listener; at: Bound }>();
  // Bound before the SMTP listeners: once a gateway says it listens, qgate can reach it.
  let admin: RunningAdmin | undefined;
  try {
    if (adminSettings.enabled) {
      admin = await startAdmin(loaded.queuePath, adminSettings, {
        queue,
        // Read at each request: a reload may start or stop delivery.
        get scheduler() {
          return scheduler;
        },
        log,
        reload: () => reload(),
        requestStop: () => shutdown(),
        // The first pipeline with a plugin that keeps relay grants records it (they share one store).
        grantRelay: async (request) => {
          for (const pipeline of prepared.pipelines.values()) {
            const answer = await pipeline.hooks.relayGrant.promise(request);
            if (answer) return answer;
          }
          return undefined;
        },
      });
    }
    for (const [i] of config.listeners.entries()) {
      // Connections wait until privileges are dropped: no session ever runs as root.
      const one = await bindListener(sessionSettings(prepared, i, queue, log), log, true);
      listeners.set(one.at.name, one);
    }
  } catch (err) {
    await Promise.all([...listeners.values()].map((l) => l.listener.shutdown(0)));
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
  try {
    if (config.delivery.enabled) scheduler = await startDelivery();
  } catch (err) {
    await Promise.all([...listeners.values()].map((l) => l.listener.shutdown(0)));
    await admin?.close();
    await queue.close();
    throw err;
  }
  for (const { listener } of listeners.values()) listener.release();

  /** Listeners a reload removed or moved, still finishing their sessions. */
  const closing = new Set<Listener>();
  /** Configurations a reload replaced, released (shutdown hooks) once nothing uses them. */
  const retiring = new Set<Promise<void>>();
  let reloading: Promise<ReloadOutcome> = Promise.resolve({ ok: true, changed: [] });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const grace = prepared.loaded.config.shutdown_grace;
      log.info({ event: 'shutdown', graceMs: grace }, 'shutting down: no new connections, finishing transactions');
      await reloading;
      await admin?.close();
      const all = [...[...listeners.values()].map((l) => l.listener), ...closing];
      await Promise.all(all.map((l) => l.shutdown(grace)));
      if (scheduler) await stopDelivery(scheduler);
      await Promise.all(retiring);
      await shutdownPipelines(prepared.pipelines, log);
      await queue.close();
      log.info({ event: 'stopped' }, 'stopped');
      // Under a delivery backlog the last lines were still queued for writing when the process exited.
      await logs.flush(LOG_FLUSH_MS);
    })();
    return stopping;
  };

  /** Keeps the running configuration: logs why, releases what the attempt built. */
  const refuse = async (problems: string[], built?: PreparedConfig): Promise<ReloadOutcome> => {
    log.error(
      { event: 'reload', problems },
      `reload failed; keeping the running configuration. Fix these and reload again:\n${problems.join('\n')}`,
    );
    if (built) await shutdownPipelines(built.pipelines, log);
    return { ok: false, problems };
  };

  const apply = async (): Promise<ReloadOutcome> => {
    if (stopping) return { ok: false, problems: ['the gateway is stopping'] };
    let next: PreparedConfig;
    let nextLoaded: LoadedConfig;
    try {
      nextLoaded = loadConfig(configFile);
      next = await prepareConfig(nextLoaded, log);
    } catch (err) {
      return refuse(err instanceof ConfigError ? err.problems.map(formatProblem) : [(err as Error).message]);
    }
    const before = prepared.loaded.config;
    const after = nextLoaded.config;
    // The queue is opened and locked once; moving it needs a restart.
    if (
      nextLoaded.queuePath !== prepared.loaded.queuePath ||
      after.queue.group_commit !== before.queue.group_commit ||
      after.queue.commit_sync !== before.queue.commit_sync
    ) {
      return refuse(
        [formatProblem(nextLoaded.source.problem(['queue'], 'the queue settings cannot change on reload; restart qgate'))],
        next,
      );
    }
    try {
      for (const pipeline of next.pipelines.values()) await pipeline.hooks.init.promise({ log });
    } catch (err) {
      return refuse([(err as Error).message], next);
    }

    // Listeners: one on the same address and port (an ephemeral port: the same name) keeps its
    // socket and gets the new settings; the others are bound now, before anything changes.
    const kept = new Map<string, { listener: Listener; at: Bound; settings: ListenerSettings }>();
    const opened: { listener: Listener; at: Bound }[] = [];
    const claimed = new Set<Listener>();
    for (const [i, config] of after.listeners.entries()) {
      const settings = sessionSettings(next, i, queue, log);
      const same = [...listeners.values()].find(
        ({ listener, at }) =>
          !claimed.has(listener) &&
          listener.current.listener.protocol === config.protocol &&
          listener.current.listener.address === config.address &&
          (config.port === 0 ? at.name === config.name && listener.current.listener.port === 0 : at.port === config.port),
      );
      if (same) {
        claimed.add(same.listener);
        kept.set(config.name, { listener: same.listener, at: { ...same.at, name: config.name }, settings });
        continue;
      }
      try {
        opened.push(await bindListener(settings, log));
      } catch (err) {
        await Promise.all(opened.map((o) => o.listener.shutdown(0)));
        return refuse([formatProblem(nextLoaded.source.problem(['listeners', i], (err as Error).message))], next);
      }
    }

    // The swap: nothing below waits, so no session starts on a half-applied configuration.
    const old = prepared;
    const oldSettings = new Map([...listeners.values()].map(({ listener }) => [listener, listener.current]));
    const changed = describeChanges(
      old.loaded,
      nextLoaded,
      new Map([...listeners.values()].map(({ at }) => [at.name, at])),
      new Map([...[...kept.values()].map(({ at }) => [at.name, at] as const), ...opened.map(({ at }) => [at.name, at] as const)]),
    );
    const nextListeners = new Map<string, { listener: Listener; at: Bound }>();
    for (const [name, { listener, at, settings }] of kept) {
      listener.reconfigure(settings);
      nextListeners.set(name, { listener, at });
    }
    for (const one of opened) nextListeners.set(one.at.name, one);
    const drained: Promise<void>[] = [];
    for (const { listener } of listeners.values()) {
      if (claimed.has(listener)) {
        // The settings this listener had: of its own kind (a listener keeps its protocol).
        drained.push(listener.drained(oldSettings.get(listener)! as ListenerSettings));
        continue;
      }
      closing.add(listener);
      drained.push(
        listener.close().then(() => {
          closing.delete(listener);
        }),
      );
    }
    listeners = nextListeners;
    prepared = next;
    log.level = after.log.level;
    if (after.delivery.enabled && scheduler) {
      // The delivery thread builds from the same texts and swaps for its new runs.
      void scheduler.reload(nextLoaded.texts).catch(() => undefined);
    } else if (after.delivery.enabled) {
      void startDelivery().then(
        (thread) => {
          if (stopping) void stopDelivery(thread);
          else scheduler = thread;
        },
        (err: unknown) => log.error({ err, event: 'reload' }, 'delivery could not start; mail stays queued'),
      );
    } else if (scheduler) {
      drained.push(stopDelivery(scheduler));
      scheduler = undefined;
    }
    // The reload hook keeps its contract (it fires on SIGHUP): the new instances get it, so a
    // plugin that keeps state outside its setup can refresh it. Their files were just read.
    for (const pipeline of next.pipelines.values()) void pipeline.hooks.reload.promise({ log }).catch(() => undefined);
    log.info(
      { event: 'reload', changed },
      changed.length
        ? `configuration reloaded: ${changed.join('; ')}`
        : 'configuration reloaded: config.yaml and the pipelines are unchanged; every plugin was set up again',
    );

    // The old plugin instances are shut down once the last session and delivery run that uses them ended.
    const retired: Promise<void> = Promise.all(drained).then(async () => {
      await shutdownPipelines(old.pipelines, log);
      log.info({ event: 'reload' }, 'previous configuration released: its last session ended and its plugins shut down');
      retiring.delete(retired);
    });
    retiring.add(retired);
    return { ok: true, changed };
  };

  // One reload at a time, in the order asked; a reload never throws.
  const reload = (): Promise<ReloadOutcome> => {
    reloading = reloading.then(apply, apply).catch((err: unknown) => refuse([(err as Error).message]));
    return reloading;
  };

  onHup = () => {
    log.info({ event: 'reload' }, 'SIGHUP: reloading the configuration');
    void reload();
  };
  if (hupPending) onHup();
  // A stop that fails (the queue directory removed under it, say) must still end the process.
  const shutdown = () =>
    void stop().then(
      () => process.exit(0),
      (err: unknown) => exitFailed(err, 'shutdown', 'stopping failed'),
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
  process.on('uncaughtException', (err) => exitFailed(err, undefined, 'uncaught exception'));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // A repeated signal while stopping must not kill the process mid-commit.
    process.on(signal, shutdown);
  }
  return {
    get listeners() {
      return [...listeners.values()].map(({ at }) => at);
    },
    admin: admin?.url,
    stop,
    reload,
  };
}
