/*
 * The pure half of recipient validation: which local parts can never be a
 * mailbox name, how an address resolves given what is known so far about the
 * mailboxes it may reach (so the I/O side knows what to look up next), the
 * replies RCPT gets (Postfix's wording), and those local delivery gives for
 * what the same resolution found. No directory, no file system, no clock.
 */
import { type AcceptResult, type RejectResult, reject, tempfail } from '../hooks/results.js';
import { type DeliveryOutcome, deliveryReply, replyText } from '../model/index.js';
import { type LocalResolutionOptions, type LocalTarget, mailboxPath, resolveLocal, type UserDetails } from './local-address.js';

/** What is known about one candidate mailbox (a user the resolution asked about). */
export interface MailboxAnswer extends UserDetails {
  readonly exists: boolean;
  /** The Maildir the directory names for it (or that of its canonical address), if it does. */
  readonly maildir?: string;
  /** Its size limit in octets, if the directory gives one. */
  readonly quota?: number;
}

export interface Candidate {
  readonly local: string;
  /** Lower-cased. */
  readonly domain: string;
}

/** Key of a candidate in the answer table: the local part as written (Maildir names are case-sensitive). */
export const candidateKey = (c: Candidate): string => `${c.local}@${c.domain}`;

/**
 * The local part without its quotes and quoted-pair backslashes (RFC 5321
 * 4.1.2): `"a\/b"` names the same mailbox as `a/b` would, so both forms are
 * checked. A dot-atom comes back unchanged.
 */
export function unquoteLocalPart(local: string): string {
  if (local.length < 2 || !local.startsWith('"') || !local.endsWith('"')) return local;
  return local.slice(1, -1).replace(/\\(.)/g, '$1');
}

/**
 * Why `local@domain` can never name a Maildir, or undefined if it can: the
 * rules of mailboxPath (empty, "/", NUL, a leading "." such as "." and ".."),
 * applied to the local part as written and unquoted. Refused at RCPT whether
 * or not create_mailboxes is on: such a name would leave the mail root or
 * name a hidden or special directory.
 */
export function mailboxNameProblem(local: string, domain: string): string | undefined {
  for (const name of new Set([local, unquoteLocalPart(local)])) {
    try {
      mailboxPath('/', name, domain);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

export type ResolutionRules = Omit<LocalResolutionOptions, 'userExists'> & {
  readonly isLocalDomain: (domain: string) => boolean;
};

export interface PartialResolution {
  readonly targets: readonly LocalTarget[];
  /** Candidates the resolution asked about that have no answer yet, in the order it asked. */
  readonly missing: readonly Candidate[];
}

/**
 * resolveLocal with the answers known so far; a candidate without an answer
 * counts as absent and is listed in `missing`. Once `missing` is empty the
 * targets are final: the ones delivery computes from the same answers.
 */
export function resolveWithAnswers(
  address: string,
  answers: ReadonlyMap<string, MailboxAnswer>,
  rules: ResolutionRules,
): PartialResolution {
  const missing = new Map<string, Candidate>();
  const { isLocalDomain, ...options } = rules;
  const targets = resolveLocal(address, isLocalDomain, {
    ...options,
    userExists: (local, domain) => {
      const key = candidateKey({ local, domain });
      const answer = answers.get(key);
      if (answer) return answer.exists;
      if (!missing.has(key)) missing.set(key, { local, domain });
      return false;
    },
    userDetails: (local, domain) => answers.get(candidateKey({ local, domain })),
  });
  return { targets, missing: [...missing.values()] };
}

/** Targets mail can reach: a mailbox, or an address outside local delivery. */
export const deliverable = (t: LocalTarget): boolean => t.kind === 'mailbox' || t.kind === 'forward';

function describeTarget(t: LocalTarget): string {
  if (t.kind === 'mailbox') return `${t.local}@${t.domain}${t.extension !== undefined ? ` (extension ${t.extension})` : ''}`;
  if (t.kind === 'forward') return `forward to ${t.address}`;
  return t.kind === 'disabled' ? `${t.address} (disabled)` : t.address;
}

const MAX_LISTED = 5;

function listTargets(targets: readonly LocalTarget[]): string {
  const shown = targets.slice(0, MAX_LISTED).map(describeTarget).join(', ');
  return targets.length > MAX_LISTED ? `${shown} and ${targets.length - MAX_LISTED} more` : shown;
}

/**
 * The RCPT verdict for an address in a local domain. A deliverable target
 * found with answers still missing stays deliverable once they arrive (an
 * answer can only make an earlier reading of a local part win, and that one
 * exists), so it is accepted at once; "unknown" waits for every answer.
 * undefined: not decided yet, look up `missing` first.
 */
export function localVerdict(address: string, resolution: PartialResolution): AcceptResult | RejectResult | undefined {
  const reachable = resolution.targets.filter(deliverable);
  if (reachable.length) return { action: 'accept', reason: `local recipient: ${listTargets(reachable)}` };
  if (resolution.missing.length) return undefined;
  const loops = resolution.targets.filter((t) => t.kind === 'loop');
  if (loops.length) {
    // Delivery would bounce it with 5.4.6 (RFC 3463: routing loop detected); say so now.
    return reject(
      550,
      '5.4.6',
      `<${address}>: Recipient address rejected: Alias loop`,
      `alias loop or expansion too deep: ${listTargets(loops)}`,
    );
  }
  // A disabled account gets the unknown user's reply: RCPT need not tell a prober it exists.
  const disabled = resolution.targets.some((t) => t.kind === 'disabled');
  return unknownLocalUser(
    address,
    `${disabled ? 'disabled account' : 'no such user'}: ${listTargets(resolution.targets) || address}`,
  );
}

/** Postfix's reply for local_recipient_maps. */
export function unknownLocalUser(address: string, reason: string): RejectResult {
  return reject(550, '5.1.1', `<${address}>: Recipient address rejected: User unknown in local recipient table`, reason);
}

/** Postfix's reply for relay_recipient_maps. */
export function unknownRelayUser(address: string, reason: string): RejectResult {
  return reject(550, '5.1.1', `<${address}>: Recipient address rejected: User unknown in relay recipient table`, reason);
}

/** A local part that cannot be a mailbox name (see mailboxNameProblem). */
export function badMailboxName(address: string, problem: string): RejectResult {
  return reject(553, '5.1.3', `<${address}>: Recipient address rejected: Not a valid mailbox name`, problem);
}

/**
 * The directory (or the mail store) could not answer: never "unknown" and
 * never "accept", the client retries (Postfix: "Temporary lookup failure").
 */
export function lookupFailure(address: string, why: string): RejectResult {
  return tempfail(`<${address}>: Temporary lookup failure`, 451, '4.3.0', `recipient lookup failed: ${why}`);
}

/** What local delivery did for one target of a recipient. */
export type TargetResult = Pick<DeliveryOutcome, 'result' | 'reply'>;

/**
 * Delivery's reply for a target nobody has: 5.1.1, or 5.1.3 (RFC 3463: bad
 * destination mailbox address syntax) when its local part can never name a
 * Maildir, such as an alias to "a/b" or mail queued for "..@" before RCPT
 * refused such names.
 */
export function unknownTarget(address: string): TargetResult {
  const at = address.lastIndexOf('@');
  const problem = mailboxNameProblem(address.slice(0, at), address.slice(at + 1));
  if (problem) return { result: 'failed', reply: deliveryReply(550, '5.1.3', `<${address}>: ${problem}`) };
  return {
    result: 'failed',
    reply: deliveryReply(550, '5.1.1', `<${address}>: Recipient address rejected: User unknown in local recipient table`),
  };
}

/** Delivery's reply for a disabled account (RFC 3463 X.2.1: mailbox disabled, not accepting messages). */
export function disabledTarget(address: string): TargetResult {
  return { result: 'failed', reply: deliveryReply(550, '5.2.1', `<${address}>: Mailbox disabled, not accepting messages`) };
}

/**
 * One recipient's result from its targets' results. Deferred beats failed beats
 * delivered: a deferred target is tried again, and the targets it shares the
 * recipient with find their copies then. The reply is that of the targets that
 * decided it, so the bounce for an alias to [alice, nobody] carries nobody's
 * 5.1.1 rather than alice's 250, and the DSN its status.
 */
export function recipientResult(results: readonly TargetResult[]): TargetResult {
  const result = results.some((r) => r.result === 'deferred')
    ? 'deferred'
    : results.some((r) => r.result === 'failed')
      ? 'failed'
      : 'delivered';
  const deciding = results.filter((r) => r.result === result);
  const first = deciding[0]?.reply ?? deliveryReply(250, '2.0.0', 'no targets');
  if (deciding.length < 2) return { result, reply: first };
  return { result, reply: { ...first, text: deciding.map((r) => replyText(r.reply)).join('; ') } };
}
