/*
 * Starts the admin listener for a running gateway: binds it, tells the CLI
 * where it is (<queue>/admin.url) and points the queue gauges at the queue.
 * Closing undoes all three.
 */

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { setQueueSource } from '../metrics/metrics.js';
import { ENDPOINT_FILE, endpointUrl, removeEndpoint, writeEndpoint } from './endpoint.js';
import { AdminServer, type AdminTarget } from './server.js';
import type { AdminSettings } from './settings.js';

export interface RunningAdmin {
  readonly url: string;
  close(): Promise<void>;
}

/** How often a gateway that started on a full queue disk tries again to record where its API is. */
const ENDPOINT_RETRY_MS = 5_000;

/**
 * Records the API's URL for the CLI. A full queue disk must not keep the gateway down
 * (delivering the queue frees it), so the write is tried again until there is room.
 */
function recordEndpoint(queueRoot: string, url: string, localToken: string | undefined, log: Logger): NodeJS.Timeout | undefined {
  const attempt = (): boolean => {
    try {
      writeEndpoint(queueRoot, url, localToken);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
      return false;
    }
  };
  if (attempt()) return undefined;
  log.warn(
    { event: 'admin', url },
    `queue disk full: cannot record the admin API in ${ENDPOINT_FILE}; qgate reload and stop signal the pid, qgate queue flush|remove|bounce wait for room`,
  );
  const timer = setInterval(() => {
    try {
      if (!attempt()) return;
      log.info({ event: 'admin', url }, `admin API recorded in ${ENDPOINT_FILE}`);
    } catch (err) {
      log.error({ err, event: 'admin' }, `cannot record the admin API in ${ENDPOINT_FILE}`);
    }
    clearInterval(timer);
  }, ENDPOINT_RETRY_MS);
  timer.unref();
  return timer;
}

export async function startAdmin(queueRoot: string, settings: AdminSettings, target: AdminTarget): Promise<RunningAdmin> {
  // Without a configured token, changing the queue takes this run's token, which only
  // those who may read the queue directory can read (admin.token, mode 0600).
  const localToken = settings.token === undefined ? randomBytes(32).toString('base64url') : undefined;
  const server = new AdminServer(settings, target, localToken);
  const at = await server.listen();
  const url = endpointUrl(at.address, at.port);
  const retry = recordEndpoint(queueRoot, url, localToken, target.log);
  setQueueSource(() => target.queue.census());
  target.log.info({ event: 'admin', address: at.address, port: at.port, url }, 'admin listening');
  return {
    url,
    async close() {
      if (retry) clearInterval(retry);
      setQueueSource(undefined);
      removeEndpoint(queueRoot);
      await server.close();
    },
  };
}
