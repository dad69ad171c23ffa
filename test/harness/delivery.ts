/*
 * Helpers for the delivery tests: Maildirs read file by file (new/ and cur/,
 * as a mail client sees them), a message sent over a raw SMTP session with
 * its queue id taken from the 250, waiting for a message to finish, and a
 * bounce's per-recipient fields read back with a MIME parser.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import type { Gateway, LogLine } from './gateway.js';
import { openTransaction } from './smtp.js';

/** The files of `<root>/<domain>/<user>/Maildir/<sub>/`, as full paths ([] if there is no such directory). */
export function maildirFiles(root: string, domain: string, user: string, sub: 'new' | 'cur' | 'tmp' = 'new'): string[] {
  const dir = join(root, domain, user, 'Maildir', sub);
  try {
    return readdirSync(dir).map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** How many messages in the Maildir (new/ and cur/) contain `marker`. */
export function copiesOf(root: string, domain: string, user: string, marker: string): number {
  return [...maildirFiles(root, domain, user, 'new'), ...maildirFiles(root, domain, user, 'cur')].filter((f) =>
    readFileSync(f, 'latin1').includes(marker),
  ).length;
}

export function makeMaildir(root: string, domain: string, user: string): void {
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(root, domain, user, 'Maildir', sub), { recursive: true });
}

/** Sends one message over a raw session (every RCPT must get 250); returns its queue id. */
export async function send(gw: Gateway, from: string, to: string[], body = 'Subject: test\r\n\r\nhello\r\n'): Promise<string> {
  const smtp = await openTransaction(gw.port, from, to[0]);
  for (const rcpt of to.slice(1)) assert.equal((await smtp.command(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(`${body}.\r\n`);
  const reply = await smtp.reply();
  smtp.close();
  const m = /queued as (\w+)/.exec(reply.text);
  assert.ok(m, reply.text);
  return m[1]!;
}

export function waitDone(gw: Gateway, id: string, timeoutMs = 20_000): Promise<LogLine> {
  return gw.waitForLog((l) => l.event === 'done' && l.queueId === id, timeoutMs);
}

export function deliveryLines(gw: Gateway, id: string, recipient?: string): LogLine[] {
  return gw.logs.filter(
    (l) => l.event === 'delivery' && l.queueId === id && (recipient === undefined || l.recipient === recipient),
  );
}

/** A delivery status notification as a mail client reads it. */
export interface DeliveryReport {
  readonly contentType: string;
  /** One entry per recipient (RFC 3464 2.3): field name as written -> value, folded lines joined. */
  readonly recipients: Record<string, string>[];
}

/**
 * Parses a bounce with mailparser: the top-level type, and the per-recipient
 * field groups of its message/delivery-status part (mailparser hands that part
 * on as text, after the human-readable one).
 */
export async function deliveryReport(raw: Buffer): Promise<DeliveryReport> {
  const parsed = await simpleParser(raw);
  const contentType = (parsed.headers.get('content-type') as { value: string } | undefined)?.value ?? '';
  const recipients = (parsed.text ?? '')
    .split(/\r?\n\r?\n/)
    .map((group) => group.replace(/\r?\n[ \t]+/g, ' '))
    .filter((group) => /^Final-Recipient:/m.test(group))
    .map((group) =>
      Object.fromEntries(
        group
          .split(/\r?\n/)
          .map((line) => /^([A-Za-z-]+):\s*(.*)$/.exec(line))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => [m[1]!, m[2]!]),
      ),
    );
  return { contentType, recipients };
}
