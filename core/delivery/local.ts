/*
 * Local delivery of one message: each local recipient is resolved (directory,
 * aliases, extensions) to its Maildirs and forwards, and every Maildir gets
 * one copy, however many recipients lead to it. The copy's file name comes
 * from the queue id, so an attempt repeated after a crash or a deferral finds
 * the copy and writes no second one; forwards already queued are not queued
 * again. Every error, foreseen or not, stays with its recipient: it defers or
 * fails that one and never aborts the attempt for the others.
 * Does not: schedule, retry, or write the delivery state (the scheduler does).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createEnvelope, type DeliveryOutcome, deliveryReply, type Envelope, replyText } from '../model/index.js';
import type { Directory } from '../pipeline/plugin-context.js';
import type { MessageQueue } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import { type AliasTable, type LocalTarget, mailboxPath, resolveLocal, UnsafeMailboxError } from './local-address.js';
import { copyName, deliverToMaildir, MaildirError } from './maildir.js';
import { recipientKey } from './recipients.js';
import { deliveredStream } from './stored-message.js';

export interface LocalDeliverySettings {
  readonly hostname: string;
  readonly isLocal: (domain: string) => boolean;
  readonly maildirRoot: string;
  readonly createMailboxes: boolean;
  readonly aliases: () => AliasTable;
  readonly delimiters: string;
  readonly postmaster: string;
}

export interface LocalDeliveryDeps {
  readonly queue: Pick<MessageQueue, 'readMessage' | 'createSpool'>;
  readonly users: Directory;
  readonly now: () => number;
}

/** One attempt at the local recipients of one message; recipients are delivered one after another. */
export class LocalRun {
  /** Maildir (absolute path) -> the file of its copy, for every Maildir served in this attempt. */
  readonly copies = new Map<string, string>();

  constructor(
    readonly queueId: string,
    readonly envelope: Envelope,
    /**
     * No earlier attempt can have left a copy (the first attempt at a message this process
     * queued), so cur/ need not be searched for one.
     */
    readonly fresh: boolean,
    /** Keys of forward targets queued for this message, in this attempt or an earlier one. */
    readonly forwarded: Set<string>,
  ) {}
}

/** What delivery to one target (a mailbox, a forward) of a recipient gave. */
export type TargetResult = Pick<DeliveryOutcome, 'result' | 'reply'>;

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class LocalDelivery {
  constructor(
    private readonly settings: LocalDeliverySettings,
    private readonly deps: LocalDeliveryDeps,
  ) {}

  /** Delivers to one recipient; resolves with its outcome, never rejects. Replies are our own: no host. */
  async deliver(run: LocalRun, recipient: string): Promise<DeliveryOutcome> {
    try {
      return { recipient, ...(await this.deliverRecipient(run, recipient)) };
    } catch (err) {
      // Not foreseen (a plugin, the file system, a bug): this recipient waits for the next attempt.
      return { recipient, result: 'deferred', reply: deliveryReply(451, '4.3.0', `local delivery failed: ${errorText(err)}`) };
    }
  }

  private async deliverRecipient(run: LocalRun, recipient: string): Promise<TargetResult> {
    const at = recipient.lastIndexOf('@');
    const domain = at < 0 ? this.settings.hostname : recipient.slice(at + 1).toLowerCase();
    let record: Awaited<ReturnType<Directory['lookup']>>;
    try {
      record = await this.deps.users.lookup(recipient);
    } catch (err) {
      // A directory that is down says nothing about the user: wait, never bounce.
      return { result: 'deferred', reply: deliveryReply(451, '4.3.0', `directory lookup failed: ${errorText(err)}`) };
    }
    const known = new Map<string, boolean>();
    if (record !== undefined) known.set(recipient.toLowerCase(), record !== null);
    // The directory answers asynchronously; it was asked above, and aliases resolve synchronously.
    const userExists = (local: string, d: string): boolean => {
      const answer = known.get(`${local}@${d}`.toLowerCase());
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
      // The recipient's own domain counts as local even outside local_domains: a route hook
      // sent it here, and reading it as remote would forward it back into the queue forever.
      const isLocal = (d: string): boolean => d === domain || this.settings.isLocal(d);
      targets = resolveLocal(at < 0 ? `${recipient}@${domain}` : recipient, isLocal, {
        aliases: this.settings.aliases(),
        delimiters: this.settings.delimiters,
        postmaster: this.settings.postmaster,
        userExists,
      });
    } catch (err) {
      return { result: 'deferred', reply: deliveryReply(451, '4.3.0', `alias resolution failed: ${errorText(err)}`) };
    }

    const results: TargetResult[] = [];
    for (const target of targets) {
      try {
        results.push(await this.deliverTarget(run, recipient, record?.mailbox, target));
      } catch (err) {
        results.push({ result: 'deferred', reply: deliveryReply(451, '4.3.0', `${describeTarget(target)}: ${errorText(err)}`) });
      }
    }
    return combineTargets(results);
  }

  private async deliverTarget(
    run: LocalRun,
    recipient: string,
    directoryMailbox: string | undefined,
    target: LocalTarget,
  ): Promise<TargetResult> {
    if (target.kind === 'unknown') {
      return {
        result: 'failed',
        reply: deliveryReply(
          550,
          '5.1.1',
          `<${target.address}>: Recipient address rejected: User unknown in local recipient table`,
        ),
      };
    }
    if (target.kind === 'loop') {
      return { result: 'failed', reply: deliveryReply(554, '5.4.6', `<${target.address}>: alias loop or too deep`) };
    }
    if (target.kind === 'forward') {
      // A forward is a new message in the queue, so it gets its own retries and bounces.
      const key = recipientKey(target.address);
      if (run.forwarded.has(key)) {
        return { result: 'delivered', reply: deliveryReply(250, '2.1.5', `already forwarded to <${target.address}>`) };
      }
      await this.forward(run, target.address);
      run.forwarded.add(key);
      return { result: 'delivered', reply: deliveryReply(250, '2.1.5', `forwarded to <${target.address}>`) };
    }

    const mailbox = `${target.local}@${target.domain}`;
    let maildir: string;
    if (directoryMailbox && mailbox.toLowerCase() === recipient.toLowerCase()) {
      maildir = resolve(directoryMailbox);
    } else {
      try {
        maildir = mailboxPath(this.settings.maildirRoot, target.local, target.domain);
      } catch (err) {
        // RFC 3463 5.1.3: the address cannot name a mailbox here, now or later.
        if (err instanceof UnsafeMailboxError) {
          return { result: 'failed', reply: deliveryReply(550, '5.1.3', `<${mailbox}>: ${err.message}`) };
        }
        throw err;
      }
    }
    // One copy per Maildir (Postfix suppresses duplicates the same way): a second recipient
    // leading here, an alias and its target both listed, two aliases to one user.
    const earlier = run.copies.get(maildir);
    if (earlier !== undefined) {
      return { result: 'delivered', reply: deliveryReply(250, '2.0.0', `${mailbox}: the copy in ${earlier} serves`) };
    }
    try {
      const { file, existed } = await deliverToMaildir({
        maildir,
        prepend: `Return-Path: <${run.envelope.sender}>\r\nDelivered-To: ${mailbox}\r\n`,
        message: () => deliveredStream(this.deps.queue, run.envelope),
        hostname: this.settings.hostname,
        name: copyName(run.queueId, new Date(run.envelope.received), this.settings.hostname),
        lookInCur: !run.fresh,
      });
      run.copies.set(maildir, file);
      return {
        result: 'delivered',
        reply: deliveryReply(250, '2.0.0', existed ? `already delivered to ${file}` : `delivered to ${file}`),
      };
    } catch (err) {
      const temporary = !(err instanceof MaildirError) || err.temporary;
      return {
        result: temporary ? 'deferred' : 'failed',
        reply: temporary
          ? deliveryReply(451, '4.2.0', `${mailbox}: ${errorText(err)}`)
          : deliveryReply(550, '5.2.0', `${mailbox}: ${errorText(err)}`),
      };
    }
  }

  /** Queues a copy for an alias target outside local delivery. */
  private async forward(run: LocalRun, address: string): Promise<void> {
    const spool = this.deps.queue.createSpool(newQueueId());
    try {
      const source = deliveredStream(this.deps.queue, run.envelope);
      for await (const chunk of source) spool.write(chunk as Buffer);
      // The original's envelope for the new recipient: the added headers are in the copy now.
      await spool.commit(
        createEnvelope({
          ...run.envelope,
          id: spool.id,
          received: new Date(this.deps.now()),
          recipients: [address],
          size: spool.size,
          addedHeaders: [],
        }),
      );
    } catch (err) {
      await spool.discard();
      throw err;
    }
  }
}

/**
 * One recipient's outcome from its targets' (an alias may have several): deferred
 * beats failed beats delivered, since a deferred target is tried again and the
 * targets it shares the recipient with find their copies then. The reply is that
 * of the targets with the deciding result, their texts joined, so a bounce
 * reports the failures and not the mailboxes that got their copy.
 */
export function combineTargets(results: readonly TargetResult[]): TargetResult {
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

function describeTarget(target: LocalTarget): string {
  return target.kind === 'mailbox' ? `${target.local}@${target.domain}` : target.address;
}
