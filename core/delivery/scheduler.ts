/*
 * The scheduler (qmail-send): takes committed queue entries as soon as they
 * are committed (and all of them after a restart), routes each recipient,
 * delivers locally or by SMTP within the concurrency limits, writes every
 * recipient's new state durably before the next step, retries on qmail's
 * schedule, bounces what failed for good and removes what is finished.
 * Each recipient is delivered once: an error stays with its recipient, a
 * state that cannot be written holds the message until it is written, and
 * duplicates share one delivery. A crash never loses a recipient; it repeats
 * at most a remote attempt in flight (local delivery finds its earlier copy).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Hooks } from '../hooks/hooks.js';
import type { BounceNotice, RouteQuery } from '../hooks/types.js';
import { deliveredMessage } from '../message/delivered.js';
import {
  createEnvelope,
  type DeliveryOutcome,
  type DeliveryReply,
  type DeliveryState,
  deliveryReply,
  type Envelope,
  type RecipientState,
  type Route,
  replyLine,
  replyText,
} from '../model/index.js';
import type { Directory } from '../pipeline/plugin-context.js';
import type { MessageQueue } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import { type DsnRecipient, renderDsn } from './dsn.js';
import { LocalDelivery, LocalRun } from './local.js';
import type { AliasTable } from './local-address.js';
import { lookupMx, type MxResolver } from './mx.js';
import { offeredOutcomes, routeErrorOutcome } from './plugin-replies.js';
import { groupDuplicates } from './recipients.js';
import { ConnectionCache, deliverRemote } from './remote.js';
import { expired, nextAttempt, type RetryPolicy } from './retry.js';
import { decideRoute, type RoutingTable } from './routing.js';
import { Semaphore } from './semaphore.js';
import { deliveredStream } from './stored-message.js';

export interface SchedulerSettings {
  readonly hostname: string;
  readonly helo: string;
  readonly routing: RoutingTable;
  readonly maildirRoot: string;
  readonly createMailboxes: boolean;
  readonly aliases: () => AliasTable;
  readonly delimiters: string;
  readonly postmaster: string;
  readonly doubleBounce: string | undefined;
  readonly bounceMaxBytes: number;
  readonly retryLocal: RetryPolicy;
  readonly retryRemote: RetryPolicy;
  readonly concurrencyLocal: number;
  readonly concurrencyRemote: number;
  readonly concurrencyPerDomain: number;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export interface SchedulerDeps {
  readonly queue: MessageQueue;
  /** Hooks of the delivery pipeline (route, deliver, bounce, lookupUser); may have no taps. */
  readonly hooks: Hooks;
  readonly users: Directory;
  readonly resolver: MxResolver;
  readonly log: Logger;
  readonly now?: () => number;
}

type Outcome = DeliveryOutcome & { readonly kind: 'local' | 'remote' };

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

export class Scheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly local: Semaphore;
  private readonly remote: Semaphore;
  private readonly perDestination = new Map<string, Semaphore>();
  private stopped = false;
  private readonly now: () => number;
  /** Connections kept open briefly for the next message to the same destination. */
  private readonly connections = new ConnectionCache();
  private readonly localDelivery: LocalDelivery;
  /** Messages queued by this process and not yet attempted: no copy of them can exist anywhere. */
  private readonly fresh = new Set<string>();
  private readonly unsaved = new Map<string, UnsavedState>();
  private readonly requests = new Map<string, AdminRequest>();

  constructor(
    private readonly settings: SchedulerSettings,
    private readonly deps: SchedulerDeps,
  ) {
    this.local = new Semaphore(settings.concurrencyLocal);
    this.remote = new Semaphore(settings.concurrencyRemote);
    this.now = deps.now ?? Date.now;
    this.localDelivery = new LocalDelivery(
      {
        hostname: settings.hostname,
        isLocal: (domain) => settings.routing.isLocal(domain),
        maildirRoot: settings.maildirRoot,
        createMailboxes: settings.createMailboxes,
        aliases: settings.aliases,
        delimiters: settings.delimiters,
        postmaster: settings.postmaster,
      },
      { queue: deps.queue, users: deps.users, now: this.now },
    );
  }

  /** Picks up every committed entry, then every new commit as it happens. */
  async start(): Promise<void> {
    this.deps.queue.onCommit((id) => {
      this.fresh.add(id);
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
    await this.connections.close();
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
    const run = this.process(id)
      .catch((err: unknown) => {
        // Every state change is on disk (or held in `unsaved`) before anything can throw here,
        // so the run that follows repeats nothing.
        this.deps.log.error({ err, queueId: id }, 'delivery run failed; retrying in a minute');
        this.schedule(id, this.now() + 60_000);
      })
      .finally(() => {
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
    await this.deps.queue.remove(id);
    this.deps.log.info({ event: 'removed', queueId: id }, 'message removed by the administrator');
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
      if (done) await queue.remove(id);
      else await queue.writeState(state);
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

  private async process(id: string): Promise<void> {
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
      if ((await queue.ids()).includes(id)) {
        log.error({ queueId: id }, 'damaged queue entry moved to corrupt/; the rest of the queue goes on');
        await queue.quarantine(id);
      }
      return;
    }
    // A state held because it could not be written goes to disk before anything else.
    const held = this.unsaved.get(id);
    let state = held?.state ?? (await queue.readState(id)) ?? initialState(env);
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

    let changed = false;
    if (request?.bounce !== undefined) {
      const reply = deliveryReply(550, '5.0.0', request.bounce);
      state = mapPending(state, (r) => ({ ...r, status: 'failed', reply, nextAttempt: undefined }));
      changed = true;
    }
    // Expired recipients fail with the last reply they got (RFC 3463 4.4.7).
    const lifetime = this.settings.retryRemote.lifetimeMs;
    if (state.recipients.some((r) => r.status === 'pending') && now - born >= lifetime) {
      const hours = Math.round(lifetime / 3_600_000);
      state = mapPending(state, (r) => ({
        ...r,
        status: 'failed',
        reply: deliveryReply(
          451,
          '4.4.7',
          `Message expired after ${hours} hours${r.reply ? `; last reply: ${replyLine(r.reply)}` : ''}`,
        ),
      }));
      changed = true;
    }
    if (changed && !(await this.save(id, state))) return;

    const due = state.recipients.filter(
      (r) => r.status === 'pending' && (request?.flush || Date.parse(r.nextAttempt ?? env.received) <= now),
    );
    if (due.length && !this.stopped) {
      const run = new LocalRun(id, env, this.fresh.delete(id), new Set(state.forwarded));
      const outcomes = await this.attempt(
        run,
        due.map((r) => r.address),
      );
      state = applyOutcomes(state, outcomes, born, now, this.settings);
      if (run.forwarded.size) state = { ...state, forwarded: [...run.forwarded] };
      // Durable before anything that depends on it: bounces, the next attempt, the removal.
      if (!(await this.save(id, state))) return;
    }
    if (finished(state)) return;

    const unbounced = state.recipients.filter((r) => r.status === 'failed' && !r.bounced);
    if (unbounced.length) {
      await this.bounce(id, env, unbounced);
      state = { ...state, recipients: state.recipients.map((r) => (r.status === 'failed' ? { ...r, bounced: true } : r)) };
      if (!(await this.save(id, state))) return;
      if (finished(state)) return;
    }

    const pending = state.recipients.filter((r) => r.status === 'pending');
    const next = Math.min(...pending.map((r) => Date.parse(r.nextAttempt ?? env.received)));
    this.schedule(id, next);
  }

  /**
   * One attempt for the due recipients of one message; every recipient gets an outcome,
   * whatever fails. A recipient listed twice (RFC 5321 2.4 equality) is delivered once
   * and both entries share the outcome, as Postfix's cleanup removes duplicates.
   */
  private async attempt(run: LocalRun, recipients: readonly string[]): Promise<Outcome[]> {
    const { queueId: id, envelope: env } = run;
    const duplicates = groupDuplicates(recipients);
    const groups = new Map<string, { route: Route; recipients: string[] }>();
    const outcomes: Outcome[] = [];
    for (const [recipient] of duplicates.values()) {
      if (recipient === undefined) continue;
      const domain = recipient.includes('@') ? recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase() : '';
      try {
        const query: RouteQuery = { queueId: id, recipient, domain, envelope: env };
        const route = (await this.deps.hooks.route.promise(query)) ?? decideRoute(domain, this.settings.routing);
        if (route.kind === 'error') {
          outcomes.push({ ...routeErrorOutcome(recipient, route.permanent, route.reply), kind: 'remote' });
          continue;
        }
        const key = destinationKey(route);
        const group = groups.get(key) ?? { route, recipients: [] };
        group.recipients.push(recipient);
        groups.set(key, group);
      } catch (err) {
        outcomes.push({
          recipient,
          result: 'deferred',
          reply: deliveryReply(451, '4.3.0', `routing failed: ${errorText(err)}`),
          kind: 'remote',
        });
      }
    }
    if (outcomes.length) this.logAttempt(id, outcomes, 'route', 0);
    const results = await Promise.all(
      [...groups.entries()].map(([key, g]) =>
        (g.route.kind === 'local'
          ? this.deliverLocal(run, g.recipients)
          : this.deliverToDestination(id, env, key, g.route, g.recipients)
        ).catch((err: unknown): Outcome[] =>
          g.recipients.map((recipient) => ({
            recipient,
            result: 'deferred',
            reply: deliveryReply(451, '4.3.0', `delivery failed: ${errorText(err)}`),
            kind: g.route.kind === 'local' ? 'local' : 'remote',
          })),
        ),
      ),
    );
    const byRecipient = new Map(outcomes.concat(results.flat()).map((o) => [o.recipient, o]));
    return [...duplicates.values()].flatMap((spellings) => {
      const first = byRecipient.get(spellings[0]!) ?? {
        recipient: spellings[0]!,
        result: 'deferred' as const,
        reply: deliveryReply(451, '4.3.0', 'no outcome for this recipient'),
        kind: 'remote' as const,
      };
      return spellings.map((recipient) => ({ ...first, recipient }));
    });
  }

  /** Local recipients one after another, so a Maildir two of them share gets one copy. */
  private async deliverLocal(run: LocalRun, recipients: readonly string[]): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (const recipient of recipients) {
      const started = performance.now();
      const outcome: Outcome = {
        ...(await this.local.run(() => this.localDelivery.deliver(run, recipient))),
        kind: 'local',
      };
      this.logAttempt(run.queueId, [outcome], 'local', performance.now() - started);
      out.push(outcome);
    }
    return out;
  }

  private async deliverToDestination(
    id: string,
    env: Envelope,
    key: string,
    route: Route,
    recipients: string[],
  ): Promise<Outcome[]> {
    let limiter = this.perDestination.get(key);
    if (!limiter) {
      limiter = new Semaphore(this.settings.concurrencyPerDomain);
      this.perDestination.set(key, limiter);
    }
    const perDestination = limiter;
    return this.remote.run(() => perDestination.run(() => this.deliverRemoteNow(id, env, route, recipients)));
  }

  private async deliverRemoteNow(id: string, env: Envelope, route: Route, recipients: string[]): Promise<Outcome[]> {
    const started = performance.now();
    const all = (result: DeliveryOutcome['result'], reply: DeliveryReply): Outcome[] =>
      recipients.map((recipient) => ({ recipient, result, reply, kind: 'remote' as const }));
    let outcomes: Outcome[];
    try {
      const offered = await this.deps.hooks.deliver.promise({
        queueId: id,
        route,
        sender: env.sender,
        recipients,
        envelope: env,
        message: () => deliveredStream(this.deps.queue, env),
      });
      if (offered) {
        const checked = offeredOutcomes(recipients, offered);
        if (checked.problems.length) {
          this.deps.log.error(
            { event: 'delivery', queueId: id, problems: checked.problems },
            'the deliver hook returned a malformed result; those recipients are deferred: fix the deliver plugin',
          );
        }
        outcomes = checked.outcomes.map((o) => ({ ...o, kind: 'remote' as const }));
      } else {
        outcomes = await this.smtp(env, route, recipients);
      }
    } catch (err) {
      outcomes = all('deferred', deliveryReply(451, '4.3.0', `delivery failed: ${errorText(err)}`));
    }
    this.logAttempt(id, outcomes, describeRoute(route), performance.now() - started);
    return outcomes;
  }

  private async smtp(env: Envelope, route: Route, recipients: string[]): Promise<Outcome[]> {
    const all = (result: DeliveryOutcome['result'], reply: DeliveryReply): Outcome[] =>
      recipients.map((recipient) => ({ recipient, result, reply, kind: 'remote' as const }));
    let hosts: { host: string; port: number; name?: string }[];
    let tls: 'opportunistic' | 'required' | 'none';
    let auth: { user: string; pass: string } | undefined;
    if (route.kind === 'mx') {
      const mx = await lookupMx(route.domain, this.deps.resolver);
      if (!mx.ok) return all(mx.permanent ? 'failed' : 'deferred', mx.reply);
      hosts = mx.hosts.map((h) => ({ host: h, port: route.port, name: h }));
      tls = route.tls;
    } else if (route.kind === 'smtp') {
      hosts = route.hosts.map((h) => ({ ...h }));
      tls = route.tls;
      auth = route.auth;
    } else {
      return all('deferred', deliveryReply(451, '4.3.0', 'no route'));
    }
    const result = await deliverRemote(
      {
        hosts,
        helo: this.settings.helo,
        tls,
        ...(auth ? { auth } : {}),
        sender: env.sender,
        recipients,
        message: () => deliveredStream(this.deps.queue, env),
        size: env.size,
        timeouts: {
          connectMs: this.settings.connectTimeoutMs,
          greetingMs: this.settings.connectTimeoutMs,
          socketMs: this.settings.commandTimeoutMs,
        },
      },
      this.connections,
    );
    return result.outcomes.map((o) => ({ ...o, kind: 'remote' as const }));
  }

  private async bounce(id: string, env: Envelope, failed: readonly RecipientState[]): Promise<void> {
    const { queue, log } = this.deps;
    let to: string;
    let double = false;
    if (env.sender !== '') {
      to = env.sender;
    } else if (!env.doubleBounce && this.settings.doubleBounce) {
      to = this.settings.doubleBounce;
      double = true;
    } else {
      // RFC 5321 6.1: never bounce a bounce back; a double bounce is dropped after this log line.
      log.warn(
        { event: 'bounce', queueId: id, result: 'dropped', recipients: failed.map((r) => r.address) },
        'undeliverable bounce dropped',
      );
      return;
    }
    const notice: BounceNotice = {
      queueId: id,
      to,
      recipients: failed.map((r) => ({ address: r.address, reply: r.reply ? replyLine(r.reply) : '' })),
      double,
    };
    const verdict = await this.deps.hooks.bounce.promise(notice).catch(() => undefined);
    if (verdict && verdict.action !== 'continue' && verdict.action !== 'accept') {
      log.info({ event: 'bounce', queueId: id, result: 'suppressed', reason: verdict.reason }, 'bounce suppressed by a plugin');
      return;
    }
    // The original as it was delivered (with the fields plugins added); an entry gone missing returns nothing.
    const stored = queue.readMessage(id);
    const max = this.settings.bounceMaxBytes + 1;
    const original = stored ? await readPrefix(deliveredMessage(stored, env.addedHeaders), max) : Buffer.alloc(0);
    const recipients: DsnRecipient[] = failed.map((r) => ({
      recipient: r.address,
      action: 'failed',
      // Every failure has its reply; a state edited by hand may not.
      reply: r.reply ?? deliveryReply(550, '5.0.0', 'delivery failed'),
      ...(r.lastAttempt ? { lastAttempt: new Date(r.lastAttempt) } : {}),
    }));
    const bounceId = newQueueId();
    const dsn = renderDsn({
      reportingMta: this.settings.hostname,
      from: `MAILER-DAEMON@${this.settings.hostname}`,
      to,
      queueId: id,
      arrivalDate: new Date(env.received),
      date: new Date(this.now()),
      messageId: `<${bounceId}@${this.settings.hostname}>`,
      boundary: `${bounceId}.${randomBytes(6).toString('hex')}/${this.settings.hostname}`,
      recipients,
      original,
      maxBytes: this.settings.bounceMaxBytes,
    });
    const spool = queue.createSpool(bounceId);
    spool.write(dsn);
    await spool.commit(
      createEnvelope({
        id: bounceId,
        received: new Date(this.now()),
        sender: '',
        recipients: [to],
        size: spool.size,
        client: { address: '127.0.0.1', port: 0, helo: this.settings.hostname },
        listener: 'bounce',
        bounceOf: id,
        doubleBounce: double,
      }),
    );
    log.info({ event: 'bounce', queueId: id, bounceId, to, recipients: failed.map((r) => r.address), double }, 'bounce queued');
  }

  private logAttempt(id: string, outcomes: readonly Outcome[], destination: string, ms: number): void {
    for (const o of outcomes) {
      this.deps.log.info(
        {
          event: 'delivery',
          queueId: id,
          recipient: o.recipient,
          destination: o.reply.host ?? destination,
          result: o.result,
          reply: replyLine(o.reply),
          ms: Math.round(ms),
        },
        `delivery ${o.result}`,
      );
    }
  }
}

export function initialState(env: Envelope): DeliveryState {
  return {
    version: 2,
    id: env.id,
    recipients: env.recipients.map((r) => ({ address: r.address, status: 'pending', attempts: 0, nextAttempt: env.received })),
  };
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Nothing left to do: every recipient delivered, or failed and bounced. */
export function finished(state: DeliveryState): boolean {
  return state.recipients.every((r) => r.status === 'delivered' || (r.status === 'failed' && r.bounced === true));
}

function mapPending(state: DeliveryState, change: (r: RecipientState) => RecipientState): DeliveryState {
  return { ...state, recipients: state.recipients.map((r) => (r.status === 'pending' ? change(r) : r)) };
}

/** The new state after one attempt: delivered and failed are final; deferred gets its next time. */
export function applyOutcomes(
  state: DeliveryState,
  outcomes: readonly Outcome[],
  bornMs: number,
  nowMs: number,
  settings: Pick<SchedulerSettings, 'retryLocal' | 'retryRemote'>,
): DeliveryState {
  const byRecipient = new Map(outcomes.map((o) => [o.recipient, o]));
  const lastAttempt = new Date(nowMs).toISOString();
  return {
    ...state,
    recipients: state.recipients.map((r): RecipientState => {
      const o = byRecipient.get(r.address);
      if (!o || r.status !== 'pending') return r;
      const attempts = r.attempts + 1;
      const base = { address: r.address, attempts, lastAttempt, reply: o.reply };
      if (o.result === 'delivered') return { ...base, status: 'delivered' };
      if (o.result === 'failed') return { ...base, status: 'failed' };
      const policy = o.kind === 'local' ? settings.retryLocal : settings.retryRemote;
      const next = nextAttempt(bornMs, attempts, nowMs + 1, policy);
      if (next === undefined || expired(bornMs, nowMs, policy)) {
        // Like Postfix, the status stays the temporary one (4.x.x) with Action: failed.
        return {
          ...base,
          status: 'failed',
          reply: { ...o.reply, text: `${replyText(o.reply)} (gave up: queue lifetime reached)` },
        };
      }
      return { ...base, status: 'pending', nextAttempt: new Date(next).toISOString() };
    }),
  };
}

function destinationKey(route: Route): string {
  if (route.kind === 'local') return 'local';
  if (route.kind === 'mx') return `mx:${route.domain}:${route.port}:${route.tls}`;
  if (route.kind === 'smtp')
    return `smtp:${route.hosts.map((h) => `${h.host}:${h.port}`).join(',')}:${route.tls}:${route.auth?.user ?? ''}`;
  return 'error';
}

function describeRoute(route: Route): string {
  if (route.kind === 'mx') return `mx ${route.domain}`;
  if (route.kind === 'smtp') return route.hosts.map((h) => `${h.host}:${h.port}`).join(',');
  return route.kind;
}

async function readPrefix(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total >= max) break;
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, max);
}
