/*
 * The file queue. Layout under the queue directory:
 *
 *   tmp/<id>.msg        entry being received (the message streams in as it arrives)
 *   messages/<id>.msg   committed entry: message bytes (Received header + what the
 *                       client sent, CRLF), the envelope as JSON, a fixed footer
 *                       (entry-format.ts)
 *   state/<id>.json     per-recipient delivery state, replaced durably (tmp, fdatasync,
 *                       rename, fsync state/) before the step that depends on it
 *   corrupt/            entries that failed their footer check, set aside
 *   quarantine/<id>.msg committed entries a plugin had held (transaction.quarantine):
 *                       never delivered; released into messages/ or deleted by
 *                       `qgate quarantine`
 *   gateway.lock        flock(2)ed by the gateway that owns the queue, holds its pid
 *                       (lock.ts)
 *
 * Commit: append the envelope and footer, fsync the file, rename it into
 * messages/ (the commit point), fsync messages/ (shared by concurrent commits,
 * see group-sync.ts); only then does commit() resolve and the client get its
 * 250. A crash at any instant leaves tmp/ debris (removed at start) or a
 * complete entry, never half of one.
 */
import {
  close,
  closeSync,
  createReadStream,
  existsSync,
  fdatasync,
  fstatSync,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  readSync,
  rename,
  renameSync,
  unlink,
  unlinkSync,
  writev,
} from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { syncDirectory } from '../fs/sync-directory.js';
import type { DeliveryState, Envelope } from '../model/index.js';
import { envelopeTrailer, FOOTER_LENGTH, type FooterInfo, parseFooter } from './entry-format.js';
import { GroupSync } from './group-sync.js';
import { lockHolder, QueueLock } from './lock.js';
import {
  type MessageQueue,
  QUEUE_ID_PATTERN,
  type QueueStats,
  type QueueSummary,
  type RecoveryReport,
  type Spool,
} from './queue.js';
import { parseDeliveryState, serializeDeliveryState } from './state-format.js';

const openP = promisify(open);
const closeP = promisify(close);
const fdatasyncP = promisify(fdatasync);
const renameP = promisify(rename);
const unlinkP = promisify(unlink);

/** Queued bytes are written once this many are pending (small messages: one write). */
const FLUSH_AT = 64 * 1024;
/** Above this much unwritten data the session stops reading its socket. */
const HIGH_WATER = 256 * 1024;
const IOV_MAX = 512;

/**
 * Writes every buffer, in order, IOV_MAX at a time. The list is walked by index
 * and a short write only puts back what it did not write, so the cost is linear
 * in the number of buffers (cutting the rest off the list each round made a
 * list of n small buffers cost n²/IOV_MAX).
 */
export function writevAll(fd: number, chunks: readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    /** What a short write left of one buffer; it goes out first. */
    let rest: Buffer | undefined;
    const step = () => {
      const batch: Buffer[] = [];
      if (rest) batch.push(rest);
      rest = undefined;
      while (batch.length < IOV_MAX && next < chunks.length) batch.push(chunks[next++]!);
      if (batch.length === 0) return resolve();
      let total = 0;
      for (const b of batch) total += b.length;
      writev(fd, batch, (err, written) => {
        if (err) return reject(err);
        if (written < total) {
          let k = 0;
          let skip = written;
          while (skip >= batch[k]!.length) skip -= batch[k++]!.length;
          rest = batch[k]!.subarray(skip);
          // The buffers after k were not written at all: take them again from the list.
          next -= batch.length - k - 1;
        }
        step();
      });
    };
    step();
  });
}

async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlinkP(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

class FileSpool implements Spool {
  size = 0;
  private fd: number | undefined;
  private opening: Promise<number> | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private writeError: Error | undefined;
  private drainCallbacks: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private committed = false;
  /** Committed into quarantine/ rather than messages/. */
  private held = false;
  private discarded = false;

  constructor(
    private readonly queue: FileQueue,
    readonly id: string,
  ) {
    // Open while the client is still sending, so the commit does not wait for it; a failure
    // surfaces at finish() or commit().
    this.ensureOpen().catch(() => undefined);
  }

  get path(): string {
    if (!this.committed) return this.tmpPath;
    return this.held ? this.queue.quarantinePath(this.id) : this.queue.entryPath(this.id);
  }

  private get tmpPath(): string {
    return join(this.queue.root, 'tmp', `${this.id}.msg`);
  }

  write(chunk: Buffer): boolean {
    if (this.discarded) return true;
    this.size += chunk.length;
    if (this.writeError) return true; // reported by finish(); keep reading the client's data
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_AT) this.flush();
    return this.pendingBytes < HIGH_WATER;
  }

  onDrain(callback: () => void): void {
    if (this.pendingBytes < HIGH_WATER) callback();
    else this.drainCallbacks.push(callback);
  }

  private ensureOpen(): Promise<number> {
    if (this.fd !== undefined) return Promise.resolve(this.fd);
    this.opening ??= openP(this.tmpPath, 'wx', 0o600).then((fd) => {
      this.fd = fd;
      return fd;
    });
    return this.opening;
  }

  private flush(): void {
    if (this.writing || this.pending.length === 0) return;
    this.writing = true;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.ensureOpen()
      .then((fd) => writevAll(fd, chunks))
      .then(
        () => {
          this.pendingBytes -= bytes;
        },
        (err: Error) => {
          this.writeError = err;
          this.pending = [];
          this.pendingBytes = 0;
        },
      )
      .finally(() => {
        this.writing = false;
        if (this.pendingBytes < HIGH_WATER) {
          const callbacks = this.drainCallbacks;
          this.drainCallbacks = [];
          for (const cb of callbacks) cb();
        }
        if (this.pending.length && (this.pendingBytes >= FLUSH_AT || this.idleWaiters.length)) this.flush();
        else if (!this.pending.length) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
  }

  private async drain(): Promise<void> {
    if (this.pending.length || this.writing) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        this.flush();
      });
    } else {
      await this.ensureOpen(); // an empty message still gets its file
    }
    if (this.writeError) throw this.writeError;
  }

  async finish(): Promise<void> {
    await this.drain();
  }

  async commit(envelope: Envelope): Promise<void> {
    try {
      if (this.writeError) throw this.writeError;
      // Small messages reach here unwritten: body and envelope go out in one write.
      const trailer = envelopeTrailer(JSON.stringify(envelope), this.size);
      this.pending.push(trailer);
      this.pendingBytes += trailer.length;
      await this.drain();
      const fd = this.fd!;
      // fdatasync covers the data and the size needed to read it back; the name is made
      // durable by the directory fsync below.
      await fdatasyncP(fd);
      this.fd = undefined;
      if (envelope.quarantine) {
        // Held: committed the same way, into the area delivery never looks at.
        await renameP(this.tmpPath, this.queue.quarantinePath(this.id));
        this.held = true;
        this.committed = true;
        await Promise.all([this.queue.syncQuarantine(), closeP(fd)]);
        return;
      }
      // The commit point: from here on the entry is a message. Closing is not on the path to the 250.
      await renameP(this.tmpPath, this.queue.entryPath(this.id));
      this.committed = true;
      await Promise.all([this.queue.syncMessages(), closeP(fd)]);
      this.queue.announce(this.id);
    } catch (err) {
      await this.removeAll();
      throw err;
    }
  }

  private async removeAll(): Promise<void> {
    this.discarded = true;
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      await closeP(fd).catch(() => undefined);
    }
    // An entry renamed but not yet synced was never acknowledged: take it back.
    await unlinkQuietly(this.path).catch(() => undefined);
    this.committed = false;
  }

  async discard(): Promise<void> {
    if (this.discarded || this.committed) return;
    this.discarded = true;
    if (this.writing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    else if (this.opening) await this.opening.catch(() => undefined);
    this.pending = [];
    this.pendingBytes = 0;
    await this.removeAll();
  }

  createReadStream(): Readable {
    // Before commit the file holds only the message; after, stop before the envelope.
    return this.size === 0 ? Readable.from([]) : createReadStream(this.path, { end: this.size - 1 });
  }
}

export interface FileQueueOptions {
  /** Share directory fsyncs between concurrent commits. */
  readonly groupCommit: boolean;
}

export class FileQueue implements MessageQueue {
  private dirFd: number | undefined;
  private groupSync: GroupSync | undefined;
  private stateDirFd: number | undefined;
  private stateSync: GroupSync | undefined;
  private readonly commitListeners: ((id: string) => void)[] = [];
  private queueLock: QueueLock | undefined;

  constructor(
    readonly root: string,
    private readonly options: FileQueueOptions = { groupCommit: true },
  ) {}

  entryPath(id: string): string {
    return join(this.root, 'messages', `${id}.msg`);
  }

  /**
   * Takes the queue for this process (QueueLocked if another process holds it); held
   * until close(). The returned lock says whether the pid could be recorded.
   */
  lock(): QueueLock {
    mkdirSync(this.root, { recursive: true });
    this.queueLock ??= QueueLock.acquire(this.root);
    return this.queueLock;
  }

  unlock(): void {
    this.queueLock?.release();
    this.queueLock = undefined;
  }

  quarantinePath(id: string): string {
    return join(this.root, 'quarantine', `${id}.msg`);
  }

  statePath(id: string): string {
    return join(this.root, 'state', `${id}.json`);
  }

  onCommit(listener: (id: string) => void): void {
    this.commitListeners.push(listener);
  }

  /** Tells listeners about a committed entry (after its 250-worthy commit). */
  announce(id: string): void {
    for (const listener of this.commitListeners) listener(id);
  }

  async open(): Promise<RecoveryReport> {
    for (const dir of ['tmp', 'messages', 'state', 'quarantine'])
      mkdirSync(join(this.root, dir), { recursive: true, mode: 0o700 });
    const removed: string[] = [];
    for (const name of readdirSync(join(this.root, 'tmp'))) {
      unlinkSync(join(this.root, 'tmp', name));
      removed.push(`tmp/${name}`);
    }
    // Entries are complete by construction; one that is not (a disk error, a hand edit) is set aside.
    let messages = 0;
    const corrupt: string[] = [];
    for (const name of readdirSync(join(this.root, 'messages'))) {
      const path = join(this.root, 'messages', name);
      if (/^[0-9A-Z]{15}\.msg$/.test(name) && readFooter(path)) {
        messages++;
        continue;
      }
      mkdirSync(join(this.root, 'corrupt'), { recursive: true, mode: 0o700 });
      renameSync(path, join(this.root, 'corrupt', name));
      corrupt.push(`messages/${name}`);
    }
    // State files: half-written replacements and the state of entries already gone.
    for (const name of readdirSync(join(this.root, 'state'))) {
      const id = name.replace(/\.json(\.tmp)?$/, '');
      if (name.endsWith('.tmp') || !existsSync(this.entryPath(id))) {
        unlinkSync(join(this.root, 'state', name));
        removed.push(`state/${name}`);
      }
    }
    this.dirFd = openSync(join(this.root, 'messages'), 'r');
    this.groupSync = new GroupSync(this.dirFd, this.options.groupCommit);
    this.stateDirFd = openSync(join(this.root, 'state'), 'r');
    this.stateSync = new GroupSync(this.stateDirFd, this.options.groupCommit);
    if (corrupt.length) await this.syncMessages();
    return { messages, removed, corrupt };
  }

  syncMessages(): Promise<void> {
    if (!this.groupSync) return Promise.reject(new Error('queue is not open'));
    return this.groupSync.sync();
  }

  /**
   * Makes renames into (and unlinks in) quarantine/ durable; rare, so no group commit, and
   * usable without open(): `qgate quarantine` runs beside the gateway that owns the queue.
   */
  syncQuarantine(): Promise<void> {
    return syncDirectory(join(this.root, 'quarantine'));
  }

  /** Held entries (quarantine/), oldest first. */
  async quarantinedIds(): Promise<string[]> {
    return entryIds(join(this.root, 'quarantine'));
  }

  async quarantinedEnvelope(id: string): Promise<Envelope | undefined> {
    return QUEUE_ID_PATTERN.test(id) ? readEnvelope(this.quarantinePath(id)) : undefined;
  }

  readQuarantined(id: string): Readable | undefined {
    return QUEUE_ID_PATTERN.test(id) ? readBody(this.quarantinePath(id)) : undefined;
  }

  /**
   * Moves a held entry into messages/ (durably) and tells the commit listeners, so a running
   * scheduler delivers it as it would have been. False if there is no such held entry.
   * Needs no open(): the CLI releases beside a running gateway, then asks it to flush the id.
   */
  async release(id: string): Promise<boolean> {
    if (!QUEUE_ID_PATTERN.test(id)) throw new Error(`not a queue id: ${id}`);
    try {
      await renameP(this.quarantinePath(id), this.entryPath(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    // messages/ first: a crash before the second fsync can at worst leave the name in both
    // directories, never in neither.
    await syncDirectory(join(this.root, 'messages'));
    await this.syncQuarantine();
    this.announce(id);
    return true;
  }

  /** Deletes a held entry. False if there is none. */
  async deleteQuarantined(id: string): Promise<boolean> {
    if (!QUEUE_ID_PATTERN.test(id)) throw new Error(`not a queue id: ${id}`);
    try {
      await unlinkP(this.quarantinePath(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await this.syncQuarantine();
    return true;
  }

  createSpool(id: string): Spool {
    return new FileSpool(this, id);
  }

  async readState(id: string): Promise<DeliveryState | undefined> {
    try {
      return parseDeliveryState(await readFile(this.statePath(id), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writeState(state: DeliveryState): Promise<void> {
    const path = this.statePath(state.id);
    const tmp = `${path}.tmp`;
    const fd = await openP(tmp, 'w', 0o600);
    try {
      try {
        await writevAll(fd, [Buffer.from(serializeDeliveryState(state))]);
        await fdatasyncP(fd);
      } finally {
        await closeP(fd);
      }
    } catch (err) {
      // A full disk: the part written would only hold space the next try needs.
      await unlinkQuietly(tmp).catch(() => undefined);
      throw err;
    }
    await renameP(tmp, path);
    if (!this.stateSync) throw new Error('queue is not open');
    await this.stateSync.sync();
  }

  async remove(id: string, options: { readonly stateWritten?: boolean } = {}): Promise<void> {
    if (!QUEUE_ID_PATTERN.test(id)) throw new Error(`not a queue id: ${id}`);
    // Entry first: a crash in between leaves an orphan state, which recovery removes. No
    // directory fsync (as in qmail and Postfix): an unlink lost in a crash can only bring
    // back a finished message, to be delivered twice, never lose one.
    await unlinkQuietly(this.entryPath(id));
    // A message delivered at its first attempt has no state file: its ENOENT (an error
    // object with a stack trace) would cost more than the rest of the removal.
    if (options.stateWritten !== false) await unlinkQuietly(this.statePath(id));
  }

  async quarantine(id: string): Promise<void> {
    if (!QUEUE_ID_PATTERN.test(id)) throw new Error(`not a queue id: ${id}`);
    mkdirSync(join(this.root, 'corrupt'), { recursive: true, mode: 0o700 });
    await renameP(this.entryPath(id), join(this.root, 'corrupt', `${id}.msg`));
    await unlinkQuietly(this.statePath(id));
    await this.syncMessages();
  }

  async ids(): Promise<string[]> {
    return entryIds(join(this.root, 'messages'));
  }

  async envelope(id: string): Promise<Envelope | undefined> {
    if (!QUEUE_ID_PATTERN.test(id)) return undefined;
    return readEnvelope(this.entryPath(id));
  }

  async list(): Promise<QueueSummary[]> {
    const out: QueueSummary[] = [];
    for (const id of await this.ids()) {
      const env = await this.envelope(id);
      if (!env) continue;
      const state = await this.readState(id).catch(() => undefined);
      const recipients = env.recipients.map(
        (r) =>
          state?.recipients.find((s) => s.address === r.address) ?? {
            address: r.address,
            status: 'pending' as const,
            attempts: 0,
          },
      );
      out.push({ id, received: env.received, size: env.size, sender: env.sender, recipients });
    }
    return out;
  }

  async stat(): Promise<QueueStats> {
    const ids = await this.ids();
    let bytes = 0;
    for (const id of ids) bytes += readFooter(this.entryPath(id))?.messageLength ?? 0;
    const oldest = ids.length ? (await this.envelope(ids[0]!))?.received : undefined;
    return { messages: ids.length, bytes, oldest };
  }

  readMessage(id: string): Readable | undefined {
    if (!QUEUE_ID_PATTERN.test(id)) return undefined;
    return readBody(this.entryPath(id));
  }

  async close(): Promise<void> {
    if (this.dirFd !== undefined) closeSync(this.dirFd);
    if (this.stateDirFd !== undefined) closeSync(this.stateDirFd);
    this.dirFd = undefined;
    this.stateDirFd = undefined;
    this.unlock();
  }
}

/** The pid of the gateway holding the queue at `root` (by its lock), if one does and its pid is recorded. */
export function runningGateway(root: string): number | undefined {
  return lockHolder(root)?.pid;
}

/** The ids of the entries in `dir`, oldest first. */
async function entryIds(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.endsWith('.msg'))
    .map((n) => n.slice(0, -4))
    .sort();
}

/**
 * How much of an entry's end one read takes: the footer and, for all but
 * unusual envelopes (hundreds of recipients), the whole envelope with it.
 */
const TAIL_READ = 8 * 1024;

function readEnvelope(path: string): Envelope | undefined {
  // One open and one read of the tail instead of reading footer and envelope each
  // with its own open: this runs once per delivery attempt.
  const fd = openEntry(path);
  if (fd === undefined) return undefined;
  try {
    const size = fstatSync(fd).size;
    if (size < FOOTER_LENGTH) return undefined;
    const tail = Buffer.allocUnsafe(Math.min(size, TAIL_READ));
    readFully(fd, tail, size - tail.length);
    const footer = parseFooter(tail.subarray(tail.length - FOOTER_LENGTH), size);
    if (!footer) return undefined;
    const inTail = tail.length - FOOTER_LENGTH;
    let json: Buffer;
    if (footer.envelopeLength <= inTail) json = tail.subarray(inTail - footer.envelopeLength, inTail);
    else {
      json = Buffer.allocUnsafe(footer.envelopeLength);
      readFully(fd, json, footer.messageLength);
    }
    return JSON.parse(json.toString('utf8')) as Envelope;
  } finally {
    closeSync(fd);
  }
}

/**
 * The message bytes of the entry at `path` (without envelope and footer). The
 * stream reads the descriptor the footer was read from, and closes it.
 */
function readBody(path: string): Readable | undefined {
  const fd = openEntry(path);
  if (fd === undefined) return undefined;
  let footer: FooterInfo | undefined;
  try {
    footer = footerOf(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!footer || footer.messageLength === 0) {
    closeSync(fd);
    return footer ? Readable.from([]) : undefined;
  }
  return createReadStream(path, { fd, start: 0, end: footer.messageLength - 1 });
}

/** The footer of the entry at `path`, or undefined if it is missing or damaged. */
function readFooter(path: string): FooterInfo | undefined {
  const fd = openEntry(path);
  if (fd === undefined) return undefined;
  try {
    return footerOf(fd);
  } finally {
    closeSync(fd);
  }
}

/** The entry open for reading; undefined if it is not there (or cannot be opened). */
function openEntry(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

function footerOf(fd: number): FooterInfo | undefined {
  const size = fstatSync(fd).size;
  if (size < FOOTER_LENGTH) return undefined;
  const footer = Buffer.alloc(FOOTER_LENGTH);
  readFully(fd, footer, size - FOOTER_LENGTH);
  return parseFooter(footer, size);
}

/** Fills `buffer` from `position` on; a file shorter than that leaves the rest zero-filled, which no parser accepts. */
function readFully(fd: number, buffer: Buffer, position: number): void {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) {
      buffer.fill(0, done);
      return;
    }
    done += n;
  }
}
