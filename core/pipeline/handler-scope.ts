/*
 * The scope a guarded handler runs in (the session and its transaction, or the
 * queued message a delivery hook is about), kept in an AsyncLocalStorage so a
 * plugin's ctx.log carries those fields inside its handlers, across awaits,
 * without being handed a logger. Outside any handler ctx.log is the plugin's
 * own logger ({ plugin, pipeline }). Directory hooks set no scope of their own:
 * a lookup asked from a rcpt handler logs with that handler's session.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import type { Session, Transaction } from '../hooks/types.js';

export interface HandlerScope {
  readonly session?: Session;
  readonly transaction?: Transaction;
  /** For delivery hooks: the message being delivered or bounced. */
  readonly queueId?: string;
}

const storage = new AsyncLocalStorage<HandlerScope>();

/** Calls `handler(...args)` with `scope` as the current scope, for it and everything it awaits. */
export function runInScope<A extends unknown[], R>(scope: HandlerScope, handler: (...args: A) => R, ...args: A): R {
  return storage.run(scope, handler, ...args);
}

/**
 * ctx.log for one plugin: `base` outside handlers; inside one, a child with the
 * session's fields (listener, session) and the transaction's queue id, made once
 * per session or transaction, and only when the plugin logs.
 */
export function scopedLogger(base: Logger): () => Logger {
  const made = new WeakMap<object, Logger>();
  return () => {
    const scope = storage.getStore();
    if (!scope) return base;
    const key: object = scope.transaction ?? scope.session ?? scope;
    let log = made.get(key);
    if (!log) {
      const queueId = scope.transaction?.id ?? scope.queueId;
      const fields = { ...base.bindings(), ...(queueId ? { queueId } : {}) };
      log = scope.session ? scope.session.log.child(fields) : base.child(queueId ? { queueId } : {});
      made.set(key, log);
    }
    return log;
  };
}
