/*
 * The admin listener: one small HTTP server (node:http) for operators. It
 * serves Prometheus /metrics, the status page and its JSON, and the JSON API
 * behind `qgate queue`, `qgate reload` and `qgate stop` (shapes: README "Admin
 * API"). With a token, every data path needs `Authorization: Bearer <token>`;
 * without one, /metrics and /api/status are open (loopback only, counts only)
 * and the rest needs this run's local token (core/admin/endpoint.ts). The
 * page's static files carry no data and are served to anyone who reaches it.
 * Bounded: request bodies, header and request time, connections.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { RelayGrantAnswer, RelayGrantRequest } from '../hooks/types.js';
import { gatewayMetrics } from '../metrics/metrics.js';
import type { MessageQueue } from '../queue/queue.js';
import { QUEUE_ID_PATTERN } from '../queue/queue.js';
import { type ActionScheduler, applyQueueAction, BadRequest, checkAction, NoSuchMessage } from './queue-actions.js';
import { type ReloadOutcome, reloadGateway } from './reload.js';
import type { AdminSettings } from './settings.js';

/** What the admin listener reaches in the running gateway. */
export interface AdminTarget {
  readonly queue: MessageQueue;
  /** The running scheduler, if delivery is on (read at each request: a reload may change it). */
  readonly scheduler: ActionScheduler | undefined;
  readonly log: Logger;
  reload(): Promise<ReloadOutcome>;
  /** Starts the graceful stop the way SIGTERM does; the process exits when it is over. */
  requestStop(): void;
  /** Asks the pipelines' relayGrant hook (relay-ctrl); undefined if no plugin keeps relay grants. */
  grantRelay(request: RelayGrantRequest): Promise<RelayGrantAnswer | undefined>;
}

/** The longest relay grant an operator can give at once (a day): a typo in --for must not open relaying for a year. */
const MAX_RELAY_GRANT_MS = 24 * 3600_000;

/** A queue command's body is `{}` or `{"id": ...}`; nothing needs more. */
const MAX_BODY = 4096;
/** How long a queue command waits for the delivery runs it caused, unless ?wait= says otherwise. */
const DEFAULT_WAIT_MS = 30_000;
const MAX_WAIT_MS = 300_000;
const MAX_CONNECTIONS = 64;
/** Without a configured token: what any local user may read (counts, no addresses). */
const OPEN_WITHOUT_TOKEN = new Set(['/metrics', '/api/status']);

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'status.html', type: 'text/html; charset=utf-8' },
  '/status.js': { file: 'status.js', type: 'text/javascript; charset=utf-8' },
  '/status.css': { file: 'status.css', type: 'text/css; charset=utf-8' },
};
// The page's files ship as they are (package.json "files": core/admin/assets), next to the compiled code.
const ASSET_DIR = new URL('../../../core/admin/assets/', import.meta.url);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class AdminServer {
  private server: Server | undefined;
  private readonly tokenDigest: Buffer | undefined;
  private readonly localDigest: Buffer | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly settings: AdminSettings,
    private readonly target: AdminTarget,
    localToken: string | undefined,
  ) {
    this.tokenDigest = settings.token === undefined ? undefined : digest(settings.token);
    this.localDigest = localToken === undefined ? undefined : digest(localToken);
  }

  /** Binds; resolves with the address and port (the port may have been 0). */
  listen(): Promise<{ address: string; port: number }> {
    const server = createServer({ requestTimeout: 60_000 + MAX_WAIT_MS, headersTimeout: 10_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.target.log.error({ err, event: 'admin' }, 'admin request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error; see the log' });
        else res.destroy();
      });
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    const { address, port } = this.settings;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message;
        reject(
          new Error(`admin listener: cannot listen on ${address}:${port}: ${why} (set admin.port, or admin.enabled: false)`),
        );
      });
      server.listen({ host: address, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.target.log.error({ err, event: 'admin' }, 'admin listener error'));
        const a = server.address();
        resolve({ address, port: typeof a === 'object' && a ? a.port : port });
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  private authorized(req: IncomingMessage, path: string): boolean {
    const wanted = this.tokenDigest ?? (OPEN_WITHOUT_TOKEN.has(path) ? undefined : this.localDigest);
    if (!wanted) return true;
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    // Digests of equal length, so the comparison takes the same time whatever was sent.
    return m !== null && timingSafeEqual(digest(m[1]!), wanted);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const asset = ASSETS[path === '/status' ? '/' : path];
    try {
      if (asset) {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET');
        const body = readFileSync(new URL(asset.file, ASSET_DIR));
        res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' }).end(body);
        return;
      }
      if (!this.authorized(req, path)) {
        res.setHeader('www-authenticate', 'Bearer realm="qgate"');
        throw new HttpError(401, 'a valid bearer token is required');
      }
      if (path === '/metrics') {
        if (req.method !== 'GET') throw new HttpError(405, 'use GET');
        const metrics = await gatewayMetrics();
        const text = await metrics.metrics();
        res.writeHead(200, { 'content-type': metrics.contentType }).end(text);
        return;
      }
      if (path.startsWith('/api/')) {
        const { status, body } = await this.api(req, path.slice('/api/'.length), url.searchParams);
        send(res, status, body);
        return;
      }
      throw new HttpError(404, `no such path ${path}`);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, { error: err.message });
      else if (err instanceof NoSuchMessage) send(res, 404, { error: err.message });
      else if (err instanceof BadRequest) send(res, 400, { error: err.message });
      else throw err;
    }
  }

  private async api(req: IncomingMessage, path: string, query: URLSearchParams): Promise<{ status: number; body: unknown }> {
    const { queue, log } = this.target;
    const parts = path.split('/');
    if (req.method === 'GET') {
      if (path === 'status') {
        const metrics = await (await gatewayMetrics()).getMetricsAsJSON();
        return {
          status: 200,
          body: { time: Date.now(), pid: process.pid, startedAt: new Date(this.startedAt).toISOString(), metrics },
        };
      }
      if (path === 'queue') return { status: 200, body: await queue.list() };
      if (path === 'queue/stat') return { status: 200, body: await queue.stat() };
      if (parts[0] === 'queue' && parts.length === 2) {
        const id = parts[1]!;
        if (!QUEUE_ID_PATTERN.test(id)) throw new BadRequest(`not a queue id: ${JSON.stringify(id)}`);
        const envelope = await queue.envelope(id);
        if (!envelope) throw new NoSuchMessage(id);
        return { status: 200, body: { envelope, state: (await queue.readState(id)) ?? null } };
      }
      throw new HttpError(404, `no such path /api/${path}`);
    }
    if (req.method !== 'POST') throw new HttpError(405, 'use GET or POST');
    const body = await readBody(req);
    if (path === 'reload') {
      log.info({ event: 'control', action: 'reload' }, 'reload requested through the admin API');
      const outcome = await reloadGateway(this.target);
      return { status: outcome.ok ? 200 : 422, body: outcome };
    }
    if (path === 'stop') {
      log.info({ event: 'control', action: 'stop' }, 'stop requested through the admin API');
      // Answered first: the stop closes this listener.
      setImmediate(() => this.target.requestStop());
      return { status: 202, body: { stopping: true, pid: process.pid } };
    }
    if (path === 'relay') {
      const address = typeof body.address === 'string' ? body.address : '';
      if (isIP(address) === 0) throw new BadRequest(`address: expected an IP address, got ${JSON.stringify(body.address)}`);
      const forMs = body.forMs;
      if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs <= 0 || forMs > MAX_RELAY_GRANT_MS)
        throw new BadRequest(`forMs: expected milliseconds from 1 to ${MAX_RELAY_GRANT_MS}`);
      const by = typeof body.by === 'string' && /^[\x21-\x7e]{1,64}$/.test(body.by) ? body.by : 'api';
      const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
      const answer = await this.target.grantRelay({ address: plain, forMs, by });
      if (!answer) throw new HttpError(409, 'no plugin keeps relay grants: add relay-ctrl to a pipeline');
      log.info({ event: 'control', action: 'relay', client: plain, until: answer.until }, 'relay grant through the admin API');
      return { status: 200, body: { address: plain, until: new Date(answer.until).toISOString() } };
    }
    // queue/flush, queue/<id>/flush, queue/<id>/remove, queue/<id>/bounce
    if (parts[0] === 'queue' && (parts.length === 2 || parts.length === 3)) {
      const action = parts.length === 2 ? parts[1]! : parts[2]!;
      const id = parts.length === 3 ? parts[1] : typeof body.id === 'string' ? body.id : undefined;
      checkAction(action, id);
      const wait = query.has('wait') ? Number(query.get('wait')) : DEFAULT_WAIT_MS;
      if (!Number.isInteger(wait) || wait < 0 || wait > MAX_WAIT_MS)
        throw new BadRequest(`wait: expected milliseconds from 0 to ${MAX_WAIT_MS}`);
      const outcome = await applyQueueAction(queue, this.target.scheduler, action, id, wait);
      log.info({ event: 'control', action, id, done: outcome.done }, `queue ${action}`);
      return { status: 200, body: outcome };
    }
    throw new HttpError(404, `no such path /api/${path}`);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} octets`);
    chunks.push(chunk as Buffer);
  }
  if (!size) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('request body: not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadRequest('request body: expected an object');
  return value as Record<string, unknown>;
}
