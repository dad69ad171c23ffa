/*
 * The scheduler (qmail-send): takes committed queue entries as soon as they
 * are committed (and all of them after a restart), runs an attempt for the
 * recipients that are due (dispatch.ts), writes every recipient's new state
 * durably before the next step (state.ts holds the transitions), retries on
 * qmail's schedule, has what failed for good bounced (bounce.ts) and removes
 * what is finished. It owns the timers, one run per message at a time, and the
 * concurrency limits. A state that cannot be written holds the message until
 * it is written. A crash never loses a recipient; it repeats at most a remote
 * attempt in flight (local delivery finds its earlier copy). A reload swaps
 * the settings and the delivery pipeline for runs that start after it; a run
 * in flight ends on those it started with.
 */
import type { Logger } from 'pino';
import type { Hooks } from '../hooks/hooks.js';
import type { DeliveryState, Envelope } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';
import { Bouncer, type BounceSettings } from './bounce.js';
import { Dispatcher, type DispatchSettings } from './dispatch.js';
import { LocalRun } from './local.js';
import type { LocalRecipients } from './local-recipients.js';
import type { MxResolver } from './mx.js';
import { type DeliveryLimitSettings, DeliveryLimits } from './semaphore.js';
import {
  applyOutcomes,
  bounceNow,
  dueRecipients,
  expire,
  finished,
  flushNow,
  initialState,
  markBounced,
  nextDue,
  type RetryPolicies,
  unbounced,
} from './state.js';

export interface SchedulerSettings extends DispatchSettings, BounceSettings, DeliveryLimitSettings, RetryPolicies {}

export interface SchedulerDeps {
  readonly queue: MessageQueue;
  /** Hooks of the delivery pipeline (route, deliver, bounce, lookupUser); may have no taps. */
  readonly hooks: Hooks;
  /** The local resolution RCPT uses too, asking the delivery pipeline's directory. */
  readonly recipients: LocalRecipients;
  readonly resolver: MxResolver;
  readonly log: Logger;
  readonly now?: () => number;
}

/** setTimeout's limit; later attempts are re-armed when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A state that could not be written is tried again after 1 s, 2 s, 4 s, ... at most a minute apart. */
const STATE_RETRY_FIRST_MS = 1000;
const STATE_RETRY_MAX_MS = 60_000;

/** What an administrator asked for a message (qgate queue flush, qgate queue bounce), done by its next run. */
interface AdminRequest {
  /** Every pending recipient is due now. */
  readonly flush: boolean;
  /** Every pending recipient fails with this reason and is bounced. */
  readonly bounce?: string;
}

/** A delivery state this process holds because writing it failed; it is the truth until written. */
interface UnsavedState {
  readonly state: DeliveryState;
  readonly failures: number;
}

/** Settings and the engines built from them; a reload makes a new one. */
interface DeliveryGeneration {
  readonly settings: SchedulerSettings;
  readonly dispatcher: Dispatcher;
  readonly bouncer: Bouncer;
  /** Runs started on this generation and not yet ended. */
  runs: number;
  /** Called when runs drops to 0 after the generation was replaced. */
  retired?: () => void;
}

export class Scheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private stopped = false;
  private readonly now: () => number;
  private generation: DeliveryGeneration;
  private deps: SchedulerDeps;
  /** Messages queued by this process and not yet attempted: no copy of them can exist anywhere. */
  private readonly fresh = new Set<string>();
  /**
   * Messages queued by this process whose delivery state was never written: there is no
   * state file to read (its ENOENT costs an error object per message) or to remove.
   */
  private readonly stateless = new Set<string>();
  private readonly unsaved = new Map<string, UnsavedState>();
  private readonly requests = new Map<string, AdminRequest>();

  constructor(settings: SchedulerSettings, deps: SchedulerDeps) {
    this.now = deps.now ?? Date.now;
    this.deps = deps;
    this.generation = this.makeGeneration(settings, deps);
  }

  private makeGeneration(settings: SchedulerSettings, deps: SchedulerDeps): DeliveryGeneration {
    const { queue, hooks, recipients, resolver, log } = deps;
    const limits = new DeliveryLimits(settings);
    return {
      settings,
      dispatcher: new Dispatcher(settings, { queue, hooks, recipients, resolver, limits, log, now: this.now }),
      bouncer: new Bouncer(settings, { queue, hooks, log, now: this.now }),
      runs: 0,
    };
  }

  /**
   * Runs that start from now on use `settings` and `deps` (a reload; the queue stays the
   * same). Resolves when the last run on the previous ones has ended and their remote
   * connections are closed, so the caller can shut the old delivery pipeline down.
   * Old and new concurrency limits are separate until then.
   */
  reconfigure(settings: SchedulerSettings, deps: SchedulerDeps): Promise<void> {
    const old = this.generation;
    this.deps = { ...deps, queue: this.deps.queue };
    this.generation = this.makeGeneration(settings, this.deps);
    const ended = old.runs === 0 ? Promise.resolve() : new Promise<void>((done) => (old.retired = done));
    return ended.then(() => old.dispatcher.close());
  }

  /** Picks up every committed entry, then every new commit as it happens. */
  async start(): Promise<void> {
    this.deps.queue.onCommit((id) => {
      this.fresh.add(id);
      this.stateless.add(id);
      this.wake(id);
    });
    for (const id of await this.deps.queue.ids()) this.wake(id);
  }

  /** Stops scheduling; waits for attempts in flight (their state is written, or tried once more). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
    for (const [id, { state }] of this.unsaved) {
      if (await this.save(id, state)) continue;
      this.deps.log.error(
        { queueId: id, event: 'state-lost' },
        'stopping with a delivery state that could not be written: after the restart, local copies are found and not repeated, but remote recipients delivered since the last written state may get the message again',
      );
    }
    await this.generation.dispatcher.close();
  }

  /** Runs an entry now (or again right after the current run). */
  wake(id: string): void {
    if (this.stopped) return;
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
    if (this.running.has(id)) {
      this.again.add(id);
      return;
    }
    const generation = this.generation;
    generation.runs++;
    const run = this.process(id, generation)
      .catch((err: unknown) => {
        // Every state change is on disk (or held in `unsaved`) before anything can throw here,
        // so the run that follows repeats nothing.
        this.deps.log.error({ err, queueId: id }, 'delivery run failed; retrying in a minute');
        this.schedule(id, this.now() + 60_000);
      })
      .finally(() => {
        if (--generation.runs === 0 && generation !== this.generation) generation.retired?.();
        this.running.delete(id);
        if (this.again.delete(id)) this.wake(id);
      });
    this.running.set(id, run);
  }

  /**
   * Makes pending recipients due now (qgate queue flush). Done by the message's next run,
   * never beside a run in flight, whose state it would overwrite.
   */
  async flush(id?: string): Promise<string[]> {
    const ids = id ? [id] : await this.deps.queue.ids();
    for (const one of ids) {
      this.requests.set(one, { ...this.requests.get(one), flush: true });
      this.wake(one);
    }
    return ids;
  }

  /** Removes a message, after any attempt in flight (qgate queue remove). */
  async remove(id: string): Promise<void> {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
    await this.running.get(id);
    this.again.delete(id);
    this.unsaved.delete(id);
    this.requests.delete(id);
    this.fresh.delete(id);
    this.stateless.delete(id);
    await this.deps.queue.remove(id);
    this.deps.log.info({ event: 'removed', queueId: id }, 'message removed by the administrator');
  }

  /** Resolves once `id` has no run in flight and none due at once (an admin request has been carried out). */
  async idle(id: string): Promise<void> {
    // A run's finally starts the next one (`again`) before this await resumes.
    for (let run = this.running.get(id); run; run = this.running.get(id)) await run;
  }

  /** Fails every pending recipient now, with a bounce (qgate queue bounce); done by the message's next run. */
  async bounceNow(id: string, reason: string): Promise<void> {
    if (!(await this.deps.queue.envelope(id))) throw new Error(`no message ${id} in the queue`);
    this.requests.set(id, { flush: this.requests.get(id)?.flush ?? false, bounce: reason });
    this.wake(id);
  }

  private schedule(id: string, atMs: number): void {
    if (this.stopped) return;
    const existing = this.timers.get(id);
    if (existing) clearTimeout(existing);
    const delay = Math.min(Math.max(0, atMs - this.now()), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.wake(id);
    }, delay);
    timer.unref();
    this.timers.set(id, timer);
  }

  /**
   * Makes `state` durable: written to state/, or, once every recipient is delivered or
   * bounced, the entry removed (the removal is the record). If that fails, the state is
   * held here and written again with backoff; until it is on disk the message takes no
   * other step, so nothing it delivered is delivered again (the state on disk would say
   * pending). Resolves false then.
   */
  private async save(id: string, state: DeliveryState): Promise<boolean> {
    const { queue, log } = this.deps;
    const held = this.unsaved.get(id);
    const done = finished(state);
    try {
      if (done) await queue.remove(id, { stateWritten: !this.stateless.has(id) });
      else {
        // From here on a state file may exist, even if this write fails half-way.
        this.stateless.delete(id);
        await queue.writeState(state);
      }
    } catch (err) {
      const failures = (held?.failures ?? 0) + 1;
      const retryInMs = Math.min(STATE_RETRY_MAX_MS, STATE_RETRY_FIRST_MS * 2 ** (failures - 1));
      this.unsaved.set(id, { state, failures });
      log.error(
        { err, event: 'state', queueId: id, failures, retryInMs },
        `cannot ${done ? 'remove the finished message' : 'write the delivery state'}; its delivery is paused until the delivery state is written, so nothing is delivered twice: free space on the queue disk and check that it is writable`,
      );
      this.schedule(id, this.now() + retryInMs);
      return false;
    }
    if (held) {
      this.unsaved.delete(id);
      log.warn(
        { event: 'state', queueId: id, failures: held.failures },
        'delivery state written after failed tries; delivery of the message goes on',
      );
    }
    if (done) {
      this.requests.delete(id);
      this.fresh.delete(id);
      this.stateless.delete(id);
      log.info(
        {
          event: 'done',
          queueId: id,
          delivered: state.recipients.filter((r) => r.status === 'delivered').length,
          failed: state.recipients.filter((r) => r.status === 'failed').length,
        },
        'message finished',
      );
    }
    return true;
  }

  private async process(id: string, { settings, dispatcher, bouncer }: DeliveryGeneration): Promise<void> {
    const { queue, log } = this.deps;
    let env: Envelope | undefined;
    try {
      env = await queue.envelope(id);
    } catch (err) {
      env = undefined;
      log.debug({ err, queueId: id }, 'cannot read envelope');
    }
    if (!env) {
      this.requests.delete(id);
      this.unsaved.delete(id);
      this.fresh.delete(id);
      this.stateless.delete(id);
      if ((await queue.ids()).includes(id)) {
        log.error({ queueId: id }, 'damaged queue entry moved to corrupt/; the rest of the queue goes on');
        await queue.quarantine(id);
      }
      return;
    }
    // A state held because it could not be written goes to disk before anything else.
    const held = this.unsaved.get(id);
    let state = held?.state ?? (this.stateless.has(id) ? undefined : await queue.readState(id)) ?? initialState(env);
    if (held && !(await this.save(id, state))) return;
    if (finished(state)) {
      // Finished but not removed: a crash or a failed removal came between.
      if (!held) await this.save(id, state);
      return;
    }
    const request = this.requests.get(id);
    this.requests.delete(id);
    const now = this.now();
    const born = Date.parse(env.received);

    const read = state;
    if (request?.bounce !== undefined) state = bounceNow(state, request.bounce);
    state = expire(state, born, now, settings.retryRemote.lifetimeMs);
    if (state !== read && !(await this.save(id, state))) return;
    // A flush needs no write of its own: the attempt it makes writes the state.
    if (request?.flush) state = flushNow(state, now);

    const due = dueRecipients(state, env.received, now);
    if (due.length && !this.stopped) {
      const run = new LocalRun(id, env, this.fresh.delete(id), new Set(state.forwarded));
      const outcomes = await dispatcher.attempt(
        run,
        due.map((r) => r.address),
      );
      state = applyOutcomes(state, outcomes, born, now, settings);
      if (run.forwarded.size) state = { ...state, forwarded: [...run.forwarded] };
      // Durable before anything that depends on it: bounces, the next attempt, the removal.
      if (!(await this.save(id, state))) return;
    }
    if (finished(state)) return;

    const failed = unbounced(state);
    if (failed.length) {
      await bouncer.bounce(env, failed);
      state = markBounced(state);
      if (!(await this.save(id, state))) return;
      if (finished(state)) return;
    }

    const next = nextDue(state, env.received);
    if (next !== undefined) this.schedule(id, next);
  }
}
