/*
 * The one resolution of addresses in local domains, for RCPT and for local
 * delivery alike: aliases, extensions, postmaster/abuse, then for each mailbox
 * the directory first, create_mailboxes next, an existing Maildir last. The
 * directory and the mail store are asked asynchronously; a question they
 * cannot answer throws, so it is never read as "no such user". The rules
 * themselves are pure, in recipient-rules.ts and local-address.ts.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AcceptResult, RejectResult } from '../hooks/results.js';
import type { UserRecord } from '../hooks/types.js';
import { inTurn } from '../model/index.js';
import type { Directory } from '../pipeline/plugin-context.js';
import { type AliasTable, type LocalTarget, mailboxPath } from './local-address.js';
import {
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
} from './recipient-rules.js';

export interface LocalRecipientSettings {
  readonly isLocalDomain: (domain: string) => boolean;
  readonly maildirRoot: string;
  readonly createMailboxes: boolean;
  /** The current alias table (replaced when the file is re-read). */
  readonly aliases: () => AliasTable;
  readonly delimiters: string;
  readonly postmaster: string;
}

/** A local target, with the Maildir a mailbox target is delivered into (an absolute path) and its quota. */
export type ResolvedTarget =
  | (Extract<LocalTarget, { kind: 'mailbox' }> & { readonly maildir: string; readonly quota?: number })
  | Exclude<LocalTarget, { kind: 'mailbox' }>;

/** Questions in flight at once, for RCPT and delivery; most addresses need one or two. */
const LOOKUP_BATCH = 8;
/**
 * Mailbox lookups for one RCPT, at most. The longest path RCPT takes (256
 * octets) has fewer readings than this; a bigger alias fan-out of users that
 * do not exist is answered 451, never "unknown" on a guess. Delivery has no
 * such bound: its questions are the alias table's targets, which the admin
 * wrote, and each of them costs a copy anyway.
 */
const MAX_RCPT_LOOKUPS = 128;

export class LocalRecipients {
  constructor(
    private readonly settings: LocalRecipientSettings,
    private readonly directory: Directory,
  ) {}

  /**
   * Every target of `address`, each mailbox with its Maildir: what delivery
   * needs. `localDomain` counts as local besides the configured domains (a
   * route hook may send any domain to local delivery). Throws when the
   * directory or the mail store cannot answer.
   */
  async resolve(address: string, localDomain?: string): Promise<ResolvedTarget[]> {
    const isLocalDomain =
      localDomain === undefined
        ? this.settings.isLocalDomain
        : (d: string) => d === localDomain || this.settings.isLocalDomain(d);
    const { resolution, answers } = await this.run(address, isLocalDomain, 'all');
    return resolution.targets.map((t): ResolvedTarget => {
      if (t.kind !== 'mailbox') return t;
      const answer = answers.get(candidateKey(t));
      const named = answer?.maildir;
      const maildir = named !== undefined ? resolve(named) : mailboxPath(this.settings.maildirRoot, t.local, t.domain);
      return answer?.quota ? { ...t, maildir, quota: answer.quota } : { ...t, maildir };
    });
  }

  /** The RCPT verdict: accept once a deliverable target is certain, reject once nothing is left to ask. */
  async verdict(address: string): Promise<AcceptResult | RejectResult> {
    let resolution: PartialResolution;
    try {
      resolution = (await this.run(address, this.settings.isLocalDomain, 'until-deliverable')).resolution;
    } catch (err) {
      return lookupFailure(address, (err as Error).message);
    }
    return localVerdict(address, resolution) ?? lookupFailure(address, 'resolution did not finish');
  }

  /**
   * Resolves with the answers known so far and asks what is missing, until
   * nothing is (or, for RCPT, a deliverable target is certain). RCPT asks in
   * batches, in the order the rules need them, so it stops early; delivery asks
   * all that is missing each round, so a large alias takes a few rounds, not
   * one per batch (each round resolves the whole alias again).
   */
  private async run(
    address: string,
    isLocalDomain: (domain: string) => boolean,
    mode: 'all' | 'until-deliverable',
  ): Promise<{ resolution: PartialResolution; answers: Map<string, MailboxAnswer> }> {
    const s = this.settings;
    // One alias table for the whole resolution, even if a SIGHUP replaces it meanwhile.
    const rules: ResolutionRules = {
      isLocalDomain,
      aliases: s.aliases(),
      delimiters: s.delimiters,
      postmaster: s.postmaster,
    };
    const answers = new Map<string, MailboxAnswer>();
    let lookups = 0;
    for (;;) {
      const resolution = resolveWithAnswers(address, answers, rules);
      if (resolution.missing.length === 0) return { resolution, answers };
      if (mode === 'until-deliverable' && resolution.targets.some(deliverable)) return { resolution, answers };
      const batch = mode === 'all' ? resolution.missing : resolution.missing.slice(0, LOOKUP_BATCH);
      lookups += batch.length;
      if (mode === 'until-deliverable' && lookups > MAX_RCPT_LOOKUPS) {
        throw new Error(`${address} needs more than ${MAX_RCPT_LOOKUPS} mailbox lookups`);
      }
      const got = await this.answerAll(batch);
      for (const [i, c] of batch.entries()) answers.set(candidateKey(c), got[i]!);
    }
  }

  /** What a directory's user record means for resolution and delivery. */
  private fromRecord(c: Candidate, record: UserRecord): MailboxAnswer {
    const details = {
      ...(record.enabled === false ? { disabled: true } : {}),
      ...(record.forwards?.length ? { forwards: record.forwards } : {}),
      ...(record.deliverLocally === false ? { deliverLocally: false } : {}),
      ...(record.quota ? { quota: record.quota } : {}),
    };
    if (record.mailbox) return { exists: true, maildir: record.mailbox, ...details };
    // Without a mailbox, the canonical address names the Maildir (alice@ for Alice.Smith@).
    const at = record.address.lastIndexOf('@');
    const local = at < 0 ? record.address : record.address.slice(0, at);
    const domain = at < 0 ? c.domain : record.address.slice(at + 1).toLowerCase();
    if (mailboxNameProblem(local, domain)) {
      // The directory's own name for the user cannot be a Maildir: better the name asked about.
      if (mailboxNameProblem(c.local, c.domain)) return { exists: false };
      return { exists: true, ...details };
    }
    const canonical = local !== c.local || domain !== c.domain;
    return canonical
      ? { exists: true, maildir: mailboxPath(this.settings.maildirRoot, local, domain), ...details }
      : { exists: true, ...details };
  }

  /** Answers for `batch`, in its order, with at most LOOKUP_BATCH questions in flight. */
  private answerAll(batch: readonly Candidate[]): Promise<MailboxAnswer[]> {
    return inTurn(batch, LOOKUP_BATCH, (candidate) => this.answer(candidate));
  }

  /**
   * Does this mailbox exist? The directory first: a record says yes (and may
   * name the Maildir, or a canonical address whose Maildir it is; and says
   * whether the account is enabled, where it forwards, its quota), null says
   * no, whatever create_mailboxes says. When no directory knows the domain,
   * create_mailboxes says yes, else the Maildir must exist. A name that cannot
   * be a Maildir never exists. A directory that cannot answer (it threw, timed
   * out or answered unavailable: a DirectoryUnavailable) throws: never "no".
   */
  private async answer(c: Candidate): Promise<MailboxAnswer> {
    let record: Awaited<ReturnType<Directory['lookup']>>;
    try {
      record = await this.directory.lookup(`${c.local}@${c.domain}`);
    } catch (err) {
      throw new Error(`directory lookup failed: ${(err as Error).message}`, { cause: err });
    }
    if (record === null) return { exists: false };
    if (record) return this.fromRecord(c, record);
    // The mailbox lives under maildir_root, so its name must be one a Maildir can have.
    if (mailboxNameProblem(c.local, c.domain)) return { exists: false };
    if (this.settings.createMailboxes) return { exists: true };
    const path = mailboxPath(this.settings.maildirRoot, c.local, c.domain);
    try {
      await stat(path);
      return { exists: true };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Only "not there" means no; EACCES or EIO say nothing about the user.
      if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false };
      throw new Error(`mailbox lookup failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
