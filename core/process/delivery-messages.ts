/*
 * The messages between the gateway's main thread and its delivery thread
 * (thread.ts on the main side, worker.ts in the thread). Plain data only:
 * they cross a MessagePort by structured clone.
 */
/** What the delivery thread starts from. */
export interface DeliveryThreadData {
  readonly configFile: string;
  /** The files as the main thread read them (LoadedConfig.texts): both threads run one configuration. */
  readonly texts: ReadonlyMap<string, string>;
  readonly metrics: boolean;
}

/** The admin commands the scheduler carries out (core/admin/queue-actions.ts). */
export type SchedulerCall =
  | { readonly op: 'flush'; readonly id?: string | undefined }
  | { readonly op: 'remove'; readonly id: string }
  | { readonly op: 'bounce'; readonly id: string; readonly reason: string }
  | { readonly op: 'idle'; readonly ids: readonly string[] }
  | { readonly op: 'metrics' }
  | { readonly op: 'reload'; readonly texts: ReadonlyMap<string, string> };

export type ToDeliveryThread =
  /** Messages the main thread committed (or released from quarantine), in commit order: deliver them. */
  | { readonly type: 'commit'; readonly ids: readonly string[] }
  | { readonly type: 'call'; readonly n: number; readonly call: SchedulerCall }
  | { readonly type: 'stop' };

export type FromDeliveryThread =
  | { readonly type: 'ready' }
  /** Log lines, already formatted; the main thread is the only writer of the log. */
  | { readonly type: 'log'; readonly text: string }
  | { readonly type: 'reply'; readonly n: number; readonly value?: unknown; readonly error?: string }
  | { readonly type: 'stopped' };
