/*
 * Local delivery of one message: each local recipient is resolved by the same
 * code as RCPT (local-recipients.ts: directory, aliases, extensions) to its
 * Maildirs and forwards, and every Maildir gets one copy, however many
 * recipients lead to it. The copy's file name comes from the queue id, so an
 * attempt repeated after a crash or a deferral finds the copy and writes no
 * second one; forwards already queued are not queued again. Every error,
 * foreseen or not, stays with its recipient: it defers or fails that one and
 * never aborts the attempt for the others.
 * Does not: schedule, retry, or write the delivery state (the scheduler does).
 */
import { createEnvelope, type DeliveryOutcome, deliveryReply, type Envelope, replyLine } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import type { LocalRecipients, ResolvedTarget } from './local-recipients.js';
import { copyName, deliverToMaildir, MaildirError, maildirUsage } from './maildir.js';
import { disabledTarget, recipientResult, type TargetResult, unknownTarget } from './recipient-rules.js';
import { recipientKey } from './recipients.js';
import { deliveredStream } from './stored-message.js';

export interface LocalDeliverySettings {
  /** The domain of a recipient without one, and the host in copy names. */
  readonly hostname: string;
}

export interface LocalDeliveryDeps {
  readonly queue: Pick<MessageQueue, 'readMessage' | 'createSpool'>;
  readonly recipients: LocalRecipients;
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

/** A local recipient's outcome; `targets` holds the reply of each target when it has more than one (for the log). */
export type LocalOutcome = DeliveryOutcome & { readonly targets?: readonly string[] };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class LocalDelivery {
  constructor(
    private readonly settings: LocalDeliverySettings,
    private readonly deps: LocalDeliveryDeps,
  ) {}

  /** Delivers to one recipient; resolves with its outcome, never rejects. Replies are our own: no host. */
  async deliver(run: LocalRun, recipient: string): Promise<LocalOutcome> {
    try {
      return { recipient, ...(await this.deliverRecipient(run, recipient)) };
    } catch (err) {
      // Not foreseen (a plugin, the file system, a bug): this recipient waits for the next attempt.
      return { recipient, result: 'deferred', reply: deliveryReply(451, '4.3.0', `local delivery failed: ${errorText(err)}`) };
    }
  }

  private async deliverRecipient(run: LocalRun, recipient: string): Promise<Omit<LocalOutcome, 'recipient'>> {
    const at = recipient.lastIndexOf('@');
    const domain = at < 0 ? this.settings.hostname : recipient.slice(at + 1).toLowerCase();
    let targets: ResolvedTarget[];
    try {
      // The recipient's own domain counts as local even outside local_domains: a route hook
      // sent it here, and reading it as remote would forward it back into the queue forever.
      targets = await this.deps.recipients.resolve(at < 0 ? `${recipient}@${domain}` : recipient, domain);
    } catch (err) {
      // A directory or mail store that cannot answer says nothing about the user: wait, never bounce.
      return { result: 'deferred', reply: deliveryReply(451, '4.3.0', errorText(err)) };
    }

    const results: TargetResult[] = [];
    for (const target of targets) {
      try {
        results.push(await this.deliverTarget(run, target));
      } catch (err) {
        results.push({ result: 'deferred', reply: deliveryReply(451, '4.3.0', `${describeTarget(target)}: ${errorText(err)}`) });
      }
    }
    const outcome = recipientResult(results);
    return results.length > 1 ? { ...outcome, targets: results.map((r) => replyLine(r.reply)) } : outcome;
  }

  private async deliverTarget(run: LocalRun, target: ResolvedTarget): Promise<TargetResult> {
    if (target.kind === 'unknown') return unknownTarget(target.address);
    if (target.kind === 'disabled') return disabledTarget(target.address);
    if (target.kind === 'loop')
      return { result: 'failed', reply: deliveryReply(554, '5.4.6', `<${target.address}>: alias loop or too deep`) };
    if (target.kind === 'forward') {
      // A forward is a new message in the queue, so it gets its own retries and bounces.
      const key = recipientKey(target.address);
      if (run.forwarded.has(key))
        return { result: 'delivered', reply: deliveryReply(250, '2.1.5', `already forwarded to <${target.address}>`) };
      await this.forward(run, target.address);
      run.forwarded.add(key);
      return { result: 'delivered', reply: deliveryReply(250, '2.1.5', `forwarded to <${target.address}>`) };
    }

    const mailbox = `${target.local}@${target.domain}`;
    const { maildir } = target;
    // One copy per Maildir (Postfix suppresses duplicates the same way): a second recipient
    // leading here, an alias and its target both listed, two aliases to one user.
    const earlier = run.copies.get(maildir);
    if (earlier !== undefined)
      return { result: 'delivered', reply: deliveryReply(250, '2.0.0', `${mailbox}: the copy in ${earlier} serves`) };
    const name = copyName(run.queueId, new Date(run.envelope.received), this.settings.hostname);
    try {
      if (target.quota) {
        const over = await overQuota(maildir, name, target.quota, run.envelope.size);
        if (over) return { result: 'deferred', reply: deliveryReply(452, '4.2.2', `${mailbox}: ${over}`) };
      }
      const { file, existed } = await deliverToMaildir({
        maildir,
        prepend: `Return-Path: <${run.envelope.sender}>\r\nDelivered-To: ${mailbox}\r\n`,
        message: () => deliveredStream(this.deps.queue, run.envelope),
        hostname: this.settings.hostname,
        name,
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
 * Why a message of `size` octets does not fit under `quota`, or undefined. Over
 * quota defers (4.2.2, RFC 3463: "mailbox full", a condition the user can end
 * by deleting mail) rather than bouncing at once as Postfix's virtual(8) does:
 * the mail waits up to queue_lifetime and bounces then. A copy already there
 * (an attempt repeated after a crash) is never held back.
 */
async function overQuota(maildir: string, name: string, quota: number, size: number): Promise<string | undefined> {
  const usage = await maildirUsage(maildir, name);
  if (usage.hasCopy || usage.octets + size <= quota) return undefined;
  return `mailbox full: ${usage.octets} of ${quota} octets used, the message has ${size}`;
}

function describeTarget(target: ResolvedTarget): string {
  return target.kind === 'mailbox' ? `${target.local}@${target.domain}` : target.address;
}
