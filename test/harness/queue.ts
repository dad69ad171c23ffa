/*
 * Reads the gateway's file queue from tests, independently of the gateway's
 * code: committed ids, envelopes (the JSON before the fixed footer), and
 * message bytes with the gateway's own Received header split off, in the
 * hashed layout (messages/<last character of the id>/) and in the flat one of
 * earlier versions. Writes an entry the flat way, as an earlier version left it,
 * for mail that reached the queue without an SMTP session.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface QueuedMessage {
  readonly envelope: {
    id: string;
    sender: string;
    recipients: { address: string }[];
    size: number;
    addedHeaders: { name: string; value: string }[];
    [k: string]: unknown;
  };
  /** The stored message bytes (without the envelope). */
  readonly raw: Buffer;
  /** The Received header the gateway prepended. */
  readonly received: string;
  /** What the client sent (after dot-unstuffing). */
  readonly content: Buffer;
}

export function queuedIds(queueDir: string): string[] {
  const dir = join(queueDir, 'messages');
  if (!existsSync(dir)) return [];
  const ids: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const names = entry.isDirectory() ? readdirSync(join(dir, entry.name)) : [entry.name];
    for (const n of names) if (n.endsWith('.msg')) ids.push(n.slice(0, -4));
  }
  return ids;
}

/** The file of a queued entry: in its bucket, or flat as an earlier version kept it. */
export function queuedFile(queueDir: string, id: string): string {
  const hashed = join(queueDir, 'messages', id.slice(-1), `${id}.msg`);
  return existsSync(hashed) ? hashed : join(queueDir, 'messages', `${id}.msg`);
}

/** The delivery state file of a queued entry, either layout. */
export function stateFile(queueDir: string, id: string): string {
  const hashed = join(queueDir, 'state', id.slice(-1), `${id}.json`);
  return existsSync(hashed) ? hashed : join(queueDir, 'state', `${id}.json`);
}

export function readQueued(queueDir: string, id: string): QueuedMessage {
  const file = readFileSync(queuedFile(queueDir, id));
  const footer = /\n%qgate-envelope (\d{16}) (\d{10})\n$/.exec(file.subarray(-45).toString('latin1'));
  if (!footer) throw new Error(`entry ${id} has no envelope footer`);
  const messageLength = Number(footer[1]);
  const raw = file.subarray(0, messageLength);
  const envelope = JSON.parse(
    file.subarray(messageLength, messageLength + Number(footer[2])).toString('utf8'),
  ) as QueuedMessage['envelope'];
  // The Received field: its first line plus continuation lines (starting with white space).
  let end = raw.indexOf('\r\n') + 2;
  while (raw[end] === 0x20 || raw[end] === 0x09) end = raw.indexOf('\r\n', end) + 2;
  return { envelope, raw, received: raw.subarray(0, end).toString('latin1'), content: raw.subarray(end) };
}

export function tmpFiles(queueDir: string): string[] {
  const dir = join(queueDir, 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * Puts a committed entry into messages/ as the gateway would (message, envelope JSON, footer),
 * for a gateway that is not running: mail queued by an earlier version, a forward, a hand edit.
 */
export function writeQueued(
  queueDir: string,
  entry: { id: string; sender: string; recipients: string[]; received?: Date },
  message: string,
): void {
  const raw = Buffer.from(message);
  const envelope = Buffer.from(
    JSON.stringify({
      version: 1,
      id: entry.id,
      received: (entry.received ?? new Date()).toISOString(),
      sender: entry.sender,
      senderParameters: {},
      recipients: entry.recipients.map((address) => ({ address, parameters: {} })),
      size: raw.length,
      utf8: false,
      body: '7BIT',
      client: { address: '127.0.0.1', port: 0, helo: 'client.test' },
      listener: 'test',
      addedHeaders: [],
    }),
  );
  const footer = `\n%qgate-envelope ${String(raw.length).padStart(16, '0')} ${String(envelope.length).padStart(10, '0')}\n`;
  mkdirSync(join(queueDir, 'messages'), { recursive: true });
  writeFileSync(join(queueDir, 'messages', `${entry.id}.msg`), Buffer.concat([raw, envelope, Buffer.from(footer)]));
}
