/*
 * The main thread's handle on the delivery thread (worker.ts): starts it and
 * waits until its scheduler runs, tells it of every commit, carries the admin
 * commands (flush, remove, bounce) and reloads to it, writes its log lines,
 * reads its metrics, and stops it. It stands for the scheduler wherever the
 * main thread used one. A delivery thread that dies is fatal to the process,
 * as an uncaught exception is: acknowledged mail is safe in the queue.
 */
import { Worker } from 'node:worker_threads';
import type { GatewayLog } from '../log/logger.js';
import type { MetricsData } from '../metrics/metrics.js';
import type { DeliveryThreadData, FromDeliveryThread, SchedulerCall, ToDeliveryThread } from './delivery-messages.js';

/** How long a stopping gateway waits for the delivery thread's runs before ending it anyway. */
const STOP_TIMEOUT_MS = 60_000;

export interface DeliveryThreadOptions extends DeliveryThreadData {
  readonly logs: GatewayLog;
  /** The thread failed (threw, or exited unasked); the process should end. */
  readonly onFailure: (err: Error) => void;
}

/** Offers what the admin API's queue commands need of a scheduler (admin/queue-actions.ts). */
export class DeliveryThread {
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private next = 0;
  private stopping: Promise<void> | undefined;
  private ended = false;
  private stopAsked = false;
  private commits: string[] = [];

  private constructor(private readonly worker: Worker) {}

  /** Resolves once the thread's scheduler has started (picked up the queue); rejects if it could not. */
  static start(options: DeliveryThreadOptions): Promise<DeliveryThread> {
    const { logs, onFailure, ...data } = options;
    const worker = new Worker(new URL('./delivery-worker.js', import.meta.url), {
      workerData: data satisfies DeliveryThreadData,
    });
    const thread = new DeliveryThread(worker);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromDeliveryThread) => {
        switch (message.type) {
          case 'log':
            logs.writeLines(message.text);
            return;
          case 'ready':
            ready = true;
            resolve(thread);
            return;
          case 'reply':
            thread.settle(message.n, message.value, message.error);
            return;
          case 'stopped':
            thread.ended = true;
            return;
        }
      });
      const fail = (err: Error) => {
        thread.ended = true;
        for (const call of thread.calls.values()) call.reject(err);
        thread.calls.clear();
        if (ready) onFailure(err);
        else reject(err);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!thread.ended && !thread.stopAsked) fail(new Error(`the delivery thread exited with code ${code}`));
      });
    });
  }

  /**
   * A message committed by the main thread: delivery picks it up at once. The ids of one
   * event loop turn go as one message (a group commit answers many sessions at once).
   */
  committed(id: string): void {
    this.commits.push(id);
    if (this.commits.length > 1) return;
    setImmediate(() => {
      const ids = this.commits;
      this.commits = [];
      this.send({ type: 'commit', ids });
    });
  }

  flush(id?: string): Promise<string[]> {
    return this.call({ op: 'flush', id }) as Promise<string[]>;
  }

  async remove(id: string): Promise<void> {
    await this.call({ op: 'remove', id });
  }

  async bounceNow(id: string, reason: string): Promise<void> {
    await this.call({ op: 'bounce', id, reason });
  }

  /** One call for any number of messages: a whole-queue flush may wait for 100,000. */
  async idleAll(ids: readonly string[]): Promise<void> {
    await this.call({ op: 'idle', ids });
  }

  /** The thread's own counts (deliveries, its hooks), to add to the main thread's. */
  metrics(): Promise<MetricsData> {
    return this.call({ op: 'metrics' }) as Promise<MetricsData>;
  }

  /** Has the thread apply the configuration the main thread just loaded; its runs in flight end on the old one. */
  reload(texts: ReadonlyMap<string, string>): Promise<{ ok: boolean; problems?: string[] }> {
    return this.call({ op: 'reload', texts }) as Promise<{ ok: boolean; problems?: string[] }>;
  }

  /** Stops scheduling and waits for the runs in flight (their state written), then ends the thread. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      if (this.ended) return resolve();
      this.stopAsked = true;
      const timer = setTimeout(() => void this.worker.terminate(), STOP_TIMEOUT_MS);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.once('message', (message: FromDeliveryThread) => {
        if (message.type === 'stopped') void this.worker.terminate();
      });
      this.send({ type: 'stop' });
    });
    return this.stopping;
  }

  private send(message: ToDeliveryThread): void {
    if (!this.ended) this.worker.postMessage(message);
  }

  private call(call: SchedulerCall): Promise<unknown> {
    if (this.ended) return Promise.reject(new Error('delivery has stopped'));
    const n = this.next++;
    return new Promise((resolve, reject) => {
      this.calls.set(n, { resolve, reject });
      this.send({ type: 'call', n, call });
    });
  }

  private settle(n: number, value: unknown, error: string | undefined): void {
    const call = this.calls.get(n);
    if (!call) return;
    this.calls.delete(n);
    if (error === undefined) call.resolve(value);
    else call.reject(new Error(error));
  }
}
