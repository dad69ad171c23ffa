/*
 * Bounces: for the recipients of a message that failed for good, an RFC 3464
 * report (dsn.ts) to the envelope sender, queued like any message, with the
 * original as it was delivered. A bounce that cannot be delivered goes once to
 * the double-bounce address, if set; nothing ever bounces to the null sender
 * (RFC 5321 6.1). The bounce hook may keep a bounce from being sent.
 * Does not: decide which recipients failed, or mark them bounced (the
 * scheduler does, once this resolves).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Hooks } from '../hooks/hooks.js';
import { recording } from '../hooks/record.js';
import type { BounceNotice } from '../hooks/types.js';
import { deliveredMessage } from '../message/delivered.js';
import { createEnvelope, deliveryReply, type Envelope, type RecipientState, replyLine } from '../model/index.js';
import type { MessageQueue } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import { type DsnRecipient, renderDsn } from './dsn.js';

export interface BounceSettings {
  readonly hostname: string;
  /** qmail's doublebounceto: where a bounce that cannot be delivered goes, once. */
  readonly doubleBounce: string | undefined;
  /** qmail's bouncemaxbytes: how much of the original a bounce returns. */
  readonly bounceMaxBytes: number;
}

export interface BounceDeps {
  readonly queue: Pick<MessageQueue, 'readMessage' | 'createSpool'>;
  readonly hooks: Pick<Hooks, 'bounce'>;
  readonly log: Logger;
  readonly now: () => number;
}

/**
 * Who is told that `env` failed: its sender; for a bounce (null sender), the
 * double-bounce address unless it is a double bounce already; else nobody.
 */
export function notifyWhom(
  env: Pick<Envelope, 'sender' | 'doubleBounce'>,
  doubleBounce: string | undefined,
): { readonly to: string; readonly double: boolean } | undefined {
  if (env.sender !== '') return { to: env.sender, double: false };
  if (!env.doubleBounce && doubleBounce) return { to: doubleBounce, double: true };
  return undefined;
}

export class Bouncer {
  constructor(
    private readonly settings: BounceSettings,
    private readonly deps: BounceDeps,
  ) {}

  /** Queues the bounce of `failed` (or logs why none is sent); resolves once it is committed. */
  async bounce(env: Envelope, failed: readonly RecipientState[]): Promise<void> {
    const { queue, log } = this.deps;
    const { hostname } = this.settings;
    const id = env.id;
    const whom = notifyWhom(env, this.settings.doubleBounce);
    if (!whom) {
      // RFC 5321 6.1: never bounce a bounce back; a double bounce is dropped after this log line.
      log.warn(
        { event: 'bounce', queueId: id, result: 'dropped', recipients: failed.map((r) => r.address) },
        'undeliverable bounce dropped',
      );
      return;
    }
    const { to, double } = whom;
    const { subject: notice, decisions } = recording<BounceNotice>({
      queueId: id,
      to,
      recipients: failed.map((r) => ({ address: r.address, reply: r.reply ? replyLine(r.reply) : '' })),
      double,
    });
    const verdict = await this.deps.hooks.bounce.promise(notice).catch(() => undefined);
    // A plugin that failed (logged by its guard) does not suppress the bounce: the sender would never learn.
    const failure = decisions.some((d) => d.action === 'error');
    const record = decisions.length ? { decisions } : {};
    if (verdict && !failure && (verdict.action === 'reject' || verdict.action === 'disconnect')) {
      log.info(
        { event: 'bounce', queueId: id, result: 'suppressed', reason: verdict.reason, ...record },
        'bounce suppressed by a plugin',
      );
      return;
    }
    // The original as it was delivered (with the fields plugins added); an entry gone missing returns nothing.
    const stored = queue.readMessage(id);
    const max = this.settings.bounceMaxBytes + 1;
    const original = stored
      ? await readPrefix(deliveredMessage(stored, env.addedHeaders, env.removedHeaders), max)
      : Buffer.alloc(0);
    const recipients: DsnRecipient[] = failed.map((r) => ({
      recipient: r.address,
      action: 'failed',
      // Every failure has its reply; a state edited by hand may not.
      reply: r.reply ?? deliveryReply(550, '5.0.0', 'delivery failed'),
      ...(r.lastAttempt ? { lastAttempt: new Date(r.lastAttempt) } : {}),
    }));
    const now = new Date(this.deps.now());
    const bounceId = newQueueId();
    const dsn = renderDsn({
      reportingMta: hostname,
      from: `MAILER-DAEMON@${hostname}`,
      to,
      queueId: id,
      arrivalDate: new Date(env.received),
      date: now,
      messageId: `<${bounceId}@${hostname}>`,
      boundary: `${bounceId}.${randomBytes(6).toString('hex')}/${hostname}`,
      recipients,
      original,
      maxBytes: this.settings.bounceMaxBytes,
    });
    const spool = queue.createSpool(bounceId);
    try {
      // A notification is small (bounce_max_bytes of the original at most): one write.
      spool.write(dsn);
      await spool.commit(
        createEnvelope({
          id: bounceId,
          received: now,
          sender: '',
          recipients: [to],
          size: spool.size,
          client: { address: '127.0.0.1', port: 0, helo: hostname },
          listener: 'bounce',
          bounceOf: id,
          doubleBounce: double,
        }),
      );
    } catch (err) {
      await spool.discard();
      throw err;
    }
    log.info(
      { event: 'bounce', queueId: id, bounceId, to, recipients: failed.map((r) => r.address), double, ...record },
      'bounce queued',
    );
  }
}

/** The first `max` octets of a stream, which is then closed. */
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
