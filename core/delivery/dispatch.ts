/*
 * One delivery attempt for the due recipients of one message: a route for each
 * recipient (the route hook, else configuration), the recipients grouped per
 * destination, then each group delivered: locally, by a deliver plugin, or by
 * SMTP to the route's hosts or the domain's MX hosts, within the concurrency
 * limits. Every recipient gets an outcome, whatever fails, and every attempt is
 * one log line per recipient. A recipient listed twice (RFC 5321 2.4 equality)
 * is delivered once and both entries share the outcome, as Postfix's cleanup
 * removes duplicates.
 * Does not: schedule, change or write the delivery state, or bounce.
 */
import type { Logger } from 'pino';
import type { Hooks } from '../hooks/hooks.js';
import type { RouteQuery } from '../hooks/types.js';
import { countDelivery, type DestinationClass } from '../metrics/metrics.js';
import { type DeliveryOutcome, type DeliveryReply, deliveryReply, type Envelope, type Route, replyLine } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';
import { LocalDelivery, type LocalDeliverySettings, type LocalOutcome, type LocalRun } from './local.js';
import type { LocalRecipients } from './local-recipients.js';
import { lookupMx, type MxResolver } from './mx.js';
import { offeredOutcomes, routeErrorOutcome } from './plugin-replies.js';
import { groupDuplicates } from './recipients.js';
import { ConnectionCache } from './remote/cache.js';
import { deliverRemote, type RemoteHost } from './remote/deliver.js';
import { decideRoute, type RoutingTable } from './routing.js';
import type { DeliveryLimitSettings, DeliveryLimits } from './semaphore.js';
import type { AttemptOutcome } from './state.js';
import { deliveredStream } from './stored-message.js';

export interface DispatchSettings extends LocalDeliverySettings, Pick<DeliveryLimitSettings, 'concurrencyPerDomain'> {
  /** Our name in EHLO. */
  readonly helo: string;
  readonly routing: RoutingTable;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export interface DispatchDeps {
  readonly queue: Pick<MessageQueue, 'readMessage' | 'createSpool'>;
  /** Hooks of the delivery pipeline: route, deliver. */
  readonly hooks: Pick<Hooks, 'route' | 'deliver'>;
  /** The local resolution RCPT uses too, asking the delivery pipeline's directory (lookupUser). */
  readonly recipients: LocalRecipients;
  readonly resolver: MxResolver;
  readonly limits: DeliveryLimits;
  readonly log: Logger;
  readonly now: () => number;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class Dispatcher {
  /** Connections kept open briefly for the next message to the same destination. */
  private readonly connections: ConnectionCache;
  private readonly localDelivery: LocalDelivery;

  constructor(
    private readonly settings: DispatchSettings,
    private readonly deps: DispatchDeps,
  ) {
    // As many idle connections per destination as may be busy there at once: a burst's
    // deliveries all find one when they end together, instead of most of them paying a
    // new connection, EHLO and QUIT per message (the server already takes that many from us).
    this.connections = new ConnectionCache({ maxPerDestination: settings.concurrencyPerDomain });
    this.localDelivery = new LocalDelivery(
      { hostname: settings.hostname },
      { queue: deps.queue, recipients: deps.recipients, now: deps.now },
    );
  }

  /** QUITs the connections kept for reuse. */
  close(): Promise<void> {
    return this.connections.close();
  }

  /** One attempt for `recipients` of the message `run` is about; one outcome per entry of `recipients`. */
  async attempt(run: LocalRun, recipients: readonly string[]): Promise<AttemptOutcome[]> {
    const { queueId: id, envelope: env } = run;
    const duplicates = groupDuplicates(recipients);
    const groups = new Map<string, { route: Route; recipients: string[] }>();
    const outcomes: AttemptOutcome[] = [];
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
    if (outcomes.length) this.logAttempt(env, outcomes, 'route', 'none', 0);
    const results = await Promise.all(
      [...groups.entries()].map(([key, g]) => {
        const kind = g.route.kind === 'local' ? 'local' : 'remote';
        const delivered =
          g.route.kind === 'local'
            ? this.deliverLocal(run, g.recipients)
            : this.deps.limits.remote(key, () => this.deliverRemote(env, g.route, g.recipients));
        return delivered.catch((err: unknown) =>
          everyone(g.recipients, 'deferred', deliveryReply(451, '4.3.0', `delivery failed: ${errorText(err)}`), kind),
        );
      }),
    );
    const byRecipient = new Map(outcomes.concat(results.flat()).map((o) => [o.recipient, o]));
    return [...duplicates.values()].flatMap((spellings) => {
      const first =
        byRecipient.get(spellings[0]!) ??
        everyone([spellings[0]!], 'deferred', deliveryReply(451, '4.3.0', 'no outcome for this recipient'), 'remote')[0]!;
      return spellings.map((recipient) => ({ ...first, recipient }));
    });
  }

  /** Local recipients one after another, so a Maildir two of them share gets one copy. */
  private async deliverLocal(run: LocalRun, recipients: readonly string[]): Promise<AttemptOutcome[]> {
    const out: AttemptOutcome[] = [];
    for (const recipient of recipients) {
      const started = performance.now();
      const outcome: AttemptOutcome = {
        ...(await this.deps.limits.local(() => this.localDelivery.deliver(run, recipient))),
        kind: 'local',
      };
      this.logAttempt(run.envelope, [outcome], 'local', 'local', performance.now() - started);
      out.push(outcome);
    }
    return out;
  }

  /** One destination: a deliver plugin's, else the core's SMTP delivery. */
  private async deliverRemote(env: Envelope, route: Route, recipients: readonly string[]): Promise<AttemptOutcome[]> {
    const started = performance.now();
    let outcomes: readonly DeliveryOutcome[];
    try {
      const offered = await this.deps.hooks.deliver.promise({
        queueId: env.id,
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
            { event: 'delivery', queueId: env.id, problems: checked.problems },
            'the deliver hook returned a malformed result; those recipients are deferred: fix the deliver plugin',
          );
        }
        outcomes = checked.outcomes;
      } else {
        outcomes = await this.smtp(env, route, recipients);
      }
    } catch (err) {
      outcomes = everyone(recipients, 'deferred', deliveryReply(451, '4.3.0', `delivery failed: ${errorText(err)}`), 'remote');
    }
    const remote = outcomes.map((o): AttemptOutcome => ({ ...o, kind: 'remote' }));
    this.logAttempt(env, remote, describeRoute(route), destinationClass(route), performance.now() - started);
    return remote;
  }

  private async smtp(env: Envelope, route: Route, recipients: readonly string[]): Promise<readonly DeliveryOutcome[]> {
    let hosts: RemoteHost[];
    if (route.kind === 'mx') {
      const mx = await lookupMx(route.domain, this.deps.resolver);
      if (!mx.ok) return everyone(recipients, mx.permanent ? 'failed' : 'deferred', mx.reply, 'remote');
      hosts = mx.hosts.map((h) => ({ host: h, port: route.port, name: h }));
    } else if (route.kind === 'smtp') {
      hosts = route.hosts.map((h) => ({ ...h }));
    } else {
      return everyone(recipients, 'deferred', deliveryReply(451, '4.3.0', 'no route'), 'remote');
    }
    const result = await deliverRemote(
      {
        hosts,
        helo: this.settings.helo,
        tls: route.tls,
        ...(route.kind === 'smtp' && route.auth ? { auth: route.auth } : {}),
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
    return result.outcomes;
  }

  private logAttempt(
    env: Envelope,
    outcomes: readonly LocalOutcome[],
    destination: string,
    kind: DestinationClass,
    ms: number,
  ): void {
    for (const o of outcomes) {
      countDelivery(o.result, kind);
      this.deps.log.info(
        {
          event: 'delivery',
          queueId: env.id,
          sender: env.sender,
          recipient: o.recipient,
          destination: o.reply.host ?? destination,
          result: o.result,
          reply: replyLine(o.reply),
          ...(o.targets ? { targets: o.targets } : {}),
          ms: Math.round(ms),
        },
        `delivery ${o.result}`,
      );
    }
  }
}

/** The same outcome for each of `recipients`. */
function everyone(
  recipients: readonly string[],
  result: DeliveryOutcome['result'],
  reply: DeliveryReply,
  kind: AttemptOutcome['kind'],
): AttemptOutcome[] {
  return recipients.map((recipient) => ({ recipient, result, reply, kind }));
}

/** The destination's class as the metrics count it: a bounded label, never a host name. */
function destinationClass(route: Route): DestinationClass {
  if (route.kind === 'local') return 'local';
  if (route.kind === 'mx') return 'mx';
  if (route.kind === 'smtp') return route.via === 'smarthost' ? 'smarthost' : 'route';
  return 'none';
}

/** What a destination is: recipients with the same key go in one transaction. */
function destinationKey(route: Route): string {
  if (route.kind === 'local') return 'local';
  if (route.kind === 'mx') return `mx:${route.domain}:${route.port}:${route.tls}`;
  if (route.kind === 'smtp')
    return `smtp:${route.hosts.map((h) => `${h.host}:${h.port}`).join(',')}:${route.tls}:${route.auth?.user ?? ''}`;
  return 'error';
}

/** The destination as the log names it. */
function describeRoute(route: Route): string {
  if (route.kind === 'mx') return `mx ${route.domain}`;
  if (route.kind === 'smtp') return route.hosts.map((h) => `${h.host}:${h.port}`).join(',');
  return route.kind;
}
