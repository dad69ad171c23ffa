/*
 * Where the running gateway's admin API listens: written as one URL line to
 * <queue>/admin.url once the admin listener is bound (its port may be 0 in the
 * config), removed on a clean stop. The file is trusted only while a process
 * holds the queue lock (queue/lock.ts), so a stale one after kill -9 misleads no one.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ENDPOINT_FILE = 'admin.url';

export function endpointUrl(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Writes the file whole or not at all (a reader never sees half a URL); throws ENOSPC on a full disk. */
export function writeEndpoint(queueRoot: string, url: string): void {
  const path = join(queueRoot, ENDPOINT_FILE);
  try {
    writeFileSync(`${path}.tmp`, `${url}\n`, { mode: 0o644 });
    renameSync(`${path}.tmp`, path);
  } catch (err) {
    rmSync(`${path}.tmp`, { force: true });
    throw err;
  }
}

export function readEndpoint(queueRoot: string): string | undefined {
  try {
    const url = readFileSync(join(queueRoot, ENDPOINT_FILE), 'utf8').split('\n')[0]!.trim();
    return /^http:\/\/[^/\s]+$/.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}

export function removeEndpoint(queueRoot: string): void {
  rmSync(join(queueRoot, ENDPOINT_FILE), { force: true });
}
