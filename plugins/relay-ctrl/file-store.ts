/*
 * The embedded grant store: a journal file (one JSON grant per line), appended
 * and fsynced before a grant counts, so a grant survives a crash or restart.
 * Opening replays it, drops what expired and rewrites it (temp file, fsync,
 * rename, directory fsync), and so does a grant once the journal holds many
 * more lines than live grants: expired entries are cleaned without a cron job.
 * One store per file per process, shared by the plugin's instances (the POP3
 * pipeline grants, the SMTP pipeline asks), counted so the last close closes it.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDirectory } from '../../core/plugin-api/index.js';
import { type GrantStore, GrantTable, parseGrant, type RelayGrant } from './store.js';

/** Rewrite the journal when it has this many more lines than live grants. */
const COMPACT_SLACK = 1000;

export class FileGrantStore implements GrantStore {
  private readonly table = new GrantTable();
  private lines = 0;
  /** Appends and rewrites, one at a time, in order. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {}

  static async open(file: string, now = Date.now()): Promise<{ store: FileGrantStore; expired: RelayGrant[] }> {
    const store = new FileGrantStore(file);
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      const grant = line ? parseGrant(line) : undefined;
      if (grant) store.table.put(grant);
    }
    const expired = store.table.sweep(now);
    await store.rewrite();
    return { store, expired };
  }

  lookup(address: string, now: number): RelayGrant | undefined {
    return this.table.lookup(address, now);
  }

  sweep(now: number): RelayGrant[] {
    return this.table.sweep(now);
  }

  grant(grant: RelayGrant): Promise<void> {
    const done = this.writing.then(async () => {
      const handle = await open(this.file, 'a', 0o600);
      try {
        await handle.write(`${JSON.stringify(grant)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.lines++;
      // In the table only once it is on disk: a grant that could not be written never counts.
      this.table.put(grant);
      if (this.lines > this.table.size + COMPACT_SLACK) {
        this.table.sweep(Date.now());
        await this.rewrite();
      }
    });
    this.writing = done.catch(() => undefined);
    return done;
  }

  /** The live grants into a new journal, atomically. */
  private async rewrite(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.write([...this.table.values()].map((g) => `${JSON.stringify(g)}\n`).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
    await syncDirectory(dirname(this.file));
    this.lines = this.table.size;
  }

  async close(): Promise<void> {
    await this.writing;
  }
}

const shared = new Map<string, { store: Promise<{ store: FileGrantStore; expired: RelayGrant[] }>; users: number }>();

/** The store of `file` in this process, opened on first use; `expired`: what the opening dropped (for the log). */
export async function acquireFileStore(file: string): Promise<{ store: FileGrantStore; expired: RelayGrant[] }> {
  let entry = shared.get(file);
  if (!entry) {
    entry = { store: FileGrantStore.open(file), users: 0 };
    shared.set(file, entry);
    entry.store.catch(() => shared.delete(file));
  }
  entry.users++;
  const opened = await entry.store;
  // Only the first user logs what the opening found expired.
  return entry.users === 1 ? opened : { store: opened.store, expired: [] };
}

export async function releaseFileStore(file: string): Promise<void> {
  const entry = shared.get(file);
  if (!entry) return;
  entry.users--;
  if (entry.users > 0) return;
  shared.delete(file);
  await (await entry.store).store.close();
}
