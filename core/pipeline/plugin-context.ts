/*
 * What a plugin gets in setup(): a name, a logger (contextual inside handlers),
 * typed notes and on(), which taps a core hook. on() is where the hook contract is enforced: each handler
 * runs with a time limit, is timed, has its result checked and recorded, and a
 * throw or timeout becomes a 451 4.3.0 for the transaction, logged with the
 * plugin's name. Mail is never accepted after a failed hook.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { answerProblem } from '../hooks/answers.js';
import { HOOK_TABLE, type HookHandler, type HookName, type Hooks, isHookName } from '../hooks/hooks.js';
import { type NoteKey, noteKey } from '../hooks/notes.js';
import { RECORD } from '../hooks/record.js';
import { checkResult, DirectoryUnavailable, type HookResult, isUnavailable, tempfail } from '../hooks/results.js';
import type {
  AuthVerdict,
  Credentials,
  Decision,
  GatewayInfo,
  LifecycleContext,
  Session,
  Transaction,
  UserRecord,
} from '../hooks/types.js';
import { observeHook } from '../metrics/metrics.js';
import { runInScope, scopedLogger } from './handler-scope.js';

/**
 * User lookups served by whatever directory plugins the pipeline has, in
 * pipeline order: the first definite answer wins. Both reject with a
 * DirectoryUnavailable when a directory could not answer before one did.
 */
export interface Directory {
  /** The user record, null if no such user, undefined if no directory knows. */
  lookup(address: string): Promise<UserRecord | null | undefined>;
  authenticate(credentials: Credentials): Promise<AuthVerdict | undefined>;
}

export interface PluginContext {
  /** Instance name (the entry's `name:`, else the plugin's name). */
  readonly name: string;
  readonly pipeline: string;
  /**
   * The plugin's logger ({ plugin, pipeline }). Inside a handler of a session hook it also
   * carries the session's fields (listener, session) and the transaction's queueId; inside
   * a delivery hook the queueId of the message.
   */
  readonly log: Logger;
  /** Directory of the file that configured this plugin; relative option paths start here. */
  readonly configDir: string;
  resolvePath(path: string): string;
  /** Taps a hook; handlers run in pipeline order. */
  on<K extends HookName>(hook: K, handler: HookHandler<K>): void;
  /** A typed note key under this plugin's name, for session.notes / transaction.notes. */
  note<T>(name: string): NoteKey<T>;
  readonly users: Directory;
  /** Facts about the running gateway: host name, listeners, local and routed domains. */
  readonly gateway: GatewayInfo;
  /** Lets MAIL FROM or RCPT TO carry an ESMTP parameter this plugin handles (e.g. AUTH=). */
  acceptParameter(command: 'MAIL' | 'RCPT', keyword: string): void;
  /**
   * Loads `what` (lists, a users file) now, where a throw stops start-up, and again on
   * every SIGHUP. A reload that throws keeps the previous value and logs why, so a typo in
   * a file never leaves the gateway without its lists. `summary` adds counts to the log.
   */
  reloadable<T>(what: string, load: () => T, summary?: (value: T) => Record<string, unknown>): Reloadable<T>;
}

export interface Reloadable<T> {
  /** The value of the last successful load. */
  readonly current: T;
}

export class PluginFailure extends Error {
  constructor(
    readonly plugin: string,
    readonly hook: string,
    cause: unknown,
  ) {
    super(`plugin ${plugin} failed in ${hook}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PluginFailure';
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function withTimeout<T>(p: PromiseLike<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolvePromise, rejectPromise) => {
    const timer = setTimeout(() => rejectPromise(new Error(`timed out after ${ms} ms in ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolvePromise(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        rejectPromise(e);
      },
    );
  });
}

export interface ContextOptions {
  readonly name: string;
  readonly pipeline: string;
  readonly hooks: Hooks;
  readonly log: Logger;
  readonly configDir: string;
  readonly timeoutMs: number;
  readonly users: Directory;
  readonly parameters: { MAIL: Set<string>; RCPT: Set<string> };
  readonly gateway: GatewayInfo;
}

export function createPluginContext(o: ContextOptions): PluginContext {
  const { name, hooks, log, timeoutMs } = o;
  const scopedLog = scopedLogger(log);

  /**
   * Wraps a handler so it runs in the scope its arguments give (the session and
   * transaction, or the queued message), and ctx.log inside it carries their fields.
   * Directory hooks keep the scope of whoever asked. Decided once per tap, not per call.
   */
  function scoped(hook: string, handler: (...a: unknown[]) => unknown): (...a: unknown[]) => unknown {
    const spec = HOOK_TABLE[hook as HookName];
    if (spec.scope === 'session') {
      const at = spec.args.indexOf('transaction');
      return at > 0
        ? (...args) => runInScope({ session: args[0] as Session, transaction: args[at] as Transaction }, handler, ...args)
        : (...args) => runInScope({ session: args[0] as Session }, handler, ...args);
    }
    if (spec.scope === 'delivery') {
      return (...args) => runInScope({ queueId: (args[0] as { queueId: string }).queueId }, handler, ...args);
    }
    return handler;
  }

  function record(target: unknown, decision: Decision): void {
    const recorder = (target as { [RECORD]?: (d: Decision) => void } | undefined)?.[RECORD];
    recorder?.call(target, decision);
  }

  function guardDecision(hook: string, handler: (...a: unknown[]) => unknown) {
    return async (...args: unknown[]): Promise<HookResult | undefined> => {
      const started = performance.now();
      let result: HookResult | undefined;
      let failure: unknown;
      try {
        let value = handler(...args);
        if (isThenable(value)) value = await withTimeout(value, timeoutMs, `${name}.${hook}`);
        // Hand-built results are held to what the helpers enforce: {action:'reject', reply:{code:250}}
        // must not answer 250 to a recipient it then drops.
        const checked = checkResult(value);
        if (checked.ok) result = checked.result;
        else failure = new TypeError(checked.problem);
      } catch (err) {
        failure = err;
      }
      const ms = Math.round((performance.now() - started) * 1000) / 1000;
      observeHook(name, hook, ms);
      if (failure !== undefined) {
        const reason = `plugin ${name} failed: ${failure instanceof Error ? failure.message : String(failure)}`;
        const consequence = HOOK_TABLE[hook as HookName].onFailure ?? 'the transaction gets 451 4.3.0';
        log.error({ hook, err: failure }, `${reason}; ${consequence}`);
        record(args[0], { plugin: name, hook, action: 'error', reason, code: 451, ms });
        return tempfail('Error: internal error, please try again later', 451, '4.3.0', reason);
      }
      const action = result?.action ?? 'continue';
      // Extension-verb handlers see every command; only their decisions (and notes) are worth a log entry.
      if (hook === 'command' && action === 'continue' && !result?.reason) return undefined;
      record(args[0], {
        plugin: name,
        hook,
        action,
        ms,
        ...(result?.reason ? { reason: result.reason } : {}),
        ...(result && result.action !== 'continue' && result.reply ? { code: result.reply.code } : {}),
      });
      return action === 'continue' ? undefined : result;
    };
  }

  /**
   * Service hooks answer a question outside any SMTP reply: a throw reaches the caller as
   * PluginFailure. On the directory hooks and route, a throw, a timeout, `unavailable(reason)`
   * or a malformed answer is a DirectoryUnavailable instead: a temporary failure of the whole
   * question, and since the bail hook stops at a rejection, later plugins are not asked.
   */
  function guardService(hook: string, handler: (...a: unknown[]) => unknown) {
    const directory = HOOK_TABLE[hook as HookName].unavailable === true;
    return async (...args: unknown[]): Promise<unknown> => {
      const started = performance.now();
      let result: unknown;
      try {
        result = handler(...args);
        if (isThenable(result)) result = await withTimeout(result, timeoutMs, `${name}.${hook}`);
      } catch (err) {
        log.error({ hook, err }, `directory plugin ${name} failed in ${hook}`);
        if (directory) throw new DirectoryUnavailable(name, hook, errorText(err), { cause: err });
        throw new PluginFailure(name, hook, err);
      }
      const ms = performance.now() - started;
      observeHook(name, hook, ms);
      log.debug({ hook, ms }, 'directory lookup');
      if (directory) {
        if (isUnavailable(result)) {
          // Debug, not warn: during an outage every question answers unavailable, and the directory
          // plugin reports the outage itself, once (OutageTracker), so the log is not flooded.
          log.debug({ hook, reason: result.reason }, `directory plugin ${name} unavailable in ${hook}: ${result.reason}`);
          throw new DirectoryUnavailable(name, hook, result.reason);
        }
        const problem = answerProblem(hook as HookName, result);
        if (problem) {
          log.error({ hook, answer: result }, `directory plugin ${name} gave a malformed answer in ${hook}: ${problem}`);
          throw new DirectoryUnavailable(name, hook, `malformed answer: ${problem}`);
        }
      }
      // null is an answer ("no such user") and ends the lookup; only undefined asks the next plugin.
      return result === null ? null : (result ?? undefined);
    };
  }

  function guardNotify(hook: string, handler: (...a: unknown[]) => unknown) {
    return async (...args: unknown[]): Promise<void> => {
      try {
        const result = handler(...args);
        if (isThenable(result)) await withTimeout(result, timeoutMs, `${name}.${hook}`);
      } catch (err) {
        log.error({ hook, err }, `plugin ${name} failed in ${hook}; continuing`);
      }
    };
  }

  /** init, reload, shutdown: a throw in init stops start-up; in the others it is logged. */
  function guardLifecycle(hook: string, handler: (...a: unknown[]) => unknown) {
    return async (): Promise<void> => {
      try {
        // The plugin's own logger ({ plugin, pipeline }), whoever started the gateway or sent SIGHUP.
        const result = handler({ log } satisfies LifecycleContext);
        if (isThenable(result)) await withTimeout(result, timeoutMs, `${name}.${hook}`);
      } catch (err) {
        if (hook === 'init') throw new PluginFailure(name, hook, err);
        log.error({ hook, err }, `plugin ${name} failed in ${hook}; continuing`);
      }
    };
  }

  const GUARDS = { decision: guardDecision, service: guardService, notify: guardNotify, lifecycle: guardLifecycle };

  const on: PluginContext['on'] = (hook, handler) => {
    const fn = scoped(hook, handler as unknown as (...a: unknown[]) => unknown);
    if (!isHookName(hook)) throw new Error(`plugin ${name}: no hook named "${String(hook)}"`);
    const guarded = GUARDS[HOOK_TABLE[hook].kind](hook, fn);
    // Shutdown runs in reverse pipeline order: a plugin set up after another may use what
    // that one opened, so it lets go of it first (tapable runs lower stages first).
    const tap = hook === 'shutdown' ? { name, stage: -hooks.shutdown.taps.length } : { name };
    (hooks[hook] as unknown as { tapPromise(o: { name: string }, f: (...a: unknown[]) => Promise<unknown>): void }).tapPromise(
      tap,
      guarded,
    );
  };

  return {
    name,
    pipeline: o.pipeline,
    get log() {
      return scopedLog();
    },
    configDir: o.configDir,
    resolvePath: (p: string) => resolve(o.configDir, p),
    on,
    note: <T>(key: string) => noteKey<T>(name, key),
    users: o.users,
    gateway: o.gateway,
    acceptParameter(command, keyword) {
      o.parameters[command].add(keyword.toUpperCase());
    },
    reloadable(what, load, summary) {
      const holder = { current: load() };
      log.info(summary?.(holder.current) ?? {}, `${what} loaded`);
      on('reload', () => {
        try {
          holder.current = load();
          log.info(summary?.(holder.current) ?? {}, `${what} reloaded`);
        } catch (err) {
          log.error({ err }, `${what} reload failed; keeping the previous ${what}. Fix it and send SIGHUP again`);
        }
      });
      return holder;
    },
  };
}
