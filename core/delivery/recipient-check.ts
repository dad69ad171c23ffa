/*
 * Recipient validation at RCPT, so unknown users are refused in the SMTP
 * dialogue instead of bounced to a (often forged) sender later: backscatter.
 * Local domains are resolved as local delivery resolves them, by the same
 * code (local-recipients.ts: aliases, extensions, postmaster, the delivery
 * pipeline's directory, create_mailboxes, existing Maildirs); a relay route
 * may carry a recipient list or ask the directory (Postfix
 * local_recipient_maps / relay_recipient_maps). A failed lookup is 451, never
 * "unknown" and never "accept". Other recipients are not this module's
 * business. The decisions are in recipient-rules.ts.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import type { LoadedConfig } from '../config/load.js';
import type { Address, StaticRoute } from '../model/index.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Directory } from '../pipeline/plugin-context.js';
import type { RecipientCheck, RecipientVerdict } from '../smtp/session.js';
import { type AliasTable, readings } from './local-address.js';
import { LocalRecipients } from './local-recipients.js';
import { listedEntry, parseRecipientList, type RecipientList } from './recipient-list.js';
import { badMailboxName, lookupFailure, mailboxNameProblem, unknownRelayUser } from './recipient-rules.js';
import { findStaticRoute } from './routing.js';
import { localRecipientSettings } from './setup.js';

/** Who exists behind a relay route: a list file, or the directory. */
type RouteRecipients =
  | { readonly kind: 'file'; readonly file: string; readonly list: () => RecipientList }
  | { readonly kind: 'directory' };

export interface RecipientCheckSettings {
  readonly local: LocalRecipients;
  readonly isLocalDomain: (domain: string) => boolean;
  /** Every static route, so the most specific one is found as delivery finds it. */
  readonly routes: readonly StaticRoute[];
  /** The recipient lists of the routes that have one. */
  readonly lists: ReadonlyMap<StaticRoute, RouteRecipients>;
  readonly directory: Directory;
  readonly delimiters: string;
  /** Time limit for one verdict (hook_timeout); past it the client gets 451. */
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** The check the SMTP listeners ask at RCPT (see RecipientCheck in core/smtp/session.ts). */
export class DeliveryRecipientCheck implements RecipientCheck {
  constructor(private readonly s: RecipientCheckSettings) {}

  async check(recipient: Address): Promise<RecipientVerdict | undefined> {
    // <postmaster> without a domain must always be accepted (RFC 5321 4.5.1).
    if (recipient.domain === '') return undefined;
    let verdict: Promise<RecipientVerdict> | undefined;
    if (this.s.isLocalDomain(recipient.domain)) {
      const problem = mailboxNameProblem(recipient.local, recipient.domain);
      if (problem) return badMailboxName(recipient.address, problem);
      verdict = this.s.local.verdict(recipient.address);
    } else {
      const route = findStaticRoute(recipient.domain, this.s.routes);
      const list = route && this.s.lists.get(route);
      if (!list) return undefined;
      verdict = this.relayVerdict(recipient, list);
    }
    const result = await this.bounded(recipient.address, verdict);
    if (result.action === 'reject' && result.reply.code < 500) {
      this.s.log.warn(
        { event: 'recipient', recipient: recipient.address, reason: result.reason },
        'recipient lookup failed; RCPT gets 451 4.3.0. Check the directory and the mail store',
      );
    }
    return result;
  }

  private async relayVerdict(recipient: Address, list: RouteRecipients): Promise<RecipientVerdict> {
    const { local, domain, address } = recipient;
    if (list.kind === 'file') {
      const entry = listedEntry(list.list(), local, domain, this.s.delimiters);
      return entry
        ? { action: 'accept', reason: `relay recipient: ${entry} in ${list.file}` }
        : unknownRelayUser(address, `not in ${list.file}`);
    }
    try {
      for (const { base } of readings(local, this.s.delimiters)) {
        const record = await this.s.directory.lookup(`${base}@${domain}`);
        if (record?.enabled === false) return unknownRelayUser(address, `disabled account: ${base}@${domain}`);
        if (record) return { action: 'accept', reason: `relay recipient: the directory knows ${base}@${domain}` };
      }
    } catch (err) {
      return lookupFailure(address, (err as Error).message);
    }
    return unknownRelayUser(address, 'the directory does not know it');
  }

  /** A verdict within timeoutMs, else 451: a hung directory must not hold the session. */
  private bounded(address: string, verdict: Promise<RecipientVerdict>): Promise<RecipientVerdict> {
    return new Promise((done) => {
      const timer = setTimeout(() => done(lookupFailure(address, `no answer within ${this.s.timeoutMs} ms`)), this.s.timeoutMs);
      verdict.then(
        (v) => {
          clearTimeout(timer);
          done(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          done(lookupFailure(address, err instanceof Error ? err.message : String(err)));
        },
      );
    });
  }
}

/**
 * Builds the check from the delivery configuration, or undefined when there
 * is nothing to check (no local domains, no route with a recipient list).
 * Route lists are read now: a bad line is a configuration error naming
 * file:line (a reload builds a new check, so a bad file keeps the old one).
 */
export function createRecipientCheck(
  loaded: LoadedConfig,
  pipelines: ReadonlyMap<string, Pipeline>,
  aliases: () => AliasTable,
  log: Logger,
): DeliveryRecipientCheck | undefined {
  const { config } = loaded;
  const d = config.delivery;
  const pipeline = d.pipeline ? pipelines.get(d.pipeline) : undefined;
  const directory: Directory = pipeline?.users ?? { lookup: async () => undefined, authenticate: async () => undefined };
  const problems: ConfigProblem[] = [];
  const lists = new Map<StaticRoute, RouteRecipients>();

  d.routes.forEach((route, i) => {
    if (route.recipients === undefined) return;
    const at = ['delivery', 'routes', i, 'recipients'];
    if (route.domain === '*' || route.domain === '') {
      problems.push(loaded.source.problem(at, 'a recipient list needs a route for named domains, not the "*" smarthost'));
      return;
    }
    if (route.recipients === 'directory') {
      if (!pipeline?.hooks.lookupUser.taps.length) {
        problems.push(
          loaded.source.problem(at, '"directory" needs delivery.pipeline with a directory plugin (one that serves lookupUser)'),
        );
        return;
      }
      lists.set(route, { kind: 'directory' });
      return;
    }
    let current: RecipientList;
    try {
      current = parseRecipientList(readFileSync(resolve(loaded.dir, route.recipients), 'utf8'), route.recipients);
    } catch (err) {
      problems.push(loaded.source.problem(at, `recipient list: ${(err as Error).message}`));
      return;
    }
    lists.set(route, { kind: 'file', file: route.recipients, list: () => current });
  });
  if (problems.length) throw new ConfigError(problems);
  if (d.local_domains.length === 0 && lists.size === 0) return undefined;

  const settings = localRecipientSettings(loaded, aliases);
  const local = new LocalRecipients(settings, directory);
  return new DeliveryRecipientCheck({
    local,
    isLocalDomain: settings.isLocalDomain,
    routes: d.routes,
    lists,
    directory,
    delimiters: d.recipient_delimiter,
    timeoutMs: config.hook_timeout,
    log: log.child({ component: 'recipients' }),
  });
}
