/*
 * The running gateway: configuration, logger, queue (locked and recovered),
 * one pipeline per name and one listener per entry, wired together, plus the
 * signals an MTA answers: SIGTERM/SIGINT (graceful stop) and SIGHUP (reload).
 */
import type { Logger } from 'pino';
import { loadConfig } from './config/load.js';
import { takeControlRequests } from './delivery/control.js';
import { createScheduler } from './delivery/setup.js';
import { BOUNCED_BY_ADMINISTRATOR } from './delivery/state.js';
import { createLogger } from './log/logger.js';
import { prepareConfig } from './prepare.js';
import { FileQueue } from './queue/file-queue.js';
import type { QueueLock } from './queue/lock.js';
import { SmtpListener } from './smtp/server.js';

export interface RunningGateway {
  readonly listeners: readonly { name: string; address: string; port: number }[];
  stop(): Promise<void>;
}

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
  const log = createLogger(config.log.level);
  // Prepared before the queue is locked, so a bad plugin, aliases file or recipient list stops start-up cleanly.
  const { pipelines, aliases, recipientCheck } = await prepareConfig(loaded, log);

  const queue = new FileQueue(loaded.queuePath, { groupCommit: config.queue.group_commit });
  const lock = queue.lock();
  // A full queue disk must not keep the gateway down: delivering the queue is what frees it.
  // Only the pid is missing from gateway.lock until then; it is written once there is room.
  if (!lock.pidRecorded) keepRecordingPid(lock, loaded.queuePath, log);
  const recovery = await queue.open();
  log.info({ event: 'queue', path: loaded.queuePath, messages: recovery.messages, removed: recovery.removed }, 'queue opened');
  if (recovery.corrupt.length) {
    log.error(
      { event: 'queue', corrupt: recovery.corrupt },
      'damaged queue entries moved to corrupt/; inspect them, they were not delivered',
    );
  }

  for (const pipeline of pipelines.values()) await pipeline.hooks.init.promise({ log });
  const scheduler = config.delivery.enabled ? createScheduler(loaded, pipelines, queue, log, () => aliases) : undefined;

  const listeners: SmtpListener[] = [];
  const bound: { name: string; address: string; port: number }[] = [];
  try {
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
      const at = await listener.listen();
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
    await queue.close();
    throw err;
  }

  await scheduler?.start();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info(
        { event: 'shutdown', graceMs: config.shutdown_grace },
        'shutting down: no new connections, finishing transactions',
      );
      await Promise.all(listeners.map((l) => l.shutdown(config.shutdown_grace)));
      await scheduler?.stop();
      for (const pipeline of pipelines.values()) await pipeline.hooks.shutdown.promise({ log }).catch(() => undefined);
      await queue.close();
      log.info({ event: 'stopped' }, 'stopped');
      log.flush();
    })();
    return stopping;
  };
  const reload = () => {
    log.info({ event: 'reload' }, 'SIGHUP: reloading plugins');
    for (const pipeline of pipelines.values()) {
      pipeline.hooks.reload.promise({ log }).catch((err: unknown) => log.error({ err }, 'reload failed'));
    }
  };
  process.on('SIGHUP', reload);
  // qgate queue flush|remove|bounce leave requests and send SIGUSR1.
  process.on('SIGUSR1', () => {
    for (const request of takeControlRequests(loaded.queuePath)) {
      const done = (err?: unknown) =>
        err
          ? log.error({ err, event: 'control', ...request }, `queue ${request.action} failed`)
          : log.info({ event: 'control', ...request }, `queue ${request.action}`);
      if (!scheduler) {
        done(new Error('delivery is disabled'));
        continue;
      }
      const work =
        request.action === 'flush'
          ? scheduler.flush(request.id)
          : request.action === 'remove'
            ? scheduler.remove(request.id!)
            : scheduler.bounceNow(request.id!, BOUNCED_BY_ADMINISTRATOR);
      work.then(() => done(), done);
    }
  });
  // Safety nets. A stray rejection is logged, not fatal. An uncaught exception leaves
  // unknown state behind, so the process exits for its supervisor to restart it; the
  // queue needs no cleanup (every acknowledged message is committed, the rest is tmp/).
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection; please report this as a bug'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting (acknowledged mail is safe in the queue)');
    log.flush();
    process.exit(70);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // A repeated signal while stopping must not kill the process mid-commit.
    process.on(signal, () => {
      void stop().then(() => process.exit(0));
    });
  }
  return { listeners: bound, stop };
}
