/*
 * Starts the real gateway as a child process (node bin/qgate.js start) with a
 * private temporary directory, config and queue, on a free port, and gives
 * tests its port, its log lines and ways to stop or SIGKILL it. Every wait
 * (a log line, the exit after SIGTERM, a CLI run, a client program) has a
 * time limit: a gateway or client that hangs fails its test, never the suite.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
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
  /** Settings under queue: besides its path. */
  readonly queue?: Record<string, unknown>;
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
  /**
   * SIGTERM and wait for exit; returns the exit code. A gateway still running
   * after `timeoutMs` is killed and the call throws: it must stop within
   * shutdown_grace (5 s here).
   */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Removes the directory. */
  cleanup(): void;
}

/** Gateways of parallel tests must not race for the default admin port. */
const ADMIN_ON_FREE_PORT = 'admin:\n  port: 0';

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
  path: ./queue${opts.queue ? `\n${yamlMap(opts.queue, '  ')}` : ''}
log:
  level: debug
shutdown_grace: 5s
delivery:${opts.delivery ?? '\n  enabled: false'}
${opts.extra?.includes('admin:') ? '' : ADMIN_ON_FREE_PORT}
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

/**
 * How long a start may take until the gateway listens. It takes 1 to 3 s; with
 * other suites compiling and fuzzing on two shared cores it took over 10 s.
 */
const START_TIMEOUT_MS = 30_000;
/** How long a stopped gateway may take to exit: shutdown_grace is 5 s, a loaded machine gets the rest. */
const STOP_TIMEOUT_MS = 30_000;
/** How long a SIGKILLed process may take to be reaped. */
const KILL_TIMEOUT_MS = 10_000;
/** A qgate command (queue list, flush, ...) that takes longer than this is hung. */
const CLI_TIMEOUT_MS = 30_000;
/** A client program (smtplib, swaks, openssl) that takes longer than this is hung. */
const RUN_TIMEOUT_MS = 120_000;

/** Gateways of this test process that are still running: killed when it exits, whatever a test left behind. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Resolves with `promise`, or rejects with `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'qgate-test-'));
  const configFile = opts.configText === undefined ? writeConfig(dir, opts) : join(dir, 'config.yaml');
  if (opts.configText !== undefined) writeFileSync(configFile, opts.configText);
  const child = spawn(process.execPath, [QGATE, 'start', '--config', configFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // A gateway a failed test never stopped must not keep the test file running after its last
  // test (node waits for every handle): neither it nor its pipes hold the event loop. Every
  // wait on them has its own timer, which does.
  child.unref();
  for (const pipe of [child.stdout, child.stderr]) (pipe as Socket).unref();
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
  // 'close', not 'exit': the last log lines are in only once stdout is closed.
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));

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

  let listening: LogLine;
  try {
    listening = await waitForLog((l) => l.event === 'listening', START_TIMEOUT_MS);
  } catch (err) {
    // A gateway that did not come up is killed here: nobody else holds it, and its pipes
    // would keep the test process alive after the last test, so the file would never end.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await within(exited, KILL_TIMEOUT_MS, 'gateway exit after SIGKILL');
    if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    port: listening.port as number,
    queueDir: join(dir, 'queue'),
    configFile,
    process: child,
    logs,
    waitForLog,
    portOf: async (name) => (await waitForLog((l) => l.event === 'listening' && l.listener === name)).port as number,
    async stop(timeoutMs = STOP_TIMEOUT_MS) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      try {
        return await within(exited, timeoutMs, 'gateway exit after SIGTERM');
      } catch (err) {
        child.kill('SIGKILL');
        await within(exited, KILL_TIMEOUT_MS, 'gateway exit after SIGKILL');
        throw new Error(`${(err as Error).message}; killed. stderr: ${stderr}`);
      }
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await within(exited, KILL_TIMEOUT_MS, 'gateway exit after SIGKILL');
      }
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Output of a program run to completion. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Spawns `cmd` and collects its output until it exits; one still running after
 * `timeoutMs` is SIGKILLed and the promise rejects with what it printed.
 */
function collect(cmd: string, args: string[], cwd: string | undefined, input: string | undefined, timeoutMs: number) {
  return new Promise<RunResult>((res, rej) => {
    const child = spawn(cmd, args, { cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(
        new Error(`${cmd} ${args.join(' ')}: still running after ${timeoutMs} ms, killed\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    // 'close', not 'exit': the output is complete only once the pipes are.
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined).end(input);
  });
}

/** Runs `qgate ARGS` to completion; returns exit code and output. */
export function runCli(args: string[], cwd = REPO, timeoutMs = CLI_TIMEOUT_MS): Promise<RunResult> {
  return collect(process.execPath, [QGATE, ...args], cwd, undefined, timeoutMs);
}

/** Runs any program; resolves with its exit code and output. */
export function run(cmd: string, args: string[], input?: string, timeoutMs = RUN_TIMEOUT_MS): Promise<RunResult> {
  return collect(cmd, args, undefined, input ?? '', timeoutMs);
}
