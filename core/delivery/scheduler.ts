/*
 * The scheduler (qmail-send): takes committed queue entries as soon as they
 * are committed (and all of them after a restart), runs an attempt for the
 * recipients that are due (dispatch.ts), writes every recipient's new state
 * durably before the next step (state.ts holds the transitions), retries on
 * qmail's schedule, has what failed for good bounced (bounce.ts) and removes
 * what is finished. It owns the timers, one run per message at a time, and the
 * concurrency limits. A state that cannot be written holds the message until
 * it is written. A crash never loses a recipient; it repeats at most a remote
 * attempt in flight (local delivery finds its earlier copy). Deferred messages
 * wait in one due heap under one timer; at start the queue is walked in
 * batches into that heap, and what is due starts at most DUE_RUNS_IN_FLIGHT
 * runs at a time, while new commits start at once. A reload swaps
 * the settings and the delivery pipeline for runs that start after it; a run
 * in flight ends on those it started with.
 */
import type { Logger } from 'pino';
import type { Hooks } from '../hooks/hooks.js';
import { type DeliveryState, type Envelope, inTurn } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';
import { Bouncer, type BounceSettings } from './bounce.js';
import { Dispatcher, type DispatchSettings } from './dispatch.js';
import { DueHeap } from './due-heap.js';
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
/**
 * Runs the due heap may have in flight (runs for new commits and admin requests come on
 * top). Each run holds its envelope and state in memory while it waits for a delivery
 * slot, so a backlog that becomes due at once (a restart, qgate queue flush) must not
 * start 100,000 of them; a few hundred keep every slot of the concurrency limits busy.
 */
export const DUE_RUNS_IN_FLIGHT = 300;
/** Queue entries the start-up walk puts in the heap at a time (then starts what is due). */
export const START_BATCH = 200;
/**
 * State files the start-up walk reads at once. File reads go to libuv's thread pool (4
 * threads) in arrival order: 200 reads at once put 800 operations ahead of every commit's
 * open, write and fsync, and intake slowed to a third while 100,000 states were read.
 */
export const WALK_READS_IN_FLIGHT = 2;
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
  /** When each message not running is next due. */
  private readonly dueHeap = new DueHeap();
  /** The one timer, armed for the heap's earliest entry, and when it fires. */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  /** The start-up walk of the queue, until it has put every entry in the heap. */
  private walk: Promise<void> | undefined;
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
  /** idle() callers waiting for a flushed message's run to start. */
  private readonly startWaiters = new Map<string, (() => void)[]>();

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

  /**
   * Takes every new commit as it happens, and starts walking the entries already queued
   * (resolves before the walk ends: new mail does not wait for a backlog to be read).
   */
  async start(): Promise<void> {
    this.deps.queue.onCommit((id) => {
      this.fresh.add(id);
      this.stateless.add(id);
      this.wake(id);
    });
    this.walk = this.walkQueue().catch((err: unknown) => {
      this.deps.log.error({ err }, 'cannot read the queue directory; queued mail is delivered after a restart');
    });
  }

  /** Resolves once the start-up walk has put every entry queued before start() in the heap. */
  async walked(): Promise<void> {
    await this.walk;
  }

  /**
   * Reads the state of every queued entry, START_BATCH at a time, and holds it in the due
   * heap. An entry due now waits there for a run slot like any other (DUE_RUNS_IN_FLIGHT),
   * so the walk never has more than that many runs going; commits are delivered meanwhile.
   */
  private async walkQueue(): Promise<void> {
    const { queue, log } = this.deps;
    const ids = await queue.ids();
    for (let i = 0; i < ids.length && !this.stopped; i += START_BATCH) {
      const batch = ids.slice(i, i + START_BATCH).filter((id) => !this.known(id));
      const due = await inTurn(batch, WALK_READS_IN_FLIGHT, (id) => this.storedDue(id));
      for (const [k, id] of batch.entries()) {
        // A commit, flush or remove may have taken the entry while its state was read.
        if (!this.known(id) && !this.stopped) this.dueHeap.set(id, due[k]!);
      }
      this.drain();
    }
    log.info({ event: 'queue-walk', messages: ids.length }, 'every queued message is scheduled');
  }

  /** Whether the scheduler holds `id` already (running, or waiting in the heap). */
  private known(id: string): boolean {
    return this.running.has(id) || this.dueHeap.has(id) || this.fresh.has(id);
  }

  /**
   * When the stored state says `id` is next due; 0 (at once) when there is none yet, when
   * it cannot be read, or when it still has work that is not a delivery (a bounce, a removal).
   * The run reads everything again: this only places the entry in the heap.
   */
  private async storedDue(id: string): Promise<number> {
    const state = await this.deps.queue.readState(id).catch(() => undefined);
    if (!state || finished(state) || unbounced(state).length) return 0;
    return nextDue(state, new Date(0).toISOString()) ?? 0;
  }

  /** Stops scheduling; waits for attempts in flight (their state is written, or tried once more). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.disarm();
    for (const id of [...this.startWaiters.keys()]) this.started(id);
    await this.walk;
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

  /** Runs an entry now (or again right after the current run), whatever the heap's bound. */
  wake(id: string): void {
    if (this.stopped) return;
    this.dueHeap.delete(id);
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
        this.drain();
      });
    this.running.set(id, run);
    this.started(id);
  }

  private waitStart(id: string, started: () => void): void {
    const waiters = this.startWaiters.get(id);
    if (waiters) waiters.push(started);
    else this.startWaiters.set(id, [started]);
  }

  /** Tells idle() callers the run of `id` started (or will not: removed, stopping). */
  private started(id: string): void {
    const waiters = this.startWaiters.get(id);
    this.startWaiters.delete(id);
    for (const w of waiters ?? []) w();
  }

  /** Starts the runs that are due, up to DUE_RUNS_IN_FLIGHT, and arms the timer for the next. */
  private drain(): void {
    if (this.stopped) return;
    const now = this.now();
    while (this.running.size < DUE_RUNS_IN_FLIGHT) {
      const id = this.dueHeap.popDue(now);
      if (id === undefined) break;
      this.wake(id);
    }
    this.arm(now);
  }

  /**
   * One timer, for the earliest entry in the heap. None while the heap's bound is reached
   * and something is due: the end of a run drains again.
   */
  private arm(now: number): void {
    const next = this.dueHeap.peek();
    if (!next || (next.dueMs <= now && this.running.size >= DUE_RUNS_IN_FLIGHT)) {
      this.disarm();
      return;
    }
    if (this.timer && next.dueMs === this.timerAt) return;
    this.disarm();
    const delay = Math.min(Math.max(0, next.dueMs - now), MAX_TIMER_MS);
    this.timerAt = next.dueMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.drain();
    }, delay);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  /**
   * Makes pending recipients due now (qgate queue flush). Done by the message's next run,
   * never beside a run in flight, whose state it would overwrite.
   */
  async flush(id?: string): Promise<string[]> {
    if (id) {
      this.requests.set(id, { ...this.requests.get(id), flush: true });
      this.wake(id);
      return [id];
    }
    // The whole queue: due now, taken from the heap within its bound, oldest first.
    const ids = await this.deps.queue.ids();
    for (const one of ids) {
      this.requests.set(one, { ...this.requests.get(one), flush: true });
      if (this.running.has(one)) this.again.add(one);
      else this.dueHeap.set(one, 0);
    }
    this.drain();
    return ids;
  }

  /** Removes a message, after any attempt in flight (qgate queue remove). */
  async remove(id: string): Promise<void> {
    this.dueHeap.delete(id);
    await this.running.get(id);
    this.again.delete(id);
    this.forget(id);
    this.started(id);
    await this.deps.queue.remove(id);
    this.deps.log.info({ event: 'removed', queueId: id }, 'message removed by the administrator');
  }

  /** Resolves once `id` has no run in flight and none due at once (an admin request has been carried out). */
  async idle(id: string): Promise<void> {
    for (;;) {
      // A run's finally starts the next one (`again`) before this await resumes.
      for (let run = this.running.get(id); run; run = this.running.get(id)) await run;
      // Flushed with the whole queue and still waiting in the heap for a run slot (a run
      // that could not write its state has put it back for later: that is an outcome).
      const due = this.dueHeap.dueAt(id);
      if (this.stopped || !this.requests.has(id) || due === undefined || due > this.now()) return;
      await new Promise<void>((started) => this.waitStart(id, started));
    }
  }

  /**
   * Resolves once each of `ids` has been idle (as idle() says) since the call. One message
   * at a time: a waiter per message, all at once, took about 120 MB for a 20,000-message flush.
   */
  async idleAll(ids: readonly string[]): Promise<void> {
    for (const id of ids) await this.idle(id);
  }

  /** Fails every pending recipient now, with a bounce (qgate queue bounce); done by the message's next run. */
  async bounceNow(id: string, reason: string): Promise<void> {
    if (!(await this.deps.queue.envelope(id))) throw new Error(`no message ${id} in the queue`);
    this.requests.set(id, { flush: this.requests.get(id)?.flush ?? false, bounce: reason });
    this.wake(id);
  }

  /** Drops what the scheduler keeps about a message that has left the queue (or is leaving it). */
  private forget(id: string): void {
    this.requests.delete(id);
    this.unsaved.delete(id);
    this.fresh.delete(id);
    this.stateless.delete(id);
  }

  private schedule(id: string, atMs: number): void {
    if (this.stopped) return;
    this.dueHeap.set(id, atMs);
    // Arming only: the run that schedules is still in flight; its end drains.
    this.arm(this.now());
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
      this.forget(id);
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
      this.forget(id);
      if (await queue.has(id)) {
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
