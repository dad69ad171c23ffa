/*
 * The CLI's side of the admin API: finds the running gateway (the queue lock,
 * then <queue>/admin.url), sends one request with the bearer token and returns
 * the decoded answer. It never retries a request that changes the queue.
 */

import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { lockHolder } from '../queue/lock.js';
import { LOCAL_TOKEN_FILE, readEndpoint, readLocalToken } from './endpoint.js';
import { resolveAdminSettings } from './settings.js';

/** Why a request could not be answered; `exitCode` is the sysexits code for the CLI. */
export class AdminUnavailable extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface RunningGatewayRef {
  readonly pid: number | undefined;
  /** The admin API's base URL, if the gateway serves one. */
  readonly url: string | undefined;
}

/** The gateway holding the queue, or undefined if none does. */
export function findGateway(loaded: LoadedConfig): RunningGatewayRef | undefined {
  const holder = lockHolder(loaded.queuePath);
  if (!holder) return undefined;
  return { pid: holder.pid, url: readEndpoint(loaded.queuePath) };
}

export interface AdminAnswer<T> {
  readonly status: number;
  readonly body: T;
}

/**
 * Sends `method path` to the gateway's admin API and waits up to `timeoutMs`
 * for the answer. Any HTTP status is returned; no answer throws AdminUnavailable.
 */
export async function callAdmin<T>(
  loaded: LoadedConfig,
  gateway: RunningGatewayRef,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<AdminAnswer<T>> {
  if (!gateway.url) {
    throw new AdminUnavailable(
      `the gateway (pid ${gateway.pid ?? 'unknown'}) serves no admin API (admin.enabled is false, or it is still starting)`,
      69, // EX_UNAVAILABLE
    );
  }
  const token = resolveAdminSettings(loaded).token ?? readLocalToken(loaded.queuePath);
  let res: Response;
  try {
    res = await fetch(`${gateway.url}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : causeOf(err);
    throw new AdminUnavailable(`the gateway's admin API at ${gateway.url}: ${cause}`, 75); // EX_TEMPFAIL
  }
  if (res.status === 401) {
    await res.body?.cancel();
    throw new AdminUnavailable(
      token === undefined
        ? `the gateway's admin API at ${gateway.url} needs the token in ${join(loaded.queuePath, LOCAL_TOKEN_FILE)}, which this user cannot read; run as the gateway's user or root`
        : `the gateway's admin API at ${gateway.url} refused the token (401)`,
      77, // EX_NOPERM
    );
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as T };
  } catch {
    throw new AdminUnavailable(`the gateway's admin API at ${gateway.url}: not JSON (${res.status})`, 76); // EX_PROTOCOL
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
