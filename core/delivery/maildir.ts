/*
 * Delivery of one message into a Maildir (https://cr.yp.to/proto/maildir.html).
 * Guarantees: the file is written in tmp/, fsynced, linked into new/, and new/
 * is fsynced before the promise resolves; a reader never sees a partial file in
 * new/, and a failure leaves nothing behind in tmp/ or new/. Given the name of
 * the copy, delivery is idempotent: a copy already in new/ (or, when asked, in
 * cur/, where a mail client moves what it has seen) is not written again.
 * Does not: set flags, enforce quotas, or decide who the recipient is.
 */
import { type FileHandle, link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { syncDirectory } from '../fs/sync-directory.js';

export interface MaildirDelivery {
  /** The Maildir directory (contains tmp/ new/ cur/; created with mode 0700 if missing, parents too). */
  readonly maildir: string;
  /** Header lines to put before the message (e.g. "Return-Path: <a@b>\r\nDelivered-To: c@d\r\n"), CRLF. */
  readonly prepend: string;
  /** A fresh stream of the stored message (CRLF line ends). */
  readonly message: () => NodeJS.ReadableStream | Readable;
  /** For the unique name. */
  readonly hostname: string;
  /** Maildir files are conventionally LF; default 'lf' (CRLF->LF while streaming, also in `prepend`). */
  readonly lineEnding?: 'crlf' | 'lf';
  /**
   * The name of this copy (see copyName): the same copy delivered again finds itself and
   * writes nothing. Without it, every delivery gets a fresh unique name.
   */
  readonly name?: string;
  /**
   * With `name`: also look for the copy in cur/. Costs a read of cur/, which grows with the
   * mailbox, so the caller asks only when an earlier attempt may have delivered it.
   */
  readonly lookInCur?: boolean;
}

export interface MaildirResult {
  /** The file in new/ (or cur/, for a copy found there). */
  readonly file: string;
  readonly size: number;
  /** The copy was there already (written by an earlier attempt); nothing was written. */
  readonly existed: boolean;
}

/*
 * Which failures are permanent. qmail-local defers (4.x) on every Maildir error,
 * and we follow it for anything an operator or the passage of time can fix while
 * the message waits in the queue: full disk or quota, I/O errors, descriptor
 * exhaustion, and also EACCES/EPERM (ownership is routinely repaired, and a bounce
 * cannot be taken back). Permanent are only the errors that say the mailbox path
 * itself is malformed: a component is a file (ENOTDIR, or EEXIST from mkdir), a
 * symlink loop, a name too long. Those never heal on retry, so bouncing now tells
 * the sender days earlier than the queue lifetime would.
 */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

export class MaildirError extends Error {
  readonly temporary: boolean;

  constructor(message: string, temporary: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MaildirError';
    this.temporary = temporary;
  }
}

/** "<sec>.M<usec>P<pid>Q<seq>.<host>", the host with "/" and ":" escaped as the Maildir spec asks. */
export function uniqueName(now: Date, hostname: string, sequence: number, pid: number = process.pid): string {
  const ms = now.getTime();
  const seconds = Math.floor(ms / 1000);
  const micros = (ms - seconds * 1000) * 1000; // Date has millisecond resolution only
  return `${seconds}.M${micros}P${pid}Q${sequence}.${escapeHost(hostname)}`;
}

/**
 * The name of the copy of queue entry `queueId` in a Maildir: "<sec>.<queue id>.<host>",
 * the seconds of its arrival first, as mail clients sort by them. The queue id is unique
 * per gateway (milliseconds, a counter and random letters) and the host tells gateways
 * sharing a mail store apart, so the name is unique per message and stable across
 * attempts and restarts. One queue entry puts at most one copy into a Maildir (duplicates
 * are removed before delivery), so no per-copy index is needed.
 */
export function copyName(queueId: string, received: Date, hostname: string): string {
  return `${Math.floor(received.getTime() / 1000)}.${queueId}.${escapeHost(hostname)}`;
}

function escapeHost(hostname: string): string {
  return hostname.replaceAll('/', '\\057').replaceAll(':', '\\072');
}

/** Deliveries made by this process: the Q part of the name, unique even within one millisecond. */
let deliveries = 0;
/** A name already taken in tmp/ (a stale file, a clashing host) is retried under a fresh sequence number. */
const NAME_ATTEMPTS = 3;

const CR = 0x0d;
const CRLF = Buffer.from('\r\n');

/** CRLF -> LF over a chunked stream; a CR at the end of a chunk waits for the next one. */
class CrlfToLf {
  private heldCr = false;

  push(chunk: Buffer): Buffer {
    let buf = this.heldCr ? Buffer.concat([Buffer.of(CR), chunk]) : chunk;
    this.heldCr = buf.length > 0 && buf[buf.length - 1] === CR;
    if (this.heldCr) buf = buf.subarray(0, buf.length - 1);
    return stripCrBeforeLf(buf);
  }

  /** A CR at the very end is not part of a line ending; keep it. */
  end(): Buffer {
    return this.heldCr ? Buffer.of(CR) : Buffer.alloc(0);
  }
}

function stripCrBeforeLf(buf: Buffer): Buffer {
  let at = buf.indexOf(CRLF);
  if (at === -1) return buf;
  const parts: Buffer[] = [];
  let from = 0;
  while (at !== -1) {
    parts.push(buf.subarray(from, at));
    from = at + 1; // keep the LF
    at = buf.indexOf(CRLF, from);
  }
  parts.push(buf.subarray(from));
  return Buffer.concat(parts);
}

/** prepend + message, converted as one stream so a CR/LF pair split between them is still seen. */
async function* maildirContent(d: MaildirDelivery, written: { bytes: number }): AsyncGenerator<Buffer> {
  const convert = (d.lineEnding ?? 'lf') === 'lf' ? new CrlfToLf() : undefined;
  const out = (chunk: Buffer): Buffer => {
    const converted = convert ? convert.push(chunk) : chunk;
    written.bytes += converted.length;
    return converted;
  };
  const head = out(Buffer.from(d.prepend));
  if (head.length > 0) yield head;
  for await (const chunk of d.message()) {
    // A stream with an encoding set yields strings; UTF-8 is what such a stream decoded.
    const converted = out(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (converted.length > 0) yield converted;
  }
  const tail = convert?.end();
  if (tail && tail.length > 0) {
    written.bytes += tail.length;
    yield tail;
  }
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

function failure(err: unknown, doing: string): MaildirError {
  if (err instanceof MaildirError) return err;
  const code = errnoCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  return new MaildirError(`${doing}: ${detail}`, code === undefined || !PERMANENT_CODES.has(code), { cause: err });
}

async function ensureMaildir(maildir: string): Promise<void> {
  for (const dir of [maildir, join(maildir, 'tmp'), join(maildir, 'new'), join(maildir, 'cur')]) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      // recursive mkdir reports EEXIST only when the path exists and is not a directory.
      if (errnoCode(err) === 'EEXIST') throw new MaildirError(`${dir} exists and is not a directory`, false, { cause: err });
      throw failure(err, `cannot create ${dir}`);
    }
  }
}

async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

/** Opens a fresh file in tmp/; only a file this returns is ever removed on failure. */
async function createInTmp(d: MaildirDelivery): Promise<{ name: string; tmpPath: string; handle: FileHandle }> {
  if (d.name !== undefined) {
    const tmpPath = join(d.maildir, 'tmp', d.name);
    // A file of this name in tmp/ is what an attempt that crashed left: it never reached new/.
    await removeQuietly(tmpPath);
    try {
      return { name: d.name, tmpPath, handle: await open(tmpPath, 'wx', 0o600) };
    } catch (err) {
      throw failure(err, `cannot create ${tmpPath}`);
    }
  }
  for (let attempt = 1; ; attempt++) {
    const name = uniqueName(new Date(), d.hostname, deliveries++);
    const tmpPath = join(d.maildir, 'tmp', name);
    try {
      return { name, tmpPath, handle: await open(tmpPath, 'wx', 0o600) };
    } catch (err) {
      if (errnoCode(err) === 'EEXIST' && attempt < NAME_ATTEMPTS) continue;
      throw failure(err, `cannot create ${tmpPath}`);
    }
  }
}

/** The copy called `name` if an earlier attempt delivered it: in new/, or (if asked) in cur/ with an info suffix. */
async function findCopy(d: MaildirDelivery, name: string): Promise<string | undefined> {
  const inNew = join(d.maildir, 'new', name);
  try {
    await stat(inNew);
    return inNew;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw failure(err, `cannot look for ${inNew}`);
  }
  if (!d.lookInCur) return undefined;
  let names: string[];
  try {
    names = await readdir(join(d.maildir, 'cur'));
  } catch (err) {
    throw failure(err, `cannot read ${join(d.maildir, 'cur')}`);
  }
  // A client that has seen the message renames it to "<name>:2,<flags>" (the spec's info part);
  // the POP3 server (and Dovecot) to "<name>,W=<size>:2,", caching the size after the name.
  const seen = names.find((n) => n === name || n.startsWith(`${name}:`) || n.startsWith(`${name},`));
  return seen === undefined ? undefined : join(d.maildir, 'cur', seen);
}

/** Errors of link() that mean "this file system has no hard links", not "you may not". */
const NO_HARD_LINKS: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Puts the finished file into new/ under its name, never over another file: link()
 * then unlink(), as qmail and Postfix do, so a copy that is already there stays the
 * only one. Resolves false if the name was taken. Falls back to rename() where the
 * file system has no hard links (nothing else writes this name: one gateway owns
 * the queue and runs one attempt per message at a time).
 */
async function moveIntoNew(tmpPath: string, newPath: string): Promise<boolean> {
  try {
    await link(tmpPath, newPath);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') {
      await removeQuietly(tmpPath);
      return false;
    }
    if (code === undefined || !NO_HARD_LINKS.has(code)) throw err;
    await rename(tmpPath, newPath);
    return true;
  }
  await removeQuietly(tmpPath);
  return true;
}

export async function deliverToMaildir(d: MaildirDelivery): Promise<MaildirResult> {
  await ensureMaildir(d.maildir);
  if (d.name !== undefined) {
    if (!isMaildirName(d.name)) throw new MaildirError(`not a Maildir file name: ${JSON.stringify(d.name)}`, false);
    const copy = await findCopy(d, d.name);
    if (copy !== undefined) return existingCopy(d, copy);
  }
  const { name, tmpPath, handle } = await createInTmp(d);

  const written = { bytes: 0 };
  try {
    // autoClose off: the descriptor must outlive the stream so it can be fsynced.
    const file = handle.createWriteStream({ autoClose: false });
    try {
      await pipeline(maildirContent(d, written), file);
      await handle.sync();
    } finally {
      file.destroy(); // releases the stream's hold on the handle, else close() waits forever
    }
    await handle.close();
  } catch (err) {
    // close() waits for writes still in flight, so the unlink cannot race them.
    await handle.close().catch(() => undefined); // a second close only rejects, harmlessly
    await removeQuietly(tmpPath);
    throw failure(err, `cannot write ${tmpPath}`);
  }

  const newPath = join(d.maildir, 'new', name);
  let moved: boolean;
  try {
    moved = await moveIntoNew(tmpPath, newPath);
  } catch (err) {
    await removeQuietly(tmpPath);
    throw failure(err, `cannot move ${tmpPath} into new/`);
  }
  if (!moved) return existingCopy(d, newPath);
  try {
    await syncDirectory(join(d.maildir, 'new'));
  } catch (err) {
    // Not durable, so not delivered: take it back and let the queue retry, rather
    // than report a delivery a crash could still lose.
    await removeQuietly(newPath);
    throw failure(err, `cannot sync ${join(d.maildir, 'new')}`);
  }
  return { file: newPath, size: written.bytes, existed: false };
}

/** "." and ".." and anything with "/" would leave the Maildir; ":" starts the info part. */
function isMaildirName(name: string): boolean {
  return name !== '' && !name.startsWith('.') && !/[/:\0]/.test(name);
}

/**
 * The copy an earlier attempt made. That attempt may have died between its rename and
 * the fsync of new/, so new/ is synced again before the copy counts as delivered.
 */
async function existingCopy(d: MaildirDelivery, file: string): Promise<MaildirResult> {
  const newDir = join(d.maildir, 'new');
  if (file.startsWith(`${newDir}/`)) {
    try {
      await syncDirectory(newDir);
    } catch (err) {
      throw failure(err, `cannot sync ${newDir}`);
    }
  }
  let size = 0;
  try {
    size = (await stat(file)).size;
  } catch {
    // A mail client moved or removed it meanwhile: it was delivered all the same.
  }
  return { file, size, existed: true };
}

/** How full a Maildir is, for a quota: the octets in new/ and cur/, and whether the copy `name` is there. */
export interface MaildirUsage {
  readonly octets: number;
  readonly hasCopy: boolean;
}

/**
 * Sums the sizes of the messages in new/ and cur/ with one stat per file. Cost is
 * linear in the mailbox's files, paid only for users with a quota. Maildir++'s
 * maildirsize file would make it constant, but every mail client that deletes
 * mail would have to keep it right; Dovecot recomputes it this way when it is not.
 * A Maildir not created yet holds nothing.
 */
export async function maildirUsage(maildir: string, name: string): Promise<MaildirUsage> {
  let octets = 0;
  let hasCopy = false;
  for (const sub of ['new', 'cur']) {
    const dir = join(maildir, sub);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw failure(err, `cannot read ${dir}`);
    }
    for (const n of names) {
      if (n === name || n.startsWith(`${name}:`)) hasCopy = true;
      try {
        octets += (await stat(join(dir, n))).size;
      } catch (err) {
        // Moved from new/ to cur/ or deleted by a mail client meanwhile.
        if (errnoCode(err) !== 'ENOENT') throw failure(err, `cannot stat ${join(dir, n)}`);
      }
    }
  }
  return { octets, hasCopy };
}
