/*
 * The scheduler (qmail-send): takes committed queue entries as soon as they
 * are committed (and all of them after a restart), routes each recipient,
 * delivers locally or by SMTP within the concurrency limits, writes every
 * recipient's new state durably before the next step, retries on qmail's
 * schedule, bounces what failed for good and removes what is finished.
 * A crash repeats at most the attempt in flight; it never loses a recipient.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Hooks } from '../hooks/hooks.js';
import type { BounceNotice, DeliveryOutcome, RouteQuery } from '../hooks/types.js';
import type { Directory } from '../pipeline/plugin-context.js';
import type { DeliveryState, Envelope, MessageQueue, RecipientState } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import { type DsnRecipient, renderDsn, statusFromReply } from './dsn.js';
import { type AliasTable, type LocalTarget, mailboxPath, resolveLocal } from './local-address.js';
import { deliverToMaildir, MaildirError } from './maildir.js';
import { lookupMx, type MxResolver } from './mx.js';
import { ConnectionCache, deliverRemote } from './remote.js';
import { expired, nextAttempt, type RetryPolicy } from './retry.js';
import { decideRoute, type Route, type RoutingTable } from './routing.js';
import { Semaphore } from './semaphore.js';

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

  constructor(
    private readonly settings: SchedulerSettings,
    private readonly deps: SchedulerDeps,
  ) {
    this.local = new Semaphore(settings.concurrencyLocal);
    this.remote = new Semaphore(settings.concurrencyRemote);
    this.now = deps.now ?? Date.now;
  }

  /** Picks up every committed entry, then every new commit as it happens. */
  async start(): Promise<void> {
    this.deps.queue.onCommit((id) => this.wake(id));
    for (const id of await this.deps.queue.ids()) this.wake(id);
  }

  /** Stops scheduling; waits for attempts in flight (their state is written). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
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
        this.deps.log.error({ err, queueId: id }, 'delivery run failed; retrying in a minute');
        this.schedule(id, this.now() + 60_000);
      })
      .finally(() => {
        this.running.delete(id);
        if (this.again.delete(id)) this.wake(id);
      });
    this.running.set(id, run);
  }

  /** Makes pending recipients due now (qgate queue flush). */
  async flush(id?: string): Promise<string[]> {
    const ids = id ? [id] : await this.deps.queue.ids();
    const flushed: string[] = [];
    for (const one of ids) {
      const state = await this.deps.queue.readState(one);
      if (state) {
        const now = new Date(this.now()).toISOString();
        await this.deps.queue.writeState({
          ...state,
          recipients: state.recipients.map((r) => (r.status === 'pending' ? { ...r, nextAttempt: now } : r)),
        });
      }
      flushed.push(one);
      this.wake(one);
    }
    return flushed;
  }

  /** Removes a message, after any attempt in flight (qgate queue remove). */
  async remove(id: string): Promise<void> {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
    await this.running.get(id);
    await this.deps.queue.remove(id);
    this.deps.log.info({ event: 'removed', queueId: id }, 'message removed by the administrator');
  }

  /** Fails every pending recipient now, with a bounce (qgate queue bounce). */
  async bounceNow(id: string, reason: string): Promise<void> {
    const env = await this.deps.queue.envelope(id);
    if (!env) throw new Error(`no message ${id} in the queue`);
    const state = (await this.deps.queue.readState(id)) ?? initialState(env);
    await this.deps.queue.writeState({
      ...state,
      recipients: state.recipients.map((r) =>
        r.status === 'pending' ? { ...r, status: 'failed', lastReply: `550 5.0.0 ${reason}`, nextAttempt: undefined } : r,
      ),
    });
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
      if ((await queue.ids()).includes(id)) {
        log.error({ queueId: id }, 'damaged queue entry moved to corrupt/; the rest of the queue goes on');
        await queue.quarantine(id);
      }
      return;
    }
    let state = (await queue.readState(id)) ?? initialState(env);
    const now = this.now();
    const born = Date.parse(env.received);

    // Expired recipients fail with the last reply they got (RFC 3463 4.4.7).
    const lifetime = this.settings.retryRemote.lifetimeMs;
    if (state.recipients.some((r) => r.status === 'pending') && now - born >= lifetime) {
      state = {
        ...state,
        recipients: state.recipients.map((r) =>
          r.status === 'pending'
            ? {
                ...r,
                status: 'failed',
                lastReply: `451 4.4.7 Message expired after ${Math.round(lifetime / 3_600_000)} hours${r.lastReply ? `; last reply: ${r.lastReply}` : ''}`,
              }
            : r,
        ),
      };
      await queue.writeState(state);
    }

    const due = state.recipients.filter((r) => r.status === 'pending' && Date.parse(r.nextAttempt ?? env.received) <= now);
    if (due.length && !this.stopped) {
      const outcomes = await this.attempt(
        id,
        env,
        due.map((r) => r.address),
      );
      state = applyOutcomes(state, outcomes, born, now, this.settings);
      // Durable before anything that depends on it: bounces and the next attempt. When every
      // recipient is delivered the removal below is the record, so that write is skipped.
      const finished = state.recipients.every((r) => r.status === 'delivered');
      if (!finished) await queue.writeState(state);
    }

    const unbounced = state.recipients.filter((r) => r.status === 'failed' && !r.bounced);
    if (unbounced.length) {
      await this.bounce(id, env, unbounced);
      state = { ...state, recipients: state.recipients.map((r) => (r.status === 'failed' ? { ...r, bounced: true } : r)) };
      await queue.writeState(state);
    }

    const pending = state.recipients.filter((r) => r.status === 'pending');
    if (pending.length === 0) {
      await queue.remove(id);
      log.info(
        {
          event: 'done',
          queueId: id,
          delivered: state.recipients.filter((r) => r.status === 'delivered').length,
          failed: state.recipients.filter((r) => r.status === 'failed').length,
        },
        'message finished',
      );
      return;
    }
    const next = Math.min(...pending.map((r) => Date.parse(r.nextAttempt ?? env.received)));
    this.schedule(id, next);
  }

  /** One attempt for the due recipients of one message; every recipient gets an outcome. */
  private async attempt(id: string, env: Envelope, recipients: string[]): Promise<Outcome[]> {
    const groups = new Map<string, { route: Route; recipients: string[] }>();
    const outcomes: Outcome[] = [];
    for (const recipient of recipients) {
      const domain = recipient.includes('@') ? recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase() : '';
      let route: Route;
      try {
        const query: RouteQuery = { queueId: id, recipient, domain, envelope: env };
        route = (await this.deps.hooks.route.promise(query)) ?? decideRoute(domain, this.settings.routing);
      } catch (err) {
        outcomes.push({
          recipient,
          result: 'deferred',
          reply: `451 4.3.0 routing failed: ${(err as Error).message}`,
          kind: 'remote',
        });
        continue;
      }
      if (route.kind === 'error') {
        outcomes.push({ recipient, result: route.permanent ? 'failed' : 'deferred', reply: route.reply, kind: 'remote' });
        continue;
      }
      const key = destinationKey(route);
      const group = groups.get(key) ?? { route, recipients: [] };
      group.recipients.push(recipient);
      groups.set(key, group);
    }
    const results = await Promise.all(
      [...groups.entries()].map(([key, g]) =>
        g.route.kind === 'local'
          ? this.deliverLocal(id, env, g.recipients)
          : this.deliverToDestination(id, env, key, g.route, g.recipients),
      ),
    );
    return outcomes.concat(results.flat());
  }

  private async deliverLocal(id: string, env: Envelope, recipients: string[]): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (const recipient of recipients) {
      out.push(await this.local.run(() => this.deliverOneLocal(id, env, recipient)));
    }
    return out;
  }

  private async deliverOneLocal(id: string, env: Envelope, recipient: string): Promise<Outcome> {
    const started = performance.now();
    const at = recipient.lastIndexOf('@');
    const domain = at < 0 ? this.settings.hostname : recipient.slice(at + 1).toLowerCase();
    const known = new Map<string, boolean>();
    // The directory answers asynchronously; ask it first, then resolve aliases synchronously.
    const record = await this.deps.users.lookup(recipient).catch(() => undefined);
    if (record !== undefined) known.set(recipient.toLowerCase(), record !== null);
    const userExists = (local: string, d: string): boolean => {
      const address = `${local}@${d}`.toLowerCase();
      const answer = known.get(address);
      if (answer !== undefined) return answer;
      if (this.settings.createMailboxes) return true;
      try {
        return existsSync(mailboxPath(this.settings.maildirRoot, local, d));
      } catch {
        return false;
      }
    };
    let targets: LocalTarget[];
    try {
      targets = resolveLocal(at < 0 ? `${recipient}@${domain}` : recipient, (d) => this.settings.routing.isLocal(d), {
        aliases: this.settings.aliases(),
        delimiters: this.settings.delimiters,
        postmaster: this.settings.postmaster,
        userExists,
      });
    } catch (err) {
      return {
        recipient,
        result: 'deferred',
        reply: `451 4.3.0 alias resolution failed: ${(err as Error).message}`,
        kind: 'local',
      };
    }
    const replies: string[] = [];
    let result: DeliveryOutcome['result'] = 'delivered';
    const worse = (r: DeliveryOutcome['result']) => {
      if (r === 'deferred' || (r === 'failed' && result === 'delivered')) result = r;
    };
    for (const target of targets) {
      if (target.kind === 'unknown') {
        worse('failed');
        replies.push(`550 5.1.1 <${target.address}>: Recipient address rejected: User unknown in local recipient table`);
      } else if (target.kind === 'loop') {
        worse('failed');
        replies.push(`554 5.4.6 <${target.address}>: alias loop or too deep`);
      } else if (target.kind === 'forward') {
        // A forward is a new message in the queue, so it gets its own retries and bounces.
        try {
          await this.forward(id, env, target.address);
          replies.push(`250 2.1.5 forwarded to <${target.address}>`);
        } catch (err) {
          worse('deferred');
          replies.push(`451 4.3.0 cannot queue the forward to <${target.address}>: ${(err as Error).message}`);
        }
      } else {
        const mailbox = `${target.local}@${target.domain}`;
        const maildir =
          record?.mailbox && mailbox.toLowerCase() === recipient.toLowerCase()
            ? record.mailbox
            : mailboxPath(this.settings.maildirRoot, target.local, target.domain);
        try {
          const prepend = `Return-Path: <${env.sender}>\r\nDelivered-To: ${mailbox}\r\n${addedHeaders(env)}`;
          const { file } = await deliverToMaildir({
            maildir,
            prepend,
            message: () => this.messageStream(id, ''),
            hostname: this.settings.hostname,
          });
          replies.push(`250 2.0.0 delivered to ${file}`);
        } catch (err) {
          const temporary = !(err instanceof MaildirError) || err.temporary;
          worse(temporary ? 'deferred' : 'failed');
          replies.push(`${temporary ? '451 4.2.0' : '550 5.2.0'} ${mailbox}: ${(err as Error).message}`);
        }
      }
    }
    const outcome: Outcome = {
      recipient,
      result,
      reply: replies.join('; ') || '250 2.0.0 no targets',
      host: 'local',
      kind: 'local',
    };
    this.logAttempt(id, [outcome], 'local', performance.now() - started);
    return outcome;
  }

  /** Queues a copy for an alias target outside local delivery. */
  private async forward(id: string, env: Envelope, address: string): Promise<void> {
    const spool = this.deps.queue.createSpool(newQueueId());
    const source = this.deps.queue.readMessage(id);
    if (!source) throw new Error('message vanished');
    const prefix = Buffer.from(addedHeaders(env));
    if (prefix.length) spool.write(prefix);
    for await (const chunk of source) spool.write(chunk as Buffer);
    await spool.commit({
      ...env,
      id: spool.id,
      recipients: [{ address, parameters: {} }],
      addedHeaders: [],
      size: spool.size,
      received: new Date(this.now()).toISOString(),
    });
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
    const all = (result: DeliveryOutcome['result'], reply: string): Outcome[] =>
      recipients.map((recipient) => ({ recipient, result, reply, kind: 'remote' as const }));
    let outcomes: Outcome[];
    try {
      const offered = await this.deps.hooks.deliver.promise({
        queueId: id,
        route,
        sender: env.sender,
        recipients,
        envelope: env,
        message: () => this.messageStream(id, addedHeaders(env)),
      });
      if (offered) {
        outcomes = recipients.map((recipient) => {
          const o = offered.outcomes.find((x) => x.recipient === recipient);
          return o
            ? { ...o, kind: 'remote' as const }
            : {
                recipient,
                result: 'deferred' as const,
                reply: '451 4.3.0 the deliver plugin gave no result',
                kind: 'remote' as const,
              };
        });
      } else {
        outcomes = await this.smtp(id, env, route, recipients);
      }
    } catch (err) {
      outcomes = all('deferred', `451 4.3.0 delivery failed: ${(err as Error).message}`);
    }
    this.logAttempt(id, outcomes, describeRoute(route), performance.now() - started);
    return outcomes;
  }

  private async smtp(id: string, env: Envelope, route: Route, recipients: string[]): Promise<Outcome[]> {
    const all = (result: DeliveryOutcome['result'], reply: string): Outcome[] =>
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
      return all('deferred', '451 4.3.0 no route');
    }
    const result = await deliverRemote(
      {
        hosts,
        helo: this.settings.helo,
        tls,
        ...(auth ? { auth } : {}),
        sender: env.sender,
        recipients,
        message: () => this.messageStream(id, addedHeaders(env)),
        size: env.size,
        timeouts: {
          connectMs: this.settings.connectTimeoutMs,
          greetingMs: this.settings.connectTimeoutMs,
          socketMs: this.settings.commandTimeoutMs,
        },
      },
      this.connections,
    );
    return result.outcomes.map((o) => ({ ...o, reply: asSmtpReply(o.reply, o.result), kind: 'remote' as const }));
  }

  /** The stored message with a prefix (headers plugins added), as a fresh stream. */
  private messageStream(id: string, prefix: string): Readable {
    const source = this.deps.queue.readMessage(id);
    if (!source) return Readable.from([]);
    if (!prefix) return source;
    const out = new PassThrough();
    out.write(prefix);
    source.on('error', (err) => out.destroy(err));
    source.pipe(out);
    return out;
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
      recipients: failed.map((r) => ({ address: r.address, reply: r.lastReply ?? '' })),
      double,
    };
    const verdict = await this.deps.hooks.bounce.promise(notice).catch(() => undefined);
    if (verdict && verdict.action !== 'continue' && verdict.action !== 'accept') {
      log.info({ event: 'bounce', queueId: id, result: 'suppressed', reason: verdict.reason }, 'bounce suppressed by a plugin');
      return;
    }
    const original = await readPrefix(queue.readMessage(id), this.settings.bounceMaxBytes + 1);
    const recipients: DsnRecipient[] = failed.map((r) => ({
      recipient: r.address,
      action: 'failed',
      status: statusFromReply(r.lastReply, true),
      ...(r.lastReply ? { diagnostic: r.lastReply } : {}),
      ...(r.deliveredTo ? { remoteMta: r.deliveredTo } : {}),
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
    await spool.commit({
      version: 1,
      id: bounceId,
      received: new Date(this.now()).toISOString(),
      sender: '',
      senderParameters: {},
      recipients: [{ address: to, parameters: {} }],
      size: spool.size,
      utf8: false,
      body: '7BIT',
      client: { address: '127.0.0.1', port: 0, helo: this.settings.hostname },
      listener: 'bounce',
      addedHeaders: [],
      bounceOf: id,
      ...(double ? { doubleBounce: true } : {}),
    });
    log.info({ event: 'bounce', queueId: id, bounceId, to, recipients: failed.map((r) => r.address), double }, 'bounce queued');
  }

  private logAttempt(id: string, outcomes: readonly Outcome[], destination: string, ms: number): void {
    for (const o of outcomes) {
      this.deps.log.info(
        {
          event: 'delivery',
          queueId: id,
          recipient: o.recipient,
          destination: o.host ?? destination,
          result: o.result,
          reply: o.reply,
          ms: Math.round(ms),
        },
        `delivery ${o.result}`,
      );
    }
  }
}

export function initialState(env: Envelope): DeliveryState {
  return {
    version: 1,
    id: env.id,
    recipients: env.recipients.map((r) => ({ address: r.address, status: 'pending', attempts: 0, nextAttempt: env.received })),
  };
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
      const base = { address: r.address, attempts, lastAttempt, lastReply: o.reply };
      if (o.result === 'delivered') return { ...base, status: 'delivered', ...(o.host ? { deliveredTo: o.host } : {}) };
      if (o.result === 'failed') return { ...base, status: 'failed', ...(o.host ? { deliveredTo: o.host } : {}) };
      const policy = o.kind === 'local' ? settings.retryLocal : settings.retryRemote;
      const next = nextAttempt(bornMs, attempts, nowMs + 1, policy);
      if (next === undefined || expired(bornMs, nowMs, policy)) {
        // Like Postfix, the status stays the temporary one (4.x.x) with Action: failed.
        return { ...base, status: 'failed', lastReply: `${o.reply} (gave up: queue lifetime reached)` };
      }
      return { ...base, status: 'pending', nextAttempt: new Date(next).toISOString() };
    }),
  };
}

/**
 * Replies in the state, the logs and bounces always read as SMTP replies: a
 * local diagnosis such as "connect ECONNREFUSED (#4.4.1)" becomes
 * "451 4.4.1 connect ECONNREFUSED".
 */
export function asSmtpReply(reply: string, result: DeliveryOutcome['result']): string {
  if (/^[245]\d\d[ -]/.test(reply)) return reply;
  const m = /\s*\(#([245])\.(\d{1,3})\.(\d{1,3})\)\s*$/.exec(reply);
  const text = m ? reply.slice(0, m.index) : reply;
  if (result === 'failed') return `550 ${m && m[1] === '5' ? `5.${m[2]}.${m[3]}` : '5.0.0'} ${text}`;
  if (result === 'deferred') return `451 ${m && m[1] === '4' ? `4.${m[2]}.${m[3]}` : '4.0.0'} ${text}`;
  return `250 2.0.0 ${text}`;
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

function addedHeaders(env: Envelope): string {
  return env.addedHeaders.map((h) => `${h.name}: ${h.value}\r\n`).join('');
}

async function readPrefix(stream: Readable | undefined, max: number): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
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
