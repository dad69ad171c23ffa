/*
 * Where the running gateway's admin API listens: written as one URL line to
 * <queue>/admin.url once the admin listener is bound (its port may be 0 in the
 * config), removed on a clean stop; and, when no token is configured, the token
 * of this run in <queue>/admin.token (mode 0600: only the gateway's user and root
 * may change the queue through the API, as only they may write the queue). The
 * files are trusted only while a process holds the queue lock (queue/lock.ts), so
 * stale ones after kill -9 mislead no one.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ENDPOINT_FILE = 'admin.url';
export const LOCAL_TOKEN_FILE = 'admin.token';

export function endpointUrl(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Writes a file whole or not at all (a reader never sees half of it); throws ENOSPC on a full disk. */
function writeWhole(path: string, text: string, mode: number): void {
  try {
    writeFileSync(`${path}.tmp`, text, { mode });
    renameSync(`${path}.tmp`, path);
  } catch (err) {
    rmSync(`${path}.tmp`, { force: true });
    throw err;
  }
}

/** Records the API for the CLI: the local token first (if any), so the URL never appears without it. */
export function writeEndpoint(queueRoot: string, url: string, localToken: string | undefined): void {
  if (localToken !== undefined) writeWhole(join(queueRoot, LOCAL_TOKEN_FILE), `${localToken}\n`, 0o600);
  writeWhole(join(queueRoot, ENDPOINT_FILE), `${url}\n`, 0o644);
}

/** The token of the running gateway when none is configured; undefined if this user cannot read it. */
export function readLocalToken(queueRoot: string): string | undefined {
  try {
    return readFileSync(join(queueRoot, LOCAL_TOKEN_FILE), 'utf8').split('\n')[0]!.trim() || undefined;
  } catch {
    return undefined;
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
  rmSync(join(queueRoot, LOCAL_TOKEN_FILE), { force: true });
}
