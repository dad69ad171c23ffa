/*
 * Recipient validation at RCPT, so unknown users are refused in the SMTP
 * dialogue instead of bounced to a (often forged) sender later: backscatter.
 * Local domains are resolved by local delivery's own rules (aliases,
 * extensions, postmaster, the delivery pipeline's directory, existing
 * Maildirs, create_mailboxes); a relay route may carry a recipient list or ask
 * the directory (Postfix local_recipient_maps / relay_recipient_maps). A
 * failed lookup is 451, never "unknown" and never "accept". Other recipients
 * are not this module's business. The decisions are in recipient-rules.ts.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import type { LoadedConfig } from '../config/load.js';
import type { AcceptResult, RejectResult } from '../hooks/results.js';
import type { Address, StaticRoute } from '../model/index.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Directory } from '../pipeline/plugin-context.js';
import type { RecipientCheck, RecipientVerdict } from '../smtp/session.js';
import { type AliasTable, type LocalTarget, mailboxPath, readings } from './local-address.js';
import { listedEntry, parseRecipientList, type RecipientList } from './recipient-list.js';
import {
  badMailboxName,
  type Candidate,
  candidateKey,
  deliverable,
  localVerdict,
  lookupFailure,
  type MailboxAnswer,
  mailboxNameProblem,
  type PartialResolution,
  type ResolutionRules,
  resolveWithAnswers,
  unknownRelayUser,
} from './recipient-rules.js';
import { findStaticRoute } from './routing.js';
import { domainMatcher } from './setup.js';

export interface LocalRecipientSettings {
  readonly isLocalDomain: (domain: string) => boolean;
  readonly maildirRoot: string;
  readonly createMailboxes: boolean;
  /** The current alias table (replaced when the file is re-read). */
  readonly aliases: () => AliasTable;
  readonly delimiters: string;
  readonly postmaster: string;
}

/** A local target, with the Maildir a mailbox target is delivered into. */
export type ResolvedTarget =
  | (Extract<LocalTarget, { kind: 'mailbox' }> & { readonly maildir: string })
  | Exclude<LocalTarget, { kind: 'mailbox' }>;

/** Candidates answered at once; most addresses need one or two. */
const LOOKUP_BATCH = 8;
/**
 * Mailbox lookups for one address, at most. The longest path RCPT takes (256
 * octets) has fewer readings than this; a bigger alias fan-out of users that
 * do not exist is answered 451, never "unknown" on a guess.
 */
const MAX_LOOKUPS = 128;

/**
 * Resolves addresses in local domains the way local delivery does, asking
 * the directory and the mail store about each mailbox the resolution needs
 * (asynchronously, in small batches), so RCPT and delivery reach the same
 * answer. Throws when the directory or the mail store cannot answer.
 */
export class LocalRecipients {
  constructor(
    private readonly settings: LocalRecipientSettings,
    private readonly directory: Directory,
  ) {}

  /** Every target of `address` (what delivery needs), each mailbox with its Maildir. */
  async resolve(address: string): Promise<ResolvedTarget[]> {
    const { resolution, answers } = await this.run(address, false);
    return resolution.targets.map((t): ResolvedTarget => {
      if (t.kind !== 'mailbox') return t;
      const known = answers.get(candidateKey(t))?.maildir;
      return { ...t, maildir: known ?? mailboxPath(this.settings.maildirRoot, t.local, t.domain) };
    });
  }

  /** The RCPT verdict: accept once a deliverable target is certain, reject once nothing is left to ask. */
  async verdict(address: string): Promise<AcceptResult | RejectResult> {
    let resolution: PartialResolution;
    try {
      resolution = (await this.run(address, true)).resolution;
    } catch (err) {
      return lookupFailure(address, (err as Error).message);
    }
    return localVerdict(address, resolution) ?? lookupFailure(address, 'resolution did not finish');
  }

  private async run(
    address: string,
    untilDeliverable: boolean,
  ): Promise<{ resolution: PartialResolution; answers: Map<string, MailboxAnswer> }> {
    const s = this.settings;
    // One alias table for the whole resolution, even if a SIGHUP replaces it meanwhile.
    const rules: ResolutionRules = {
      isLocalDomain: s.isLocalDomain,
      aliases: s.aliases(),
      delimiters: s.delimiters,
      postmaster: s.postmaster,
    };
    const answers = new Map<string, MailboxAnswer>();
    let lookups = 0;
    for (;;) {
      const resolution = resolveWithAnswers(address, answers, rules);
      if (resolution.missing.length === 0 || (untilDeliverable && resolution.targets.some(deliverable))) {
        return { resolution, answers };
      }
      const batch = resolution.missing.slice(0, LOOKUP_BATCH);
      lookups += batch.length;
      if (lookups > MAX_LOOKUPS) throw new Error(`${address} needs more than ${MAX_LOOKUPS} mailbox lookups`);
      const got = await Promise.all(batch.map((c) => this.answer(c)));
      for (const [i, c] of batch.entries()) answers.set(candidateKey(c), got[i]!);
    }
  }

  /**
   * Does this mailbox exist? The directory first: a record says yes (and may
   * name the Maildir), null says no, whatever create_mailboxes says. When no
   * directory knows the domain, create_mailboxes says yes, else the Maildir
   * must exist. A name that cannot be a Maildir never exists.
   */
  private async answer(c: Candidate): Promise<MailboxAnswer> {
    const record = await this.directory.lookup(`${c.local}@${c.domain}`);
    if (record === null) return { exists: false };
    if (record?.mailbox) return { exists: true, maildir: record.mailbox };
    // The mailbox lives under maildir_root, so its name must be one a Maildir can have.
    if (mailboxNameProblem(c.local, c.domain)) return { exists: false };
    if (record) return { exists: true };
    if (this.settings.createMailboxes) return { exists: true };
    try {
      await stat(mailboxPath(this.settings.maildirRoot, c.local, c.domain));
      return { exists: true };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Only "not there" means no; EACCES or EIO say nothing about the user.
      if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false };
      throw err;
    }
  }
}

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
        if (await this.s.directory.lookup(`${base}@${domain}`)) {
          return { action: 'accept', reason: `relay recipient: the directory knows ${base}@${domain}` };
        }
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
 * Route lists are read now (a bad line is a configuration error naming
 * file:line) and again on SIGHUP (a bad file then keeps the previous list).
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
  if (d.pipeline && !pipeline) {
    const known = [...pipelines.keys()].join(', ') || '(none)';
    problems.push(loaded.source.problem(['delivery', 'pipeline'], `no pipeline named "${d.pipeline}"; defined: ${known}`));
  }
  const lists = new Map<StaticRoute, RouteRecipients>();
  const reloaders: (() => void)[] = [];

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
    const file = resolve(loaded.dir, route.recipients);
    const read = (): RecipientList => parseRecipientList(readFileSync(file, 'utf8'), route.recipients!);
    let current: RecipientList;
    try {
      current = read();
    } catch (err) {
      problems.push(loaded.source.problem(at, `recipient list: ${(err as Error).message}`));
      return;
    }
    lists.set(route, { kind: 'file', file: route.recipients, list: () => current });
    reloaders.push(() => {
      try {
        current = read();
        log.info(
          { event: 'reload', file, addresses: current.addresses.size, domains: current.domains.size },
          'recipient list reloaded',
        );
      } catch (err) {
        log.error({ err, file }, 'recipient list reload failed; keeping the previous list. Fix it and send SIGHUP again');
      }
    });
  });
  if (problems.length) throw new ConfigError(problems);
  if (d.local_domains.length === 0 && lists.size === 0) return undefined;
  if (reloaders.length) {
    process.on('SIGHUP', () => {
      for (const reload of reloaders) reload();
    });
  }

  const isLocalDomain = domainMatcher(d.local_domains);
  const local = new LocalRecipients(
    {
      isLocalDomain,
      maildirRoot: resolve(loaded.dir, d.maildir_root),
      createMailboxes: d.create_mailboxes,
      aliases,
      delimiters: d.recipient_delimiter,
      postmaster: d.postmaster ?? `postmaster@${config.hostname}`,
    },
    directory,
  );
  return new DeliveryRecipientCheck({
    local,
    isLocalDomain,
    routes: d.routes,
    lists,
    directory,
    delimiters: d.recipient_delimiter,
    timeoutMs: config.hook_timeout,
    log: log.child({ component: 'recipients' }),
  });
}
