/*
 * The delivery thread: the scheduler and everything it drives (route, deliver
 * and bounce hooks, Maildir writes, the SMTP client) on their own core, as
 * qmail-send runs beside qmail-smtpd. It reads the configuration file itself,
 * builds only the delivery pipeline, attaches to the queue the main thread
 * opened and recovered, and learns of each commit from the main thread. Its
 * log lines go to the main thread, the log's only writer. It never binds a
 * port and never takes the queue lock.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import type { AliasTable } from '../delivery/local-address.js';
import type { Scheduler } from '../delivery/scheduler.js';
import { createScheduler, readAliasTable, schedulerConfig } from '../delivery/setup.js';
import { createLogger, type Logger } from '../log/logger.js';
import { enableMetrics, metricsData } from '../metrics/metrics.js';
import { gatewayInfo } from '../pipeline/gateway-info.js';
import { buildPipeline, type Pipeline, shutdownPipelines } from '../pipeline/pipeline.js';
import { FileQueue } from '../queue/file-queue.js';
import type { DeliveryThreadData, FromDeliveryThread, SchedulerCall, ToDeliveryThread } from './delivery-messages.js';

/** What one configuration gives delivery: its pipeline (if delivery.pipeline names one) and the aliases. */
interface DeliveryConfig {
  readonly loaded: LoadedConfig;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly aliases: AliasTable;
}

async function prepareDelivery(loaded: LoadedConfig, log: Logger): Promise<DeliveryConfig> {
  const aliases = readAliasTable(loaded);
  const pipelines = new Map<string, Pipeline>();
  const name = loaded.config.delivery.pipeline;
  const spec = name === undefined ? undefined : loaded.pipelines.get(name);
  if (spec) {
    const gateway = gatewayInfo(loaded.config, loaded.queuePath);
    pipelines.set(spec.name, await buildPipeline(spec, log, loaded.config.hook_timeout, { gateway }));
  }
  try {
    for (const pipeline of pipelines.values()) await pipeline.hooks.init.promise({ log });
  } catch (err) {
    await shutdownPipelines(pipelines, log);
    throw err;
  }
  return { loaded, pipelines, aliases };
}

if (!parentPort) throw new Error('the delivery thread runs as a worker of the gateway');
const port: MessagePort = parentPort;
const post = (message: FromDeliveryThread) => port.postMessage(message);
const { configFile, texts, metrics } = workerData as DeliveryThreadData;

let current: DeliveryConfig;
const firstLoad = loadConfig(configFile, { texts });
const logs = createLogger({
  level: firstLoad.config.log.level,
  format: firstLoad.config.log.format,
  sink: (text) => post({ type: 'log', text }),
});
const { log } = logs;
if (metrics) enableMetrics({ processMetrics: false });
process.on('unhandledRejection', (err) =>
  log.error({ err, thread: 'delivery' }, 'unhandled rejection; please report this as a bug'),
);

current = await prepareDelivery(firstLoad, log);
const queue = new FileQueue(firstLoad.queuePath, {
  groupCommit: firstLoad.config.queue.group_commit,
  commitSync: firstLoad.config.queue.commit_sync,
});
queue.attach();
const scheduler: Scheduler = createScheduler(current.loaded, current.pipelines, queue, log, () => current.aliases);
await scheduler.start();

/** A reload: the new configuration for runs that start from now; the old pipeline is shut down once its runs end. */
async function reload(texts: ReadonlyMap<string, string>): Promise<{ ok: boolean; problems?: string[] }> {
  let next: DeliveryConfig;
  try {
    next = await prepareDelivery(loadConfig(configFile, { texts }), log);
  } catch (err) {
    const problem = (err as Error).message;
    log.error({ event: 'reload', thread: 'delivery', err }, `delivery keeps its configuration: ${problem}`);
    return { ok: false, problems: [problem] };
  }
  const old = current;
  current = next;
  log.level = next.loaded.config.log.level;
  const { settings, deps } = schedulerConfig(next.loaded, next.pipelines, queue, log, () => next.aliases);
  void scheduler.reconfigure(settings, deps).then(() => shutdownPipelines(old.pipelines, log));
  for (const pipeline of next.pipelines.values()) void pipeline.hooks.reload.promise({ log }).catch(() => undefined);
  return { ok: true };
}

async function answer(call: SchedulerCall): Promise<unknown> {
  switch (call.op) {
    case 'flush':
      return scheduler.flush(call.id);
    case 'remove':
      return scheduler.remove(call.id);
    case 'bounce':
      return scheduler.bounceNow(call.id, call.reason);
    case 'idle':
      return scheduler.idleAll(call.ids);
    case 'metrics':
      return metricsData();
    case 'reload':
      return reload(call.texts);
  }
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await scheduler.stop();
  await shutdownPipelines(current.pipelines, log);
  await queue.close();
  logs.flushSync();
  post({ type: 'stopped' });
  port.close();
}

port.on('message', (message: ToDeliveryThread) => {
  switch (message.type) {
    case 'commit':
      for (const id of message.ids) queue.announce(id);
      return;
    case 'call':
      answer(message.call).then(
        (value) => post({ type: 'reply', n: message.n, value }),
        (err: unknown) => post({ type: 'reply', n: message.n, error: (err as Error).message }),
      );
      return;
    case 'stop':
      void stop();
      return;
  }
});
post({ type: 'ready' });
