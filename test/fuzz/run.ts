/*
 * `npm run fuzz`: fuzzes every target (or those named) for QGATE_FUZZ_SECONDS
 * each (default 600), one after the other, with a random seed. New inputs go
 * to var/fuzz/<target>/corpus, findings (crash-*, timeout-*) and the full log
 * to var/fuzz/<target>/; the repository's corpus is only read. Prints inputs
 * per second per target and exits non-zero if any target found something.
 * `npm run fuzz -- --replay <target> <file>...` runs inputs through a target
 * without the engine, to see a finding's assertion and stack.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, type RunResult, runTarget } from './engine/jazzer.js';
import { TARGETS } from './targets.js';

async function replay(name: string, files: string[]): Promise<void> {
  const module = (await import(pathToFileURL(join(ROOT, 'dist', 'test', 'fuzz', `${name}.fuzz.js`)).href)) as {
    fuzz: (data: Buffer) => unknown;
  };
  for (const file of files) {
    await module.fuzz(readFileSync(file));
    console.log(`${file}: passes`);
  }
}

function seconds(): number {
  const text = process.env.QGATE_FUZZ_SECONDS ?? '600';
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`QGATE_FUZZ_SECONDS: expected whole seconds, got ${JSON.stringify(text)}`);
  return n;
}

async function main(args: string[]): Promise<number> {
  if (args[0] === '--replay') {
    await replay(args[1] ?? '', args.slice(2));
    return 0;
  }
  const unknown = args.filter((a) => !TARGETS.some((t) => t.name === a));
  if (unknown.length > 0)
    throw new Error(`no such fuzz target: ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  const chosen = args.length > 0 ? TARGETS.filter((t) => args.includes(t.name)) : TARGETS;
  const budget = seconds();
  const results: RunResult[] = [];
  for (const target of chosen) {
    const dir = join(ROOT, 'var', 'fuzz', target.name);
    mkdirSync(dir, { recursive: true });
    const log = join(dir, 'fuzz.log');
    writeFileSync(log, '');
    console.log(`fuzz: ${target.name} for ${budget} s (log: ${log})`);
    const result = await runTarget(target, {
      seconds: budget,
      corpusOut: join(dir, 'corpus'),
      artifacts: dir,
      output: (text) => appendFileSync(log, text),
    });
    results.push(result);
    console.log(
      `fuzz: ${target.name}: ${result.runs} inputs in ${result.wallSeconds.toFixed(0)} s, ${result.execPerSec}/s, ` +
        `${result.newUnits} new, ${result.finding ? `FINDING ${result.finding}` : result.exitCode === 0 ? 'ok' : `exit ${result.exitCode}`}`,
    );
    if (result.exitCode !== 0) console.log(result.tail);
  }
  console.log(`\nengine: ${results[0]?.engine ?? '-'}`);
  console.log('target           inputs   seconds   inputs/s   new   result');
  for (const r of results) {
    const outcome = r.finding ?? (r.exitCode === 0 ? 'ok' : `exit ${r.exitCode}`);
    console.log(
      `${r.target.padEnd(14)} ${String(r.runs).padStart(8)} ${r.wallSeconds.toFixed(0).padStart(9)} ${String(r.execPerSec).padStart(10)} ${String(r.newUnits).padStart(5)}   ${outcome}`,
    );
  }
  const total = results.reduce((n, r) => n + r.runs, 0);
  const time = results.reduce((n, r) => n + r.wallSeconds, 0);
  console.log(`total: ${total} inputs in ${time.toFixed(0)} s`);
  return results.every((r) => r.exitCode === 0) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
