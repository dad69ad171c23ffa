/*
 * Starts the real gateway as a child process (node bin/qgate.js start) with a
 * private temporary directory, config and queue, on a free port, and gives
 * tests its port, its log lines and ways to stop or SIGKILL it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
export const QGATE = join(REPO, 'bin', 'qgate.js');

export interface GatewayOptions {
  /** Extra keys for the listener entry (limits, policies). */
  readonly listener?: Record<string, unknown>;
  /** Plugin entries of the listener's pipeline, as YAML text (a list). */
  readonly plugins?: string;
  /** Extra top-level YAML. */
  readonly extra?: string;
  /** More listener entries (YAML list items, indented by two spaces). */
  readonly extraListeners?: string;
  /** More pipelines (YAML map entries, indented by two spaces). */
  readonly extraPipelines?: string;
  /** The delivery section (YAML map entries, indented by two spaces); without it delivery is off. */
  readonly delivery?: string;
  /** The whole config.yaml, instead of the one built from the options above. */
  readonly configText?: string;
  /** Reuse an existing directory (restart after a crash). */
  readonly dir?: string;
}

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly event?: string;
  readonly [key: string]: unknown;
}

export interface Gateway {
  readonly dir: string;
  readonly port: number;
  readonly queueDir: string;
  readonly configFile: string;
  readonly process: ChildProcess;
  readonly logs: LogLine[];
  /** Port of the listener named `name` (extra listeners listen on port 0 too). */
  portOf(name: string): Promise<number>;
  /** Resolves with the first log line matching `pred` (waits for it). */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Removes the directory. */
  cleanup(): void;
}

const DEFAULT_PLUGINS = `
      - use: rcpthosts
        with:
          domains: [example.test, .example.test]`;

function yamlMap(obj: Record<string, unknown>, indent: string): string {
  return Object.entries(obj)
    .map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`)
    .join('\n');
}

export function writeConfig(dir: string, opts: GatewayOptions): string {
  const file = join(dir, 'config.yaml');
  const listenerExtra = opts.listener ? `\n${yamlMap(opts.listener, '    ')}` : '';
  writeFileSync(
    file,
    `hostname: mx.qgate.test
queue:
  path: ./queue
log:
  level: debug
shutdown_grace: 5s
delivery:${opts.delivery ?? '\n  enabled: false'}
listeners:
  - name: test
    address: 127.0.0.1
    port: 0
    pipeline: inbound${listenerExtra}${opts.extraListeners ?? ''}
pipelines:
  inbound:
    plugins:${opts.plugins ?? DEFAULT_PLUGINS}${opts.extraPipelines ?? ''}
${opts.extra ?? ''}
`,
  );
  return file;
}

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'qgate-test-'));
  const configFile = opts.configText === undefined ? writeConfig(dir, opts) : join(dir, 'config.yaml');
  if (opts.configText !== undefined) writeFileSync(configFile, opts.configText);
  const child = spawn(process.execPath, [QGATE, 'start', '--config', configFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      if (!line.trim()) continue;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.pred(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          res(l);
        },
      });
      void exited.then((code) => {
        clearTimeout(timer);
        rej(new Error(`gateway exited (${code}) before the log line; stderr: ${stderr}`));
      });
    });
  };

  // A loaded machine can take seconds to start node. A gateway that does not say it listens in
  // time is killed: left running, it would keep the test process alive after the test failed.
  const listening = await waitForLog((l) => l.event === 'listening', 30_000).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw err;
  });
  return {
    dir,
    port: listening.port as number,
    queueDir: join(dir, 'queue'),
    configFile,
    process: child,
    logs,
    waitForLog,
    portOf: async (name) => (await waitForLog((l) => l.event === 'listening' && l.listener === name)).port as number,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `qgate ARGS` to completion; returns exit code and output. */
export function runCli(args: string[], cwd = REPO): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [QGATE, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('exit', (code) => res({ code, stdout, stderr }));
  });
}

/** Runs any program; resolves with its exit code and output. */
export function run(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.on('error', rej);
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('exit', (code) => res({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
