/*
 * The file queue. Layout under the queue directory:
 *
 *   tmp/<id>.eml        message being received (streamed as it arrives)
 *   tmp/<id>.env        envelope being written at commit
 *   messages/<id>.eml   committed message: Received header + body, CRLF
 *   messages/<id>.env   committed envelope (JSON); its rename is the commit point
 *   gateway.pid         the gateway that owns the queue
 *
 * Commit: fsync the message and the envelope, rename the message into
 * messages/, then rename the envelope (the commit point), then fsync
 * messages/ (shared by concurrent commits, see group-sync.ts). Only then does
 * commit() resolve and the client get its 250. Recovery after a crash removes
 * everything in tmp/ and any half of a pair in messages/; a pair is always a
 * complete, acknowledged-or-acknowledgeable message.
 */
import {
  close,
  closeSync,
  createReadStream,
  fsync,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  readFileSync,
  rename,
  statSync,
  unlink,
  unlinkSync,
  writeFileSync,
  writev,
} from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { GroupSync } from './group-sync.js';
import {
  type Envelope,
  type MessageQueue,
  QUEUE_ID_PATTERN,
  type QueueStats,
  type QueueSummary,
  type RecoveryReport,
  type Spool,
} from './queue.js';

const openP = promisify(open);
const closeP = promisify(close);
const fsyncP = promisify(fsync);
const renameP = promisify(rename);
const unlinkP = promisify(unlink);

/** Queued bytes are written once this many are pending (small messages: one write). */
const FLUSH_AT = 64 * 1024;
/** Above this much unwritten data the session stops reading its socket. */
const HIGH_WATER = 256 * 1024;
const IOV_MAX = 512;

function writevAll(fd: number, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (bufs: Buffer[]) => {
      const batch = bufs.length > IOV_MAX ? bufs.slice(0, IOV_MAX) : bufs;
      const rest = bufs.length > IOV_MAX ? bufs.slice(IOV_MAX) : [];
      const total = batch.reduce((n, b) => n + b.length, 0);
      writev(fd, batch, (err, written) => {
        if (err) return reject(err);
        if (written < total) {
          // Short write: continue with what is left of this batch.
          let skip = written;
          const left: Buffer[] = [];
          for (const b of batch) {
            if (skip >= b.length) skip -= b.length;
            else {
              left.push(skip ? b.subarray(skip) : b);
              skip = 0;
            }
          }
          return step([...left, ...rest]);
        }
        if (rest.length) step(rest);
        else resolve();
      });
    };
    step(chunks);
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
  private movedMessage = false;
  private committed = false;
  private discarded = false;

  constructor(
    private readonly queue: FileQueue,
    readonly id: string,
  ) {}

  get path(): string {
    return this.movedMessage ? this.queue.messagePath(this.id) : this.tmpMessage;
  }

  private get tmpMessage(): string {
    return join(this.queue.root, 'tmp', `${this.id}.eml`);
  }

  private get tmpEnvelope(): string {
    return join(this.queue.root, 'tmp', `${this.id}.env`);
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
    this.opening ??= openP(this.tmpMessage, 'wx', 0o600).then((fd) => {
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

  async finish(): Promise<void> {
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

  async commit(envelope: Envelope): Promise<void> {
    await this.finish();
    const fd = await this.ensureOpen();
    try {
      await Promise.all([
        (async () => {
          await fsyncP(fd);
          await closeP(fd);
          this.fd = undefined;
          await renameP(this.tmpMessage, this.queue.messagePath(this.id));
          this.movedMessage = true;
        })(),
        (async () => {
          const efd = await openP(this.tmpEnvelope, 'wx', 0o600);
          try {
            await writevAll(efd, [Buffer.from(JSON.stringify(envelope))]);
            await fsyncP(efd);
          } finally {
            await closeP(efd);
          }
        })(),
      ]);
      // The commit point: from here on the pair is a message.
      await renameP(this.tmpEnvelope, this.queue.envelopePath(this.id));
      this.committed = true;
      await this.queue.syncMessages();
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
    await Promise.all([
      unlinkQuietly(this.tmpMessage),
      unlinkQuietly(this.tmpEnvelope),
      this.committed ? unlinkQuietly(this.queue.envelopePath(this.id)) : undefined,
      this.movedMessage ? unlinkQuietly(this.queue.messagePath(this.id)) : undefined,
    ]).catch(() => undefined);
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
    return createReadStream(this.path);
  }
}

export interface FileQueueOptions {
  /** Share directory fsyncs between concurrent commits. */
  readonly groupCommit: boolean;
}

export class FileQueue implements MessageQueue {
  private dirFd: number | undefined;
  private groupSync: GroupSync | undefined;

  constructor(
    readonly root: string,
    private readonly options: FileQueueOptions = { groupCommit: true },
  ) {}

  messagePath(id: string): string {
    return join(this.root, 'messages', `${id}.eml`);
  }

  envelopePath(id: string): string {
    return join(this.root, 'messages', `${id}.env`);
  }

  /** Takes the queue for this process (refuses if another live gateway holds it). */
  lock(): void {
    mkdirSync(this.root, { recursive: true });
    const pidFile = join(this.root, 'gateway.pid');
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          throw new Error(`queue ${this.root} is in use by the gateway with pid ${pid}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    writeFileSync(pidFile, `${process.pid}\n`);
  }

  unlock(): void {
    try {
      const pidFile = join(this.root, 'gateway.pid');
      if (Number(readFileSync(pidFile, 'utf8').trim()) === process.pid) unlinkSync(pidFile);
    } catch {
      // already gone
    }
  }

  async open(): Promise<RecoveryReport> {
    for (const dir of ['tmp', 'messages']) mkdirSync(join(this.root, dir), { recursive: true, mode: 0o700 });
    const removed: string[] = [];
    for (const name of readdirSync(join(this.root, 'tmp'))) {
      unlinkSync(join(this.root, 'tmp', name));
      removed.push(`tmp/${name}`);
    }
    const names = new Set(readdirSync(join(this.root, 'messages')));
    let messages = 0;
    for (const name of names) {
      const m = /^(.+)\.(eml|env)$/.exec(name);
      const partner = m ? `${m[1]}.${m[2] === 'eml' ? 'env' : 'eml'}` : undefined;
      if (!m || !partner || !names.has(partner)) {
        unlinkSync(join(this.root, 'messages', name));
        removed.push(`messages/${name}`);
      } else if (m[2] === 'env') {
        messages++;
      }
    }
    this.dirFd = openSync(join(this.root, 'messages'), 'r');
    this.groupSync = new GroupSync(this.dirFd, this.options.groupCommit);
    if (removed.length) await this.syncMessages();
    return { messages, removed };
  }

  syncMessages(): Promise<void> {
    if (!this.groupSync) return Promise.reject(new Error('queue is not open'));
    return this.groupSync.sync();
  }

  createSpool(id: string): Spool {
    return new FileSpool(this, id);
  }

  private async ids(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'messages'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const set = new Set(names);
    return names
      .filter((n) => n.endsWith('.env') && set.has(`${n.slice(0, -4)}.eml`))
      .map((n) => n.slice(0, -4))
      .sort();
  }

  async envelope(id: string): Promise<Envelope | undefined> {
    if (!QUEUE_ID_PATTERN.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(this.envelopePath(id), 'utf8')) as Envelope;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(): Promise<QueueSummary[]> {
    const out: QueueSummary[] = [];
    for (const id of await this.ids()) {
      const env = await this.envelope(id);
      if (!env) continue;
      out.push({
        id,
        received: env.received,
        size: env.size,
        sender: env.sender,
        recipients: env.recipients.map((r) => r.address),
      });
    }
    return out;
  }

  async stat(): Promise<QueueStats> {
    const ids = await this.ids();
    let bytes = 0;
    for (const id of ids) {
      try {
        bytes += statSync(this.messagePath(id)).size;
      } catch {
        // removed meanwhile
      }
    }
    const oldest = ids.length ? (await this.envelope(ids[0]!))?.received : undefined;
    return { messages: ids.length, bytes, oldest };
  }

  readMessage(id: string): Readable | undefined {
    if (!QUEUE_ID_PATTERN.test(id)) return undefined;
    try {
      statSync(this.messagePath(id));
    } catch {
      return undefined;
    }
    return createReadStream(this.messagePath(id));
  }

  async close(): Promise<void> {
    if (this.dirFd !== undefined) closeSync(this.dirFd);
    this.dirFd = undefined;
    this.unlock();
  }
}
