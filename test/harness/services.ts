/*
 * Starts the real backing services of the tests (slapd, PostgreSQL, clamd, spamd) through
 * test/services/start-*.sh, each in a private directory under /tmp on a free loopback port, and
 * gives tests the connection facts, stop(), kill() (SIGKILL of every process of the instance: the
 * backend dies mid-run) and restart() on the same port with the same data. Whatever still runs
 * when the test process exits is killed and its directory removed; instances left by a test
 * process that was itself SIGKILLed are swept by the next start. Installs nothing (test/run.sh does).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO } from './gateway.js';

export type ServiceName = 'slapd' | 'postgres' | 'clamd' | 'spamd';

/** What every started service offers. */
export interface Service {
  readonly name: ServiceName;
  /** Private directory of this instance (configuration, data, log, samples). */
  readonly dir: string;
  /** The daemon's log file, for assertion messages. */
  readonly logFile: string;
  readonly host: string;
  readonly port: number;
  /** The `export` lines of the start script, as a map (e.g. PGHOST, LDAP_URL, CLAMD_SOCKET). */
  readonly env: Readonly<Record<string, string>>;
  /** Pid of the daemon, the leader of its process group; a new one after each restart. */
  readonly pid: number;
  /** Stops the daemon gracefully (its stop script) and keeps the data. */
  stop(): Promise<void>;
  /** SIGKILLs every process of the instance at once, as if it crashed, and waits until they are gone. */
  kill(): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

export interface SlapdService extends Service {
  /** ldap://127.0.0.1:port, which offers StartTLS. */
  readonly url: string;
  /** ldaps://127.0.0.1:port, TLS from the start. */
  readonly tlsUrl: string;
  /** PEM of the private CA that signed the server certificate (for 127.0.0.1 and localhost). */
  readonly caFile: string;
  readonly baseDn: string;
  readonly peopleDn: string;
  /** The subtree in the qmail-ldap layout (objectClass qmailUser). */
  readonly qmailDn: string;
  readonly adminDn: string;
  readonly adminPassword: string;
  /** The gateway's read-only service account. */
  readonly bindDn: string;
  readonly bindPassword: string;
}

export interface PostgresService extends Service {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** postgres://user:password@host:port/database */
  readonly url: string;
  /** Directory of the unix socket (logins there are trusted). */
  readonly socketDir: string;
}

export interface ClamdService extends Service {
  readonly socket: string;
  readonly conf: string;
  readonly samples: {
    readonly eicar: string;
    readonly eicarAttachment: string;
    readonly marker: string;
    readonly clean: string;
  };
}

export interface SpamdService extends Service {
  /** spamd's unix socket (it listens there and on host:port). */
  readonly socket: string;
  readonly samples: { readonly gtube: string; readonly ham: string };
}

interface ServiceMap {
  slapd: SlapdService;
  postgres: PostgresService;
  clamd: ClamdService;
  spamd: SpamdService;
}

const SCRIPTS = join(REPO, 'test', 'services');
/** Short on purpose: unix socket paths hold at most 107 bytes. Not os.tmpdir(): TMPDIR may be long. */
const TMP = '/tmp';
const BASE_PREFIX = 'qgate-svc-';
/** The start scripts exit with this when the port was taken between our probe and their bind. */
const EX_PORT_TAKEN = 75;
const PORT_ATTEMPTS = 5;
/** Service ports are picked from here up to the start of the ephemeral range (see freePort). */
const FIRST_PORT = 10_000;
const SCRIPT_TIMEOUT_MS = 150_000;
const GONE_TIMEOUT_MS = 10_000;

/** Where each daemon keeps its pid and log, relative to its directory. */
const LAYOUT: Record<ServiceName, { pidFile: string; log: string }> = {
  slapd: { pidFile: 'slapd.pid', log: 'slapd.log' },
  postgres: { pidFile: 'data/postmaster.pid', log: 'postgres.log' },
  clamd: { pidFile: 'clamd.pid', log: 'clamd.log' },
  spamd: { pidFile: 'spamd.pid', log: 'spamd.log' },
};

/** Starts a private instance of `name` and resolves when it answers its own protocol. */
export async function startService<N extends ServiceName>(name: N): Promise<ServiceMap[N]> {
  const instance = new Instance(name, join(baseDir(), `${name}-${++instanceCount}`));
  // A start that fails has stopped what it launched; the directory goes with the rest at exit.
  await instance.start();
  return describeService(instance) as ServiceMap[N];
}

class Instance {
  port = 0;
  /** A second port some services listen on too (slapd: ldaps://); 0 for the others. */
  tlsPort = 0;
  env: Record<string, string> = {};
  /** The last lifecycle step; the next one waits for it, so close() never races a restart. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: ServiceName,
    readonly dir: string,
  ) {}

  get pid(): number {
    return pidFrom(join(this.dir, LAYOUT[this.name].pidFile)) ?? 0;
  }

  start(): Promise<void> {
    return this.step(async () => {
      let lastError: Error | undefined;
      for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        const port = await freePort();
        let tlsPort = 0;
        while (this.name === 'slapd' && (tlsPort === 0 || tlsPort === port)) tlsPort = await freePort();
        const started = await runStart(this.name, this.dir, port, tlsPort);
        if (!started.portTaken) {
          this.port = port;
          this.tlsPort = tlsPort;
          this.env = started.env;
          return;
        }
        lastError = new Error(`${this.name}: port ${port} was taken before the daemon could bind it`);
      }
      throw lastError;
    });
  }

  stop(): Promise<void> {
    return this.step(async () => {
      await runScript(`stop-${this.name}.sh`, [this.dir]);
    });
  }

  kill(): Promise<void> {
    return this.step(() => killAllIn(this.dir, this.name));
  }

  restart(): Promise<void> {
    return this.step(async () => {
      await runScript(`stop-${this.name}.sh`, [this.dir]);
      const started = await runStart(this.name, this.dir, this.port, this.tlsPort);
      if (started.portTaken)
        throw new Error(`${this.name}: port ${this.port} or ${this.tlsPort} was taken while the service was down`);
      this.env = started.env;
    });
  }

  close(): Promise<void> {
    return this.step(async () => {
      try {
        await runScript(`stop-${this.name}.sh`, [this.dir]);
      } finally {
        rmSync(this.dir, { recursive: true, force: true });
      }
    });
  }

  private step<T>(work: () => Promise<T>): Promise<T> {
    const next = this.last.then(work, work);
    this.last = next.catch(() => {});
    return next;
  }
}

function describeService(instance: Instance): Service {
  const get = (key: string): string => {
    const value = instance.env[key];
    if (value === undefined) throw new Error(`${instance.name}: the start script printed no ${key}`);
    return value;
  };
  const base = {
    name: instance.name,
    dir: instance.dir,
    logFile: join(instance.dir, LAYOUT[instance.name].log),
    host: '127.0.0.1',
    port: instance.port,
    get env(): Readonly<Record<string, string>> {
      return instance.env;
    },
    get pid(): number {
      return instance.pid;
    },
    stop: () => instance.stop(),
    kill: () => instance.kill(),
    restart: () => instance.restart(),
    close: () => instance.close(),
  };
  // The facts do not change on restart (same directory, same port): read them once.
  switch (instance.name) {
    case 'slapd':
      return Object.assign(base, {
        url: get('LDAP_URL'),
        tlsUrl: get('LDAP_TLS_URL'),
        caFile: get('LDAP_CA_FILE'),
        baseDn: get('LDAP_BASE_DN'),
        peopleDn: get('LDAP_PEOPLE_DN'),
        qmailDn: get('LDAP_QMAIL_DN'),
        adminDn: get('LDAP_ADMIN_DN'),
        adminPassword: get('LDAP_ADMIN_PASSWORD'),
        bindDn: get('LDAP_BIND_DN'),
        bindPassword: get('LDAP_BIND_PASSWORD'),
      }) satisfies SlapdService;
    case 'postgres':
      return Object.assign(base, {
        user: get('PGUSER'),
        password: get('PGPASSWORD'),
        database: get('PGDATABASE'),
        url: get('DATABASE_URL'),
        socketDir: get('PG_SOCKET_DIR'),
      }) satisfies PostgresService;
    case 'clamd': {
      const samples = get('CLAMD_SAMPLES');
      return Object.assign(base, {
        socket: get('CLAMD_SOCKET'),
        conf: get('CLAMD_CONF'),
        samples: {
          eicar: join(samples, 'eicar.com'),
          eicarAttachment: join(samples, 'eicar-attachment.eml'),
          marker: join(samples, 'marker.eml'),
          clean: join(samples, 'clean.eml'),
        },
      }) satisfies ClamdService;
    }
    case 'spamd': {
      const samples = get('SPAMD_SAMPLES');
      return Object.assign(base, {
        get socket(): string {
          return get('SPAMD_SOCKET');
        },
        samples: { gtube: join(samples, 'gtube.eml'), ham: join(samples, 'ham.eml') },
      }) satisfies SpamdService;
    }
  }
}

interface StartResult {
  readonly portTaken: boolean;
  readonly env: Record<string, string>;
}

async function runStart(name: ServiceName, dir: string, port: number, tlsPort: number): Promise<StartResult> {
  try {
    const ports = tlsPort === 0 ? [String(port)] : [String(port), String(tlsPort)];
    const stdout = await runScript(`start-${name}.sh`, [dir, ...ports]);
    return { portTaken: false, env: parseExports(stdout) };
  } catch (err) {
    if ((err as ScriptError).exitCode === EX_PORT_TAKEN) return { portTaken: true, env: {} };
    throw err;
  }
}

interface ScriptError extends Error {
  exitCode?: number | null;
}

/** Runs a script of test/services; rejects with its stderr (which carries the log tail) on failure. */
function runScript(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [join(SCRIPTS, script), ...args],
      { timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const failure: ScriptError = new Error(
          `test/services/${script} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${stderr}`,
        );
        failure.exitCode = typeof err.code === 'number' ? err.code : null;
        reject(failure);
      },
    );
  });
}

/** `export NAME=value` lines; values are single words (paths, DNs without spaces, URLs). */
export function parseExports(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/**
 * A port that was free a moment ago (the start scripts report a race with EX_PORT_TAKEN), chosen
 * below the kernel's ephemeral range: a port inside it could be taken, while the service is down
 * for a restart, by any outgoing connection on the machine as its local port.
 */
async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low - FIRST_PORT < 1000) return listenOnce(0);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(FIRST_PORT + Math.floor(Math.random() * (low - FIRST_PORT)));
    if (port !== 0) return port;
  }
  throw new Error(`no free port between ${FIRST_PORT} and ${low}`);
}

function ephemeralLow(): number {
  try {
    const low = Number.parseInt(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'), 10);
    return Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Listens on 127.0.0.1:port (0: any) and closes again; resolves with the port, or 0 if it was taken. */
function listenOnce(port: number): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(0));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

function pidFrom(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0]!.trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The processes of an instance: every daemon is started in its directory (PostgreSQL moves into its
 * data directory) and its children inherit that, so the working directory finds them all, also
 * PostgreSQL's backends, which leave the postmaster's process group, and a daemon that has not
 * written its pid file yet. A reused pid never matches. Zombies are skipped: they are gone already,
 * waiting for init to reap them.
 */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat[stat.lastIndexOf(')') + 2] !== 'Z') pids.push(Number(entry));
    } catch {
      // Ended while we looked, or not ours to inspect.
    }
  }
  return pids;
}

/** SIGKILLs everything running in `dir`, again until nothing is left (a dying postmaster may still fork). */
async function killAllIn(dir: string, what: string): Promise<void> {
  const deadline = Date.now() + GONE_TIMEOUT_MS;
  for (let pids = processesIn(dir); pids.length > 0; pids = processesIn(dir)) {
    if (Date.now() > deadline) throw new Error(`${what}: pids ${pids.join(' ')} still run ${GONE_TIMEOUT_MS} ms after SIGKILL`);
    for (const pid of pids) signal(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The same at exit, where only synchronous work runs: a few rounds, 20 ms apart. */
function killAllInSync(dir: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let round = 0; round < 50; round++) {
    const pids = processesIn(dir);
    if (pids.length === 0) return;
    for (const pid of pids) signal(pid, 'SIGKILL');
    Atomics.wait(pause, 0, 0, 20);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // ESRCH: it ended meanwhile.
  }
}

// ---- one directory per test process, cleaned up when it exits ---------------------------------

let instanceCount = 0;
let base: string | undefined;

function baseDir(): string {
  if (base) return base;
  sweepOrphans();
  base = mkdtempSync(join(TMP, BASE_PREFIX));
  // spamd's children (nobody) and PostgreSQL (postgres) must be able to reach their directories.
  chmodSync(base, 0o755);
  writeFileSync(join(base, 'owner'), `${process.pid}\n`);
  process.once('exit', cleanupSync);
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.once(name, () => {
      cleanupSync();
      process.kill(process.pid, name);
    });
  }
  return base;
}

/** At exit: SIGKILL whatever runs in this process's directory, then remove it. */
function cleanupSync(): void {
  if (!base) return;
  killAllInSync(base);
  rmSync(base, { recursive: true, force: true });
  base = undefined;
}

/**
 * Directories of test processes that are gone without their exit hook (SIGKILLed): kill what
 * still runs there, then remove them. A directory whose owner still runs is left alone.
 */
function sweepOrphans(): void {
  let names: string[];
  try {
    names = readdirSync(TMP).filter((n) => n.startsWith(BASE_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(TMP, name);
    const owner = pidFrom(join(dir, 'owner'));
    if (owner === undefined || running(owner)) continue;
    killAllInSync(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
