/*
 * testPipeline(): one or more plugins in a real pipeline, in-process, without
 * the gateway. Options are validated and defaults filled exactly as in
 * config.yaml (buildPipeline), the real SMTP engine listens on an ephemeral
 * loopback port and commits to a real file queue in a temporary folder, and
 * the pipeline's log lines are kept for assertions. It does not run delivery,
 * recipient validation of local domains, or other listeners.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { stringify } from 'yaml';
import { ConfigError } from '../config/errors.js';
import { type ListenerConfig, ListenerSchema, type PipelineConfig, PipelineSchema } from '../config/schema.js';
import { SourceFile } from '../config/source.js';
import { parseDuration } from '../config/units.js';
import { validate } from '../config/validate.js';
import type { AuthVerdict, Credentials, Decision, GatewayInfo, UserRecord } from '../hooks/types.js';
import { deliveredMessage } from '../message/delivered.js';
import { DomainSet, type Envelope } from '../model/index.js';
import { installApiResolution } from '../pipeline/api-resolution.js';
import { listenerInfo, routedDomains } from '../pipeline/gateway-info.js';
import { buildPipeline, type Pipeline } from '../pipeline/pipeline.js';
import { loadPlugin, type PluginLoader } from '../pipeline/registry.js';
import type { PluginDefinition } from '../plugin-api/index.js';
import { FileQueue } from '../queue/file-queue.js';
import { SmtpListener } from '../smtp/server.js';
import { captureLogs, type LogCapture, type LogRecord } from './log-capture.js';
import { type SmtpReply, SmtpTestClient } from './smtp-client.js';

interface EntrySettings {
  /** The plugin's options, as `with:` in a pipeline file. */
  readonly with?: Readonly<Record<string, unknown>>;
  /** Instance name, as `name:` in a pipeline file. */
  readonly name?: string;
  /** Per-hook time limit ("300ms", or milliseconds), as `timeout:`. */
  readonly timeout?: number | string;
}

/** A pipeline entry: a plugin definition (imported from its module), or a `use:` as in a pipeline file. */
export type TestPlugin = (EntrySettings & { readonly plugin: PluginDefinition }) | (EntrySettings & { readonly use: string });

export interface TestPipelineOptions {
  /** The pipeline's plugins, in order. */
  readonly plugins: readonly TestPlugin[];
  /** Listener settings as in config.yaml (name, limits, ...); the name defaults to "test". */
  readonly listener?: Readonly<Record<string, unknown>>;
  /** The gateway's host name (greeting, Received header). Default: mx.example.test. */
  readonly hostname?: string;
  /** hook_timeout: time limit for one handler. Default "30s", as in config.yaml. */
  readonly hookTimeout?: number | string;
  /** Folder that `use:` paths and plugins' relative option paths start from. Default: the working directory. */
  readonly dir?: string;
  /**
   * Names of the gateway's other listeners (ctx.gateway.listeners lists them after the test's
   * own, on this pipeline), for options that name listeners (size.listeners). Default: none.
   */
  readonly otherListeners?: readonly string[];
  /** What ctx.gateway.localDomains holds, as delivery.local_domains. Default: none. */
  readonly localDomains?: readonly string[];
  /** The domains of delivery.routes, for ctx.gateway.routedDomains. Default: none. */
  readonly routedDomains?: readonly string[];
  /** Log level of the captured logs. Default "debug" (directory lookups included). */
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

/** One whole transaction sent by sendMail(), reply by reply. */
export interface MailResult {
  readonly greeting: SmtpReply;
  readonly ehlo?: SmtpReply;
  readonly mail?: SmtpReply;
  readonly rcpt: readonly SmtpReply[];
  /** The reply at the end of the message, or the refusal of DATA itself. */
  readonly data?: SmtpReply;
  /** Queue id from "250 2.0.0 Ok: queued as ID". */
  readonly queueId?: string;
  /** The transaction's log line ("queued", "rejected" or "aborted", with every decision), if it got one. */
  readonly record?: LogRecord;
  /** Every decision recorded on the transaction (plugin, hook, action, reason, code, ms), in order. */
  readonly decisions: readonly Decision[];
}

export interface MailToSend {
  readonly from: string;
  readonly to: readonly string[];
  /** Header and body; LF line ends are fine. Default: a short message with a Subject. */
  readonly message?: string | Buffer;
  /** EHLO argument. Default: client.example.test. */
  readonly helo?: string;
}

/** A message the core committed to the test queue. */
export interface QueuedMessage {
  readonly id: string;
  readonly envelope: Envelope;
  /** The stored message: the Received header the gateway prepended, then what the client sent (CRLF). */
  readonly content: string;
  /** Header fields plugins added with transaction.addHeader (prepended on delivery). */
  readonly addedHeaders: readonly { readonly name: string; readonly value: string }[];
  /** The message as delivery sends it: fields plugins removed left out, added ones after the Received field. */
  readonly delivered: string;
}

export interface TestPipeline {
  /** The loopback port the SMTP engine listens on. */
  readonly port: number;
  readonly hostname: string;
  /** Every log line of the pipeline so far, parsed. */
  readonly logs: readonly LogRecord[];
  /** Opens an SMTP connection; the greeting is in client.greeting. */
  connect(): Promise<SmtpTestClient>;
  /** EHLO, MAIL, each RCPT, DATA and QUIT on a new connection, stopping where the server refuses. */
  sendMail(mail: MailToSend): Promise<MailResult>;
  /** Messages committed to the queue, oldest first. */
  queued(): Promise<QueuedMessage[]>;
  /** The log lines of ended transactions (event "message"), in order. */
  transactions(): LogRecord[];
  /** Waits for a log line (one already written counts). */
  waitForLog(match: (record: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  /** The lookupUser hooks, as ctx.users.lookup() asks them. */
  lookupUser(address: string): Promise<UserRecord | null | undefined>;
  /** The authenticate hooks, as ctx.users.authenticate() asks them. */
  authenticate(credentials: Credentials): Promise<AuthVerdict | undefined>;
  /** Runs the reload hooks, as SIGHUP does. */
  reload(): Promise<void>;
  /** Stops the listener (421 to open sessions), runs the shutdown hooks and removes the temporary folder. */
  close(): Promise<void>;
}

const DEFAULT_MESSAGE = 'Subject: test\r\nFrom: <sender@example.test>\r\n\r\nA test message.\r\n';

function entryOf(plugin: TestPlugin, use: string): Record<string, unknown> {
  return {
    use,
    ...(plugin.name !== undefined ? { name: plugin.name } : {}),
    ...(plugin.with !== undefined ? { with: plugin.with } : {}),
    ...(plugin.timeout !== undefined ? { timeout: plugin.timeout } : {}),
  };
}

/** Problems in a test's options point at keys of the options, not at lines of a file nobody wrote. */
function asTestProblems(err: ConfigError): ConfigError {
  return new ConfigError(err.problems.map((p) => ({ ...p, file: 'testPipeline', line: 0, column: 0 })));
}

export async function testPipeline(options: TestPipelineOptions): Promise<TestPipeline> {
  installApiResolution();
  const dir = resolve(options.dir ?? process.cwd());
  const hookTimeout = parseDuration(options.hookTimeout ?? '30s');
  if (hookTimeout === undefined) throw new Error(`hookTimeout: expected a duration like "5s", got ${options.hookTimeout}`);

  // Plugins given as definitions get a `use:` that only this pipeline's loader knows.
  const definitions = new Map<string, PluginDefinition>();
  const entries = options.plugins.map((plugin, index) => {
    if (!('plugin' in plugin)) return entryOf(plugin, plugin.use);
    const use = `<definition ${plugin.plugin.name} #${index}>`;
    definitions.set(use, plugin.plugin);
    return entryOf(plugin, use);
  });
  const load: PluginLoader = async (use, fromDir) => {
    const definition = definitions.get(use);
    return definition ? { file: use, source: { kind: 'in-memory' }, definition } : loadPlugin(use, fromDir);
  };

  const source = SourceFile.parse(
    stringify({
      listener: { name: 'test', ...options.listener, address: '127.0.0.1', port: 0, pipeline: 'test' },
      plugins: entries,
    }),
    'testPipeline',
  );
  const listenerChecked = validate<ListenerConfig>(ListenerSchema, source.value(['listener']), source, ['listener']);
  const pipelineChecked = validate<PipelineConfig>(PipelineSchema, { plugins: source.value(['plugins']) }, source, []);
  const problems = [
    ...(listenerChecked.ok ? [] : listenerChecked.problems),
    ...(pipelineChecked.ok ? [] : pipelineChecked.problems),
  ];
  if (!listenerChecked.ok || !pipelineChecked.ok) throw asTestProblems(new ConfigError(problems));
  const listenerConfig = listenerChecked.value;

  const hostname = options.hostname ?? 'mx.example.test';
  // The gateway as the plugins see it: this one listener, and the domains the test names.
  const gateway: GatewayInfo = Object.freeze({
    hostname,
    listeners: Object.freeze([
      listenerInfo(listenerConfig, hostname),
      ...(options.otherListeners ?? [])
        .filter((name) => name !== listenerConfig.name)
        .map((name) => listenerInfo({ ...listenerConfig, name }, hostname)),
    ]),
    localDomains: new DomainSet(options.localDomains),
    routedDomains: routedDomains((options.routedDomains ?? []).map((domain) => ({ domain }))),
  });

  const logs = captureLogs(options.logLevel ?? 'debug');
  let pipeline: Pipeline;
  try {
    pipeline = await buildPipeline(
      { name: 'test', source, basePath: [], dir, entries: pipelineChecked.value.plugins },
      logs.log,
      hookTimeout,
      { load, gateway },
    );
  } catch (err) {
    throw err instanceof ConfigError ? asTestProblems(err) : err;
  }
  await pipeline.hooks.init.promise({ log: logs.log });

  const workDir = mkdtempSync(join(tmpdir(), 'qgate-testing-'));
  const queue = new FileQueue(join(workDir, 'queue'));
  let listener: SmtpListener;
  let port: number;
  try {
    await queue.open();
    listener = new SmtpListener(
      { listener: listenerConfig, hostname, pipeline, queue, log: logs.log.child({ listener: listenerConfig.name }) },
      logs.log,
    );
    ({ port } = await listener.listen());
  } catch (err) {
    await queue.close();
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
  return new RunningTestPipeline(port, hostname, pipeline, queue, listener, logs, workDir);
}

class RunningTestPipeline implements TestPipeline {
  private closing: Promise<void> | undefined;

  constructor(
    readonly port: number,
    readonly hostname: string,
    private readonly pipeline: Pipeline,
    private readonly queue: FileQueue,
    private readonly listener: SmtpListener,
    private readonly capture: LogCapture,
    private readonly workDir: string,
  ) {}

  get logs(): readonly LogRecord[] {
    return this.capture.records;
  }

  connect(): Promise<SmtpTestClient> {
    return SmtpTestClient.connect(this.port);
  }

  async sendMail(mail: MailToSend): Promise<MailResult> {
    const client = await this.connect();
    const rcpt: SmtpReply[] = [];
    const result: { -readonly [K in keyof MailResult]: MailResult[K] } = { greeting: client.greeting, rcpt, decisions: [] };
    try {
      if (client.greeting.code !== 220) return result;
      result.ehlo = await client.command(`EHLO ${mail.helo ?? 'client.example.test'}`);
      if (result.ehlo.code !== 250) return result;
      result.mail = await client.command(`MAIL FROM:<${mail.from}>`);
      if (result.mail.code !== 250) return result;
      for (const to of mail.to) {
        rcpt.push(await client.command(`RCPT TO:<${to}>`));
        if (client.closed) return result;
      }
      if (!rcpt.some((r) => r.code === 250)) return result;
      result.data = await client.data(mail.message ?? DEFAULT_MESSAGE);
      const queueId = /queued as (\S+)/.exec(result.data.full)?.[1];
      if (result.data.code === 250 && queueId) result.queueId = queueId;
      return result;
    } finally {
      if (!client.closed) await client.quit().catch(() => client.close());
      const record = await this.recordOf(client.localPort);
      if (record) {
        result.record = record;
        result.decisions = Array.isArray(record.decisions) ? (record.decisions as Decision[]) : [];
      }
    }
  }

  /** The transaction log line of the session whose client used `port`. */
  private async recordOf(port: number): Promise<LogRecord | undefined> {
    const connection = await this.capture
      .waitFor((r) => r.event === 'connection' && r.port === port, 5000)
      .catch(() => undefined);
    if (!connection) return undefined;
    const records = this.capture.records;
    for (let i = records.length - 1; i >= 0; i--) {
      if (records[i]!.event === 'message' && records[i]!.session === connection.session) return records[i];
    }
    return undefined;
  }

  async queued(): Promise<QueuedMessage[]> {
    const out: QueuedMessage[] = [];
    for (const id of await this.queue.ids()) {
      const envelope = await this.queue.envelope(id);
      const stream = this.queue.readMessage(id);
      if (!envelope || !stream) continue;
      const delivered = this.queue.readMessage(id);
      out.push({
        id,
        envelope,
        content: await text(stream),
        addedHeaders: envelope.addedHeaders,
        delivered: delivered ? await text(deliveredMessage(delivered, envelope.addedHeaders, envelope.removedHeaders)) : '',
      });
    }
    return out;
  }

  transactions(): LogRecord[] {
    return this.capture.records.filter((r) => r.event === 'message');
  }

  waitForLog(match: (record: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord> {
    return this.capture.waitFor(match, timeoutMs);
  }

  lookupUser(address: string): Promise<UserRecord | null | undefined> {
    return this.pipeline.users.lookup(address);
  }

  authenticate(credentials: Credentials): Promise<AuthVerdict | undefined> {
    return this.pipeline.users.authenticate(credentials);
  }

  async reload(): Promise<void> {
    await this.pipeline.hooks.reload.promise({ log: this.capture.log });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.listener.shutdown(0);
        await this.pipeline.hooks.shutdown.promise({ log: this.capture.log });
      } finally {
        await this.queue.close();
        rmSync(this.workDir, { recursive: true, force: true });
      }
    })();
    return this.closing;
  }
}
