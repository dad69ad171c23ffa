/*
 * Text views of the queue for the CLI: list (qmail-qread), stat (qmail-qstat)
 * and show (envelope plus header section).
 */
import type { Readable } from 'node:stream';
import type { ActionOutcome } from '../admin/queue-actions.js';
import { type DeliveryState, type Envelope, type RecipientState, replyLine } from '../model/index.js';
import type { QueueStats, QueueSummary } from '../queue/queue.js';

/** "pending, 2 attempts, next 2026-11-23T12:00:00Z, last: 451 4.7.1 try later (mx.example.net)" */
export function describeRecipient(r: RecipientState): string {
  const parts: string[] = [r.status, `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`];
  if (r.status === 'pending' && r.nextAttempt) parts.push(`next ${r.nextAttempt}`);
  // The host that gave the reply, as in a DSN's Remote-MTA; a diagnosis of our own names none.
  if (r.reply) parts.push(`last: ${replyLine(r.reply)}${r.reply.host ? ` (${r.reply.host})` : ''}`);
  return parts.join(', ');
}

export function formatList(entries: readonly QueueSummary[], json: boolean): string {
  // One document, [] when empty: what `jq` and any JSON parser read in one go.
  if (json) return `${JSON.stringify(entries)}\n`;
  if (!entries.length) return 'queue is empty\n';
  return entries
    .map((e) => {
      const head = `${e.id}  ${e.received}  ${e.size} octets  from <${e.sender}>`;
      return [head, ...e.recipients.map((rc) => `    to <${rc.address}>  ${describeRecipient(rc)}`)].join('\n');
    })
    .join('\n')
    .concat('\n');
}

/** `qgate quarantine list`: one line per held message with its reason, then its recipients. */
export function formatQuarantine(entries: readonly Envelope[], json: boolean): string {
  const rows = entries.map((e) => ({
    id: e.id,
    received: e.received,
    size: e.size,
    sender: e.sender,
    recipients: e.recipients.map((r) => r.address),
    reason: e.quarantine?.reason ?? '',
  }));
  if (json) return `${JSON.stringify(rows)}\n`;
  if (!rows.length) return 'quarantine is empty\n';
  return rows
    .map((e) =>
      [
        `${e.id}  ${e.received}  ${e.size} octets  from <${e.sender}>  ${e.reason}`,
        ...e.recipients.map((r) => `    to <${r}>`),
      ].join('\n'),
    )
    .join('\n')
    .concat('\n');
}

export function formatStat(s: QueueStats): string {
  return [`messages in queue: ${s.messages}`, `bytes in queue: ${s.bytes}`, `oldest message: ${s.oldest ?? '-'}`]
    .join('\n')
    .concat('\n');
}

export async function formatEnvelope(
  env: Envelope,
  state: DeliveryState | undefined,
  message: Readable,
  withBody: boolean,
): Promise<string> {
  const lines = [
    `id: ${env.id}`,
    `received: ${env.received}`,
    `listener: ${env.listener}`,
    `client: ${env.client.address}:${env.client.port} (helo ${env.client.helo ?? '-'})`,
    ...(env.authenticatedUser ? [`authenticated: ${env.authenticatedUser}`] : []),
    ...(env.tls ? [`tls: ${env.tls.protocol} ${env.tls.cipher}`] : []),
    `size: ${env.size}`,
    `body: ${env.body}${env.utf8 ? ', SMTPUTF8' : ''}`,
    ...(env.quarantine ? [`quarantined: ${env.quarantine.reason}`] : []),
    `sender: <${env.sender}>`,
    ...env.recipients.map((r) => {
      const rs = state?.recipients.find((x) => x.address === r.address) ?? {
        address: r.address,
        status: 'pending' as const,
        attempts: 0,
      };
      return `recipient: <${r.address}>  ${describeRecipient(rs)}`;
    }),
    ...(env.removedHeaders ?? []).map((name) => `removed header: ${name}`),
    ...env.addedHeaders.map((h) => `added header: ${h.name}: ${h.value}`),
    '',
  ];
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of message) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (!withBody && (total > 256 * 1024 || Buffer.concat(chunks).indexOf('\r\n\r\n') >= 0)) break;
  }
  message.destroy();
  let text = Buffer.concat(chunks).toString('utf8');
  if (!withBody) {
    const end = text.indexOf('\r\n\r\n');
    text = end >= 0 ? text.slice(0, end + 2) : text;
  }
  return `${lines.join('\n')}${text.replace(/\r\n/g, '\n')}`;
}

/**
 * What a queue command did, one line per message:
 * "0MWT707BG0038AI: left the queue" or "...: still queued" with its recipients.
 */
export function formatOutcome(outcome: ActionOutcome, pid: number | undefined): string {
  const by =
    outcome.by === 'scheduler'
      ? `by the gateway (pid ${pid ?? '?'})`
      : pid === undefined
        ? 'on the queue; no gateway is running, so delivery acts on it when one starts'
        : `on the queue by the gateway (pid ${pid}), whose delivery is off`;
  const lines = [`queue ${outcome.action}: ${outcome.count} message${outcome.count === 1 ? '' : 's'}, ${by}`];
  for (const m of outcome.messages) {
    lines.push(`${m.id}: ${m.queued ? 'still queued' : 'left the queue'}`);
    for (const r of m.recipients ?? []) lines.push(`    to <${r.address}>  ${describeRecipient(r)}`);
  }
  const unlisted = outcome.count - outcome.messages.length;
  if (unlisted > 0) lines.push(`... and ${unlisted} more, not listed; qgate queue list shows every message`);
  if (!outcome.done) lines.push('delivery runs were still going when the wait ended; the log tells the rest');
  return `${lines.join('\n')}\n`;
}
