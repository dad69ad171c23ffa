/*
 * The gateway's Prometheus metrics (prom-client), in one registry: what the
 * engines count at their existing log points, read by the admin listener's
 * /metrics and status page. Every label has a bounded set of values (listener,
 * plugin and hook names from the config, reply codes, fixed classes); never an
 * address or free text. Until enabled, every count is a no-op.
 */
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { QUEUE_STATES, type QueueCensus } from '../model/index.js';

export const registry = new Registry();

let enabled = false;

/**
 * Turns counting on (admin.metrics); also starts the process metrics (CPU, memory, event loop),
 * except in the delivery thread: they are the process's, and the main thread counts them once.
 */
export function enableMetrics({ processMetrics = true }: { processMetrics?: boolean } = {}): void {
  if (enabled) return;
  enabled = true;
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'qgate_' });
}

/** One thread's metrics as data, to cross to the thread that serves /metrics. */
export type MetricsData = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** This thread's metrics that have values (the delivery thread's counts; its queue gauges stay empty). */
export async function metricsData(): Promise<MetricsData> {
  return (await registry.getMetricsAsJSON()).filter((m) => m.values.length > 0);
}

let otherThreads: (() => Promise<MetricsData>) | undefined;

/** Where the delivery thread's counts come from, to be added to this thread's (undefined: none). */
export function setThreadMetricsSource(source: (() => Promise<MetricsData>) | undefined): void {
  otherThreads = source;
}

/**
 * Every thread's metrics in one registry, as /metrics and the status page show them:
 * a counter both threads keep (hook timings, say) is summed.
 */
export async function gatewayMetrics(): Promise<Registry> {
  if (!otherThreads) return registry;
  const [own, other] = await Promise.all([registry.getMetricsAsJSON(), otherThreads().catch(() => [])]);
  if (!other.length) return registry;
  return AggregatorRegistry.aggregate([own, other]);
}

export function metricsEnabled(): boolean {
  return enabled;
}

const connections = new Counter({
  name: 'qgate_connections_total',
  help: 'SMTP connections accepted, by listener',
  labelNames: ['listener'] as const,
  registers: [registry],
});

const messages = new Counter({
  name: 'qgate_messages_total',
  help: 'Transactions by result (queued, rejected, aborted), deciding plugin and reason class (reply code and enhanced code)',
  labelNames: ['listener', 'result', 'plugin', 'reason'] as const,
  registers: [registry],
});

const deliveries = new Counter({
  name: 'qgate_delivery_attempts_total',
  help: 'Delivery attempts per recipient, by result (delivered, deferred, failed) and destination class (local, route, smarthost, mx, none)',
  labelNames: ['result', 'destination'] as const,
  registers: [registry],
});

const hookSeconds = new Histogram({
  name: 'qgate_hook_duration_seconds',
  help: 'Time a plugin handler took, by plugin and hook',
  labelNames: ['plugin', 'hook'] as const,
  buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [registry],
});

const commitBatch = new Histogram({
  name: 'qgate_group_commit_batch_size',
  help: 'Queue commits covered by one directory fsync (group commit)',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128],
  registers: [registry],
});

const tlsSessions = new Counter({
  name: 'qgate_tls_sessions_total',
  help: 'TLS handshakes completed, by listener and protocol version',
  labelNames: ['listener', 'version'] as const,
  registers: [registry],
});

let queueSource: (() => Promise<QueueCensus>) | undefined;
/** Scrapes come every few seconds; the queue is counted at most this often, and never twice at once. */
const QUEUE_SNAPSHOT_MS = 5_000;
let snapshot: { at: number; value: Promise<QueueCensus>; done: boolean } | undefined;

async function queueSnapshot(): Promise<QueueCensus | undefined> {
  if (!queueSource) return undefined;
  if (!snapshot || (snapshot.done && Date.now() - snapshot.at > QUEUE_SNAPSHOT_MS)) {
    const taken = { at: Date.now(), value: queueSource(), done: false };
    void taken.value
      .finally(() => {
        taken.done = true;
      })
      .catch(() => undefined);
    snapshot = taken;
  }
  return snapshot.value;
}

new Gauge({
  name: 'qgate_queue_messages',
  help: 'Messages in the queue, by state (new: not attempted yet; deferred: attempted, recipients pending)',
  labelNames: ['state'] as const,
  registers: [registry],
  async collect() {
    const s = await queueSnapshot();
    if (!s) return;
    for (const state of QUEUE_STATES) this.set({ state }, s.states.get(state)?.messages ?? 0);
  },
});

new Gauge({
  name: 'qgate_queue_bytes',
  help: 'Octets the queue entries take on disk (message, envelope and footer), by state',
  labelNames: ['state'] as const,
  registers: [registry],
  async collect() {
    const s = await queueSnapshot();
    if (!s) return;
    for (const state of QUEUE_STATES) this.set({ state }, s.states.get(state)?.bytes ?? 0);
  },
});

new Gauge({
  name: 'qgate_queue_oldest_seconds',
  help: 'Age of the oldest message in the queue, by state (0 when none)',
  labelNames: ['state'] as const,
  registers: [registry],
  async collect() {
    const s = await queueSnapshot();
    if (!s) return;
    const now = Date.now();
    for (const state of QUEUE_STATES) {
      const oldest = s.states.get(state)?.oldestMs;
      this.set({ state }, oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000));
    }
  },
});

/** Where the queue gauges read from (the running gateway's queue). */
export function setQueueSource(source: (() => Promise<QueueCensus>) | undefined): void {
  queueSource = source;
  snapshot = undefined;
}

export function countConnection(listener: string): void {
  if (enabled) connections.inc({ listener });
}

/** "550 5.7.1": the reply's code and enhanced code; a bounded class of the free-text reason. */
export function reasonClass(code: number | undefined, enhanced: string | undefined): string {
  if (code === undefined) return '';
  return enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) ? `${code} ${enhanced}` : String(code);
}

export function countMessage(
  listener: string,
  result: 'queued' | 'rejected' | 'aborted',
  plugin: string | undefined,
  reason: string,
): void {
  if (enabled) messages.inc({ listener, result, plugin: plugin ?? '', reason });
}

export type DestinationClass = 'local' | 'route' | 'smarthost' | 'mx' | 'none';

export function countDelivery(result: string, destination: DestinationClass): void {
  if (enabled) deliveries.inc({ result, destination });
}

export function observeHook(plugin: string, hook: string, ms: number): void {
  if (enabled) hookSeconds.observe({ plugin, hook }, ms / 1000);
}

export function observeCommitBatch(size: number): void {
  if (enabled) commitBatch.observe(size);
}

export function countTls(listener: string, version: string): void {
  if (enabled) tlsSessions.inc({ listener, version });
}
