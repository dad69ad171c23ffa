/*
 * The admin listener's settings, resolved: the bearer token read from the
 * config, a file or an environment variable, and the rule that an address
 * other than loopback must have one. Used by the gateway (to serve) and by the
 * CLI (to call); problems are positioned config errors, like any other.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import type { LoadedConfig } from '../config/load.js';

export interface AdminSettings {
  readonly enabled: boolean;
  readonly address: string;
  readonly port: number;
  /** Every request must carry `Authorization: Bearer <token>`; undefined: none needed. */
  readonly token: string | undefined;
  readonly metrics: boolean;
}

/** Tokens shorter than this are guessable over a fast loopback link. */
export const MIN_TOKEN_LENGTH = 16;

export function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}

export function resolveAdminSettings(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): AdminSettings {
  const { admin } = loaded.config;
  const problems: ConfigProblem[] = [];
  const at = (key: string, message: string) => problems.push(loaded.source.problem(['admin', key], message));
  const sources = (['token', 'token_file', 'token_env'] as const).filter((k) => admin[k] !== undefined);
  if (sources.length > 1) at(sources[1]!, `give the token one way only; ${sources.join(' and ')} are both set`);

  let token: string | undefined = admin.token;
  if (admin.token_file !== undefined) {
    const file = resolve(loaded.dir, admin.token_file);
    try {
      token = readFileSync(file, 'utf8').split('\n')[0]!.trim();
    } catch (err) {
      at('token_file', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (admin.token_env !== undefined) {
    token = env[admin.token_env]?.trim();
    if (!token) at('token_env', `the environment variable ${admin.token_env} is not set or empty`);
  }
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH && admin.token === undefined && !problems.length) {
    at(sources[0]!, `the token must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`);
  }
  if (isIP(admin.address) === 0 && admin.address !== 'localhost') {
    at('address', `expected an IP address (127.0.0.1, ::1, 0.0.0.0, ::), got "${admin.address}"`);
  } else if (admin.enabled && !isLoopback(admin.address) && token === undefined) {
    // Without a token, anyone who reaches the port could remove or bounce mail.
    at('address', `${admin.address} is reachable from other hosts: set admin.token, token_file or token_env`);
  }
  if (problems.length) throw new ConfigError(problems);
  return { enabled: admin.enabled, address: admin.address, port: admin.port, token, metrics: admin.metrics };
}
