/*
 * Everything a configuration describes that can be built and checked without
 * binding a port or opening the queue: the pipelines (plugins loaded, options
 * validated, setup run), the aliases table and the RCPT recipient check. One
 * path for `qgate start`, `qgate check config` and a reload, so what the check
 * accepts is what start and reload accept. Problems are collected and thrown as
 * one ConfigError; plugins set up before a failure are shut down again.
 */
import type { Logger } from 'pino';
import { ConfigError, type ConfigProblem } from './config/errors.js';
import type { LoadedConfig } from './config/load.js';
import type { AliasTable } from './delivery/local-address.js';
import { createRecipientCheck, type DeliveryRecipientCheck } from './delivery/recipient-check.js';
import { readAliasTable } from './delivery/setup.js';
import { gatewayInfo } from './pipeline/gateway-info.js';
import { buildPipeline, type Pipeline, shutdownPipelines } from './pipeline/pipeline.js';
import { type RunAs, resolveRunAs, UnknownAccount } from './process/privileges.js';

export interface PreparedConfig {
  readonly loaded: LoadedConfig;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly aliases: AliasTable;
  /** Absent when there is nothing to check at RCPT (no local domains, no route recipient lists). */
  readonly recipientCheck: DeliveryRecipientCheck | undefined;
}

export async function buildPipelines(loaded: LoadedConfig, log: Logger): Promise<Map<string, Pipeline>> {
  const pipelines = new Map<string, Pipeline>();
  const problems: ConfigProblem[] = [];
  // What plugins may know of the gateway they run in (ctx.gateway): listeners, local and routed domains.
  const gateway = gatewayInfo(loaded.config, loaded.queuePath);
  for (const spec of loaded.pipelines.values()) {
    try {
      pipelines.set(spec.name, await buildPipeline(spec, log, loaded.config.hook_timeout, { gateway }));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else {
        await shutdownPipelines(pipelines, log);
        throw err;
      }
    }
  }
  if (problems.length) {
    await shutdownPipelines(pipelines, log);
    throw new ConfigError(problems);
  }
  return pipelines;
}

/**
 * The account `user:` and `group:` name, looked up now, so a name that does not
 * exist is a configuration error at its key (check config says so too), not a
 * failure at start.
 */
export function resolveAccount(loaded: LoadedConfig): RunAs | undefined {
  const { user, group } = loaded.config;
  if (user === undefined) return undefined;
  try {
    return resolveRunAs(user, group);
  } catch (err) {
    if (err instanceof UnknownAccount) throw new ConfigError([loaded.source.problem([err.key], err.message)]);
    throw err;
  }
}

export async function prepareConfig(loaded: LoadedConfig, log: Logger): Promise<PreparedConfig> {
  const problems: ConfigProblem[] = [];
  const collect = (err: unknown) => {
    if (err instanceof ConfigError) problems.push(...err.problems);
    else throw err;
  };
  try {
    resolveAccount(loaded);
  } catch (err) {
    collect(err);
  }
  let aliases: AliasTable = {};
  try {
    aliases = readAliasTable(loaded);
  } catch (err) {
    collect(err);
  }
  let pipelines: Map<string, Pipeline> | undefined;
  try {
    pipelines = await buildPipelines(loaded, log);
  } catch (err) {
    collect(err);
  }
  let recipientCheck: DeliveryRecipientCheck | undefined;
  if (pipelines) {
    try {
      recipientCheck = createRecipientCheck(loaded, pipelines, () => aliases, log);
    } catch (err) {
      collect(err);
    }
  }
  if (problems.length) {
    if (pipelines) await shutdownPipelines(pipelines, log);
    throw new ConfigError(problems);
  }
  return { loaded, pipelines: pipelines!, aliases, recipientCheck };
}
