/*
 * Makes a directory's entries durable: after a file is created, renamed into
 * or removed from `dir`, the change survives a crash only once the directory
 * itself is fsynced (the file's own fsync does not cover its name). Does not
 * sync the files in it, nor the directory's parent.
 */
import { open } from 'node:fs/promises';

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
