/*
 * Reads the gateway's file queue from tests: committed ids, envelopes, and
 * message bytes with the gateway's own Received header split off.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
  /** The stored bytes. */
  readonly raw: Buffer;
  /** The Received header the gateway prepended. */
  readonly received: string;
  /** What the client sent (after dot-unstuffing). */
  readonly content: Buffer;
}

export function queuedIds(queueDir: string): string[] {
  const dir = join(queueDir, 'messages');
  if (!existsSync(dir)) return [];
  const names = new Set(readdirSync(dir));
  return [...names].filter((n) => n.endsWith('.env') && names.has(n.replace(/\.env$/, '.eml'))).map((n) => n.slice(0, -4));
}

export function readQueued(queueDir: string, id: string): QueuedMessage {
  const raw = readFileSync(join(queueDir, 'messages', `${id}.eml`));
  const envelope = JSON.parse(readFileSync(join(queueDir, 'messages', `${id}.env`), 'utf8')) as QueuedMessage['envelope'];
  // The Received field: its first line plus continuation lines (starting with white space).
  let end = raw.indexOf('\r\n') + 2;
  while (raw[end] === 0x20 || raw[end] === 0x09) end = raw.indexOf('\r\n', end) + 2;
  return { envelope, raw, received: raw.subarray(0, end).toString('latin1'), content: raw.subarray(end) };
}

export function tmpFiles(queueDir: string): string[] {
  const dir = join(queueDir, 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}
