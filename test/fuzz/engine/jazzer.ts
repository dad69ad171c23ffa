/*
 * Runs one fuzz target under Jazzer.js (coverage-guided, libFuzzer inside) in a
 * child process and reads libFuzzer's final statistics. Jazzer.js 4 instruments
 * ES modules through Node's module.register() loader hooks (Node >= 20.6), so
 * the compiled dist/ files are fuzzed as they are, no CommonJS build.
 *
 * Its prebuilt engine is linked against glibc 2.38 and GCC 13's libstdc++;
 * Debian 12 has 2.36 and GCC 12's. When the prebuilt does not load, the engine
 * is run from a copy whose too-new version needs are marked weak, with
 * engine/compat.c (the three functions behind them) preloaded. This is checked,
 * not assumed: any other missing symbol stops the run with its name.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { definedVersions, dynamicSymbols, markWeak, neededVersions } from './elf.js';

/** The repository root (this file runs as dist/test/fuzz/engine/jazzer.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

const require = createRequire(import.meta.url);

interface Engine {
  /** Extra node options for the fuzzing process. */
  readonly nodeArgs: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** How the engine is loaded, for the log: "prebuilt" or "prebuilt + compat (GLIBC_2.38, ...)". */
  readonly how: string;
}

function loads(addon: string, env: NodeJS.ProcessEnv = process.env): { ok: boolean; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon)})`], { env, encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr };
}

/**
 * The file this process has mapped for a library named by its soname
 * ("libstdc++.so.6" -> "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"): node
 * links the libraries the engine needs versions of, so their maps are here.
 */
function mappedLibrary(soname: string): string | undefined {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.includes('/') ? line.slice(line.indexOf('/')) : '';
    const file = path.slice(path.lastIndexOf('/') + 1);
    if (file === soname || file.startsWith(`${soname}.`)) return path;
  }
  return undefined;
}

/** Writes atomically, so two runs preparing the same cache never see half a file. */
function install(target: string, write: (tmp: string) => void): void {
  const tmp = `${target}.${process.pid}.tmp`;
  write(tmp);
  renameSync(tmp, target);
}

let prepared: Engine | undefined;

/** How to start Jazzer.js on this machine; prepares the compat copy once (cached under node_modules/.cache). */
export function prepareEngine(): Engine {
  if (prepared) return prepared;
  const fuzzerDir = dirname(require.resolve('@jazzer.js/fuzzer/package.json'));
  const prebuilt = join(fuzzerDir, 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
  const direct = loads(prebuilt);
  if (direct.ok) {
    prepared = { nodeArgs: [], env: {}, how: 'prebuilt' };
    return prepared;
  }
  if (process.platform !== 'linux' || !/version `[^']+' not found/.test(direct.stderr)) {
    throw new Error(`Jazzer.js's engine does not load here:\n${direct.stderr}`);
  }

  const elf = readFileSync(prebuilt);
  const defined = new Map<string, Set<string>>();
  const missing = neededVersions(elf).filter((need) => {
    const path = mappedLibrary(need.file);
    if (!path) return false; // not mapped by node itself: the loader will name it if it is missing
    if (!defined.has(need.file)) defined.set(need.file, definedVersions(readFileSync(path)));
    return !defined.get(need.file)!.has(need.name);
  });
  const missingIndexes = new Set(missing.map((m) => m.index));
  const wanted = dynamicSymbols(elf).filter((s) => !s.defined && missingIndexes.has(s.version));

  const cache = join(ROOT, 'node_modules', '.cache', 'qgate-fuzz', createHash('sha256').update(elf).digest('hex').slice(0, 16));
  mkdirSync(cache, { recursive: true });
  const source = join(ROOT, 'test', 'fuzz', 'engine', 'compat.c');
  const shim = join(cache, 'libqgate-fuzz-compat.so');
  if (!existsSync(shim) || statSync(shim).mtimeMs < statSync(source).mtimeMs) {
    install(shim, (tmp) => {
      const cc = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', tmp, source], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`cannot build ${source} (needs a C compiler, Debian: gcc): ${cc.stderr ?? cc.error}`);
    });
  }
  const provided = new Set(
    dynamicSymbols(readFileSync(shim))
      .filter((s) => s.defined)
      .map((s) => s.name),
  );
  const lacking = wanted.filter((s) => !provided.has(s.name)).map((s) => s.name);
  if (lacking.length > 0) {
    throw new Error(
      `Jazzer.js's engine needs ${missing.map((m) => m.name).join(', ')}, which this machine lacks, ` +
        `for ${lacking.join(', ')}, which ${source} does not provide`,
    );
  }
  const patched = join(cache, 'fuzzer.node');
  install(patched, (tmp) => writeFileSync(tmp, markWeak(elf, new Set(missing.map((m) => m.name)))));
  const env = { LD_PRELOAD: shim, QGATE_FUZZ_ENGINE: patched };
  const check = loads(patched, { ...process.env, ...env });
  if (!check.ok) throw new Error(`the patched engine ${patched} does not load either:\n${check.stderr}`);
  const hook = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'load-patched.js')).href;
  prepared = {
    nodeArgs: ['--import', hook],
    env,
    how: `prebuilt + compat (${missing.map((m) => m.name).join(', ')}: ${wanted.map((s) => s.name).join(', ')})`,
  };
  return prepared;
}

export interface FuzzTarget {
  /** test/fuzz/<name>.fuzz.ts, corpus in test/fuzz/corpus/<name>/. */
  readonly name: string;
  /** The target awaits (SASL exchanges): run in Jazzer.js's async mode, which is slower. */
  readonly async?: boolean;
  /** libFuzzer's -max_len: the longest input it makes. */
  readonly maxLen: number;
  /** Inputs in the smoke run of `npm test`. */
  readonly smokeRuns: number;
}

export interface RunOptions {
  /** Stop after this many inputs (libFuzzer -runs) ... */
  readonly runs?: number;
  /** ... or after this many seconds (-max_total_time). */
  readonly seconds?: number;
  /** Fixed for reproducible smoke runs; random when absent. */
  readonly seed?: number;
  /** New interesting inputs go here; the repository's corpus is only read. */
  readonly corpusOut: string;
  /** Crash and timeout inputs go here. */
  readonly artifacts: string;
  /** Per-input time limit: an input that takes longer is reported as a hang. */
  readonly timeoutMs?: number;
  /** Receives libFuzzer's output as it comes. */
  readonly output?: (text: string) => void;
}

export interface RunResult {
  readonly target: string;
  /** 0: no finding; libFuzzer/Jazzer.js use 77 (finding), 70 (timeout) and others. */
  readonly exitCode: number | null;
  /** Inputs executed (stat::number_of_executed_units). */
  readonly runs: number;
  /** libFuzzer's stat::average_exec_per_sec (over its fuzzing loop, without start-up). */
  readonly execPerSec: number;
  readonly newUnits: number;
  /** Whole child process, start-up included. */
  readonly wallSeconds: number;
  /** The crash or timeout input libFuzzer wrote, if any. */
  readonly finding?: string;
  readonly engine: string;
  /** The last lines of output, for failure messages. */
  readonly tail: string;
}

function stat(text: string, name: string): number {
  const m = new RegExp(`stat::${name}:\\s*(\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** Fuzzes `target` (compiled in dist/test/fuzz/) with Jazzer.js until the runs or seconds are used up or it finds something. */
export function runTarget(target: FuzzTarget, options: RunOptions): Promise<RunResult> {
  const engine = prepareEngine();
  const cli = join(dirname(require.resolve('@jazzer.js/core/package.json')), 'dist', 'cli.js');
  const module = join(ROOT, 'dist', 'test', 'fuzz', `${target.name}.fuzz.js`);
  const seeds = join(ROOT, 'test', 'fuzz', 'corpus', target.name);
  mkdirSync(options.corpusOut, { recursive: true });
  mkdirSync(options.artifacts, { recursive: true });
  const args = [
    ...engine.nodeArgs,
    cli,
    module,
    options.corpusOut,
    seeds,
    // Coverage feedback from the code under test only, not from the oracles in dist/test/fuzz.
    ...['-i', 'dist/core/', '-i', 'dist/plugins/', '-e', 'node_modules'],
    ...(target.async ? [] : ['--sync']),
    `--timeout=${options.timeoutMs ?? 10_000}`,
    '--',
    `-max_len=${target.maxLen}`,
    ...(options.runs !== undefined ? [`-runs=${options.runs}`] : []),
    ...(options.seconds !== undefined ? [`-max_total_time=${options.seconds}`] : []),
    ...(options.seed !== undefined ? [`-seed=${options.seed}`] : []),
    `-artifact_prefix=${options.artifacts}/`,
    '-print_final_stats=1',
  ];
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    // NODE_NO_WARNINGS: the YAML library warns through process.emitWarning, once per odd input.
    const env = { ...process.env, ...engine.env, NODE_NO_WARNINGS: '1' };
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: 'pipe' });
    let tail = '';
    const take = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      options.output?.(text);
      tail = (tail + text).slice(-16_384);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => {
      const finding = /Test unit written to (\S+)/.exec(tail)?.[1];
      resolveRun({
        target: target.name,
        exitCode: code,
        runs: stat(tail, 'number_of_executed_units'),
        execPerSec: stat(tail, 'average_exec_per_sec'),
        newUnits: stat(tail, 'new_units_added'),
        wallSeconds: (performance.now() - started) / 1000,
        ...(finding ? { finding } : {}),
        engine: engine.how,
        tail: tail.split('\n').slice(-40).join('\n'),
      });
    });
  });
}
