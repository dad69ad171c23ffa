/*
 * One POP3 session's view of a Maildir: the messages of new/ (moved to cur/
 * on first access, with their CRLF size cached in the name, ",W=") and cur/,
 * numbered 1..n in delivery order, with stable UIDs. Deletions are only marked
 * until commit() (QUIT, RFC 1939 6), which unlinks them and fsyncs cur/. Every
 * step is one rename or unlink, so a crash at any instant loses no message;
 * a message deleted outside the session is skipped, never an error.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory } from '../fs/sync-directory.js';
import { compareNames, nameWithSize, parseMaildirName, uidOf } from './maildir-names.js';
import { CrlfSizeCounter } from './text-encoder.js';

export interface Pop3Message {
  /** 1-based, fixed for the session (RFC 1939 5). */
  readonly number: number;
  readonly uid: string;
  /** Octets in CRLF form. */
  readonly size: number;
  readonly path: string;
  deleted: boolean;
}

/** Creates the Maildir (mode 0700) if it is missing: a user with no mail yet has an empty maildrop. */
export async function ensureMaildir(maildir: string): Promise<void> {
  for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });
}

async function crlfSize(path: string): Promise<number> {
  const counter = new CrlfSizeCounter();
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) counter.push(chunk as Buffer);
  return counter.size;
}

function isGone(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Where a name of new/ or cur/ goes in cur/ with its size cached; undefined if it vanished meanwhile. */
async function settle(maildir: string, sub: 'new' | 'cur', name: string): Promise<{ name: string; size: number } | undefined> {
  const parsed = parseMaildirName(name);
  if (sub === 'cur' && parsed.crlfSize !== undefined) return { name, size: parsed.crlfSize };
  const from = join(maildir, sub, name);
  try {
    const size = parsed.crlfSize ?? (await crlfSize(from));
    const settled = nameWithSize(parsed, size);
    await rename(from, join(maildir, 'cur', settled));
    return { name: settled, size };
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

/** Reads the maildrop: moves new/ to cur/, computes missing sizes once, numbers the messages. */
export async function openMaildrop(maildir: string): Promise<Pop3Message[]> {
  await ensureMaildir(maildir);
  const found: { name: string; size: number }[] = [];
  for (const sub of ['new', 'cur'] as const) {
    for (const name of await readdir(join(maildir, sub))) {
      // Dot files are not messages (the spec: readers skip them); neither are names a client left broken.
      if (name.startsWith('.')) continue;
      const one = await settle(maildir, sub, name);
      if (one) found.push(one);
    }
  }
  if (found.length) await syncDirectory(join(maildir, 'cur'));
  found.sort((a, b) => compareNames(a.name, b.name));
  const seen = new Set<string>();
  const messages: Pop3Message[] = [];
  for (const { name, size } of found) {
    const uid = uidOf(parseMaildirName(name).base);
    // Two files with one unique part (a copy a client made): one UID must name one message.
    if (seen.has(uid)) continue;
    seen.add(uid);
    messages.push({ number: messages.length + 1, uid, size, path: join(maildir, 'cur', name), deleted: false });
  }
  return messages;
}

/**
 * The UPDATE state (RFC 1939 6): removes the messages marked deleted. Returns how many
 * could not be removed (an I/O error); one already gone counts as removed.
 */
export async function commitDeletions(maildir: string, messages: readonly Pop3Message[]): Promise<number> {
  let failed = 0;
  let removed = 0;
  for (const m of messages) {
    if (!m.deleted) continue;
    try {
      await unlink(m.path);
      removed++;
    } catch (err) {
      if (!isGone(err)) failed++;
    }
  }
  if (removed) await syncDirectory(join(maildir, 'cur'));
  return failed;
}
