/*
 * The file queue. Layout under the queue directory (<b>: the id's last character,
 * one of 36 hashed subdirectories, buckets.ts):
 *
 *   tmp/<id>.msg           entry being received (the message streams in as it arrives)
 *   messages/<b>/<id>.msg  committed entry: message bytes (Received header + what the
 *                          client sent, CRLF), the envelope as JSON, a fixed footer
 *                          (entry-format.ts)
 *   state/<b>/<id>.json    per-recipient delivery state, replaced durably (tmp, fdatasync,
 *                          rename, fsync state/<b>/) before the step that depends on it
 *   corrupt/            entries that failed their footer check, set aside
 *   quarantine/<id>.msg committed entries a plugin had held (transaction.quarantine):
 *                       never delivered; released into messages/ or deleted by
 *                       `qgate quarantine`
 *   gateway.lock        flock(2)ed by the gateway that owns the queue, holds its pid
 *                       (lock.ts)
 *
 * Commit: append the envelope and footer, fsync the file, rename it into
 * messages/<b>/ (the commit point), fsync messages/<b>/ (shared by concurrent
 * commits, see group-sync.ts); only then does commit() resolve and the client
 * get its 250 (commit_sync "directory"); a crash at any instant leaves tmp/
 * debris (removed at start) or a complete entry. With commit_sync "file"
 * (commit-sync.ts) the rename comes first and one fsync of the file makes both
 * durable on the file systems "auto" picks it for; a crash before that fsync
 * ended can also leave the start of the never-acknowledged entry in messages/,
 * which its delivery run sets aside as damaged. Entries in messages/ and state/
 * themselves (the flat layout of earlier versions) are moved into their
 * buckets by open(), durably; until a gateway has opened the queue, the read
 * commands (qgate queue list|stat|show) find them in either place.
 */
import {
  close,
  closeSync,
  createReadStream,
  existsSync,
  fdatasync,
  fstatSync,
  fsync,
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
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { syncDirectory } from '../fs/sync-directory.js';
import { type DeliveryState, type Envelope, inTurn, type QueueCensus } from '../model/index.js';
import { BUCKETS, bucketOf } from './buckets.js';
import { CensusTally } from './census.js';
import { type CommitSync, type CommitSyncSetting, type ResolvedCommitSync, resolveCommitSync } from './commit-sync.js';
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
const fsyncP = promisify(fsync);
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
      if (this.queue.commitSync === 'file' && !envelope.quarantine) {
        await this.commitWithOneFlush(fd);
        return;
      }
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
      await Promise.all([this.queue.syncMessages(this.id), closeP(fd)]);
      this.queue.announce(this.id);
    } catch (err) {
      await this.removeAll();
      throw err;
    }
  }

  /**
   * commit_sync "file": the rename first, then one fsync of the file, which on ext3/ext4
   * and XFS also makes the new name durable (commit-sync.ts says why), as Postfix
   * assumes for its queue files. A crash before the fsync ended can leave the start of
   * this never-acknowledged entry in messages/, where its delivery run finds the footer
   * missing and sets it aside.
   */
  private async commitWithOneFlush(fd: number): Promise<void> {
    this.fd = undefined;
    try {
      await renameP(this.tmpPath, this.queue.entryPath(this.id));
      this.committed = true;
      // fsync, not fdatasync: the rename changed only the inode's ctime, which fdatasync may skip.
      await fsyncP(fd);
    } catch (err) {
      await closeP(fd).catch(() => undefined);
      throw err;
    }
    // Durable now: closing is not on the path to the 250 (its error could not undo the fsync).
    closeP(fd).catch(() => undefined);
    this.queue.announce(this.id);
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
  /**
   * How a commit is made durable: "directory" flushes the file, then the directory the
   * rename changed (durable on any POSIX file system); "file" renames, then flushes the
   * file once (see FileSpool.commitWithOneFlush); "auto" picks by the queue's file system
   * (commit-sync.ts). Default "directory".
   */
  readonly commitSync?: CommitSyncSetting;
}

/** A directory held open for fsync, with the group commit that shares its fsyncs. */
interface SyncedDirectory {
  readonly fd: number;
  readonly sync: GroupSync;
}

export class FileQueue implements MessageQueue {
  /** messages/<b>/ and state/<b>/ by bucket, once open. */
  private readonly messageDirs = new Map<string, SyncedDirectory>();
  private readonly stateDirs = new Map<string, SyncedDirectory>();
  private readonly commitListeners: ((id: string) => void)[] = [];
  private queueLock: QueueLock | undefined;

  constructor(
    readonly root: string,
    private readonly options: FileQueueOptions = { groupCommit: true },
  ) {}

  private resolvedCommitSync: ResolvedCommitSync | undefined;

  /** How commits are made durable, with the file system that decided it for "auto". */
  commitSyncInfo(): ResolvedCommitSync {
    this.resolvedCommitSync ??= resolveCommitSync(this.options.commitSync ?? 'directory', this.root);
    return this.resolvedCommitSync;
  }

  get commitSync(): CommitSync {
    return this.commitSyncInfo().commitSync;
  }

  entryPath(id: string): string {
    return join(this.root, 'messages', bucketOf(id), `${id}.msg`);
  }

  /** Where an earlier version kept the entry (read until open() moves it). */
  private flatEntryPath(id: string): string {
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
    return join(this.root, 'state', bucketOf(id), `${id}.json`);
  }

  private flatStatePath(id: string): string {
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
    for (const bucket of BUCKETS) {
      mkdirSync(join(this.root, 'messages', bucket), { recursive: true, mode: 0o700 });
      mkdirSync(join(this.root, 'state', bucket), { recursive: true, mode: 0o700 });
    }
    const removed: string[] = [];
    for (const name of readdirSync(join(this.root, 'tmp'))) {
      unlinkSync(join(this.root, 'tmp', name));
      removed.push(`tmp/${name}`);
    }
    const corrupt: string[] = [];
    await this.moveFlatEntries(corrupt, removed);
    // Entries are complete by construction (renamed in after their fsync), so start-up only
    // lists names: reading 100,000 footers here kept the listeners closed for seconds. One
    // damaged later (a disk error, a hand edit) is set aside by the run that reads it
    // (scheduler.ts). A name that is not an entry of its bucket is set aside now.
    let messages = 0;
    for (const bucket of BUCKETS) {
      const ids = new Set<string>();
      for (const name of readdirSync(join(this.root, 'messages', bucket))) {
        if (ENTRY_NAME.test(name) && bucketOf(name.slice(0, -4)) === bucket) {
          ids.add(name.slice(0, -4));
          continue;
        }
        this.setAside(join(this.root, 'messages', bucket, name), name);
        corrupt.push(`messages/${bucket}/${name}`);
      }
      messages += ids.size;
      // State files: half-written replacements and the state of entries already gone.
      for (const name of readdirSync(join(this.root, 'state', bucket))) {
        if (name.endsWith('.tmp') || !ids.has(name.replace(/\.json$/, ''))) {
          unlinkSync(join(this.root, 'state', bucket, name));
          removed.push(`state/${bucket}/${name}`);
        }
      }
    }
    this.attach();
    if (corrupt.length) await Promise.all(BUCKETS.map((b) => this.messageDirs.get(b)!.sync.sync()));
    return { messages, removed, corrupt };
  }

  /**
   * Uses a queue another instance in this process opened (and recovered): the delivery
   * thread's. Recovery must not run twice; tmp/ holds the main thread's sessions.
   */
  attach(): void {
    for (const bucket of BUCKETS) {
      this.messageDirs.set(bucket, this.openDirectory(join(this.root, 'messages', bucket)));
      this.stateDirs.set(bucket, this.openDirectory(join(this.root, 'state', bucket)));
    }
  }

  private openDirectory(path: string): SyncedDirectory {
    const fd = openSync(path, 'r');
    return { fd, sync: new GroupSync(fd, this.options.groupCommit) };
  }

  private setAside(path: string, name: string): void {
    mkdirSync(join(this.root, 'corrupt'), { recursive: true, mode: 0o700 });
    renameSync(path, join(this.root, 'corrupt', name));
  }

  /**
   * Moves what an earlier version left flat in messages/ and state/ into the buckets:
   * one layout from here on, so the gateway looks in one place for each id. Rename is
   * atomic, so a crash leaves each file in one place or the other, and the next open()
   * carries on. Each bucket is fsynced before the flat directory, so the new name is on
   * disk before the old one can be found gone. A damaged flat entry goes to corrupt/.
   */
  private async moveFlatEntries(corrupt: string[], removed: string[]): Promise<void> {
    const touched = new Set<string>();
    const messagesDir = join(this.root, 'messages');
    for (const entry of readdirSync(messagesDir, { withFileTypes: true })) {
      if (entry.isDirectory()) continue;
      const path = join(messagesDir, entry.name);
      if (ENTRY_NAME.test(entry.name) && readFooter(path)) {
        const id = entry.name.slice(0, -4);
        renameSync(path, this.entryPath(id));
        touched.add(join(messagesDir, bucketOf(id)));
      } else {
        this.setAside(path, entry.name);
        corrupt.push(`messages/${entry.name}`);
      }
    }
    const stateDir = join(this.root, 'state');
    for (const entry of readdirSync(stateDir, { withFileTypes: true })) {
      if (entry.isDirectory()) continue;
      const path = join(stateDir, entry.name);
      const id = entry.name.slice(0, -'.json'.length);
      if (entry.name.endsWith('.json') && QUEUE_ID_PATTERN.test(id) && existsSync(this.entryPath(id))) {
        renameSync(path, this.statePath(id));
        touched.add(join(stateDir, bucketOf(id)));
      } else {
        // Half-written, or the state of an entry already gone.
        unlinkSync(path);
        removed.push(`state/${entry.name}`);
      }
    }
    if (!touched.size && !corrupt.length && !removed.some((r) => r.startsWith('state/'))) return;
    for (const dir of touched) await syncDirectory(dir);
    await syncDirectory(messagesDir);
    await syncDirectory(stateDir);
  }

  /** Makes renames into (and unlinks in) the bucket of `id` in messages/ durable, shared by concurrent callers. */
  syncMessages(id: string): Promise<void> {
    const dir = this.messageDirs.get(bucketOf(id));
    if (!dir) return Promise.reject(new Error('queue is not open'));
    return dir.sync.sync();
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
    // The bucket may not exist yet: released into a queue no gateway of this version has opened.
    const bucket = join(this.root, 'messages', bucketOf(id));
    const created = mkdirSync(bucket, { recursive: true, mode: 0o700 });
    try {
      await renameP(this.quarantinePath(id), this.entryPath(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    // messages/ first: a crash before the second fsync can at worst leave the name in both
    // directories, never in neither.
    await syncDirectory(bucket);
    if (created) await syncDirectory(join(this.root, 'messages'));
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
    for (const path of [this.statePath(id), this.flatStatePath(id)]) {
      try {
        return parseDeliveryState(await readFile(path, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
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
    const dir = this.stateDirs.get(bucketOf(state.id));
    if (!dir) throw new Error('queue is not open');
    await dir.sync.sync();
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
    await this.syncMessages(id);
  }

  /** Sizes of the entries the last census counted: the next one stats only entries new since. */
  private censusSizes = new Map<string, number>();

  /**
   * One directory at a time, with a turn of the event loop after each: the main thread
   * runs this for /metrics while it serves sessions, and 100,000 names at once held it
   * for a third of a second.
   */
  async census(): Promise<QueueCensus> {
    const attempted = new Set<string>();
    for (const dir of this.areaDirs('state')) {
      for (const name of await listNames(dir)) if (name.endsWith('.json')) attempted.add(name.slice(0, -5));
    }
    const tally = new CensusTally();
    const sizes = new Map<string, number>();
    /** Entries the last census did not see, by id: where to stat them. */
    const unknown = new Map<string, string>();
    // The flat messages/ of an earlier version too, which qgate queue reads before a gateway moved it.
    for (const dir of this.areaDirs('messages')) {
      for (const name of await listNames(dir)) {
        if (!name.endsWith('.msg')) continue;
        const id = name.slice(0, -4);
        const size = this.censusSizes.get(id);
        if (size === undefined) unknown.set(id, join(dir, name));
        else {
          sizes.set(id, size);
          tally.add(id, size, attempted.has(id));
        }
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // Two at a time: the thread pool serves the commits too.
    await inTurn([...unknown], 2, async ([id, path]) => {
      try {
        const { size } = await stat(path);
        sizes.set(id, size);
        tally.add(id, size, attempted.has(id));
      } catch (err) {
        // Delivered and removed since the listing: no longer queued.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
    this.censusSizes = sizes;
    return tally.result();
  }

  /** An area of the queue (messages/ or state/): its flat directory of earlier versions, then its buckets. */
  private areaDirs(area: 'messages' | 'state'): string[] {
    const dir = join(this.root, area);
    return [dir, ...BUCKETS.map((b) => join(dir, b))];
  }

  async ids(): Promise<string[]> {
    const lists = await Promise.all(this.areaDirs('messages').map(entryIds));
    return [...new Set(lists.flat())].sort();
  }

  async has(id: string): Promise<boolean> {
    return QUEUE_ID_PATTERN.test(id) && (existsSync(this.entryPath(id)) || existsSync(this.flatEntryPath(id)));
  }

  async envelope(id: string): Promise<Envelope | undefined> {
    if (!QUEUE_ID_PATTERN.test(id)) return undefined;
    return readEnvelope(this.entryPath(id)) ?? readEnvelope(this.flatEntryPath(id));
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

  /** From the census: names and sizes, no entry read (a running gateway answers it too). */
  async stat(): Promise<QueueStats> {
    let messages = 0;
    let bytes = 0;
    let oldestMs: number | undefined;
    for (const totals of (await this.census()).states.values()) {
      messages += totals.messages;
      bytes += totals.bytes;
      if (totals.oldestMs !== undefined && (oldestMs === undefined || totals.oldestMs < oldestMs)) oldestMs = totals.oldestMs;
    }
    return { messages, bytes, oldest: oldestMs === undefined ? undefined : new Date(oldestMs).toISOString() };
  }

  readMessage(id: string): Readable | undefined {
    if (!QUEUE_ID_PATTERN.test(id)) return undefined;
    return readBody(this.entryPath(id)) ?? readBody(this.flatEntryPath(id));
  }

  async close(): Promise<void> {
    for (const dirs of [this.messageDirs, this.stateDirs]) {
      for (const { fd } of dirs.values()) closeSync(fd);
      dirs.clear();
    }
    this.unlock();
  }
}

/** The pid of the gateway holding the queue at `root` (by its lock), if one does and its pid is recorded. */
export function runningGateway(root: string): number | undefined {
  return lockHolder(root)?.pid;
}

/** A committed entry's file name. */
const ENTRY_NAME = /^[0-9A-Z]{15}\.msg$/;

/** The names in `dir`, none if it is not there. */
async function listNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The ids of the entries in `dir`, oldest first. */
async function entryIds(dir: string): Promise<string[]> {
  return (await listNames(dir))
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
 * Up to this size a message is read with one read where its footer was read:
 * a file stream would add a read and a close through the thread pool, and an
 * object of its own, per delivery. The size of one read of a file stream.
 */
const READ_AT_ONCE = 64 * 1024;

/**
 * The message bytes of the entry at `path` (without envelope and footer): read at
 * once when small, else streamed from the descriptor the footer was read from,
 * which the stream closes.
 */
function readBody(path: string): Readable | undefined {
  const fd = openEntry(path);
  if (fd === undefined) return undefined;
  let footer: FooterInfo | undefined;
  try {
    footer = footerOf(fd);
    if (!footer || footer.messageLength === 0) {
      closeSync(fd);
      return footer ? Readable.from([]) : undefined;
    }
    if (footer.messageLength <= READ_AT_ONCE) {
      const message = Buffer.allocUnsafe(footer.messageLength);
      readFully(fd, message, 0);
      closeSync(fd);
      return Readable.from([message], { objectMode: false });
    }
  } catch (err) {
    closeSync(fd);
    throw err;
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
