/*
 * The fuzzing smoke run of `npm test`: every target under Jazzer.js for a fixed
 * number of inputs with a fixed seed (reproducible; new inputs go to a temp
 * directory, the repository's corpus is only read), and every corpus file
 * through its target without the engine. A finding fails the test with the
 * input; `npm run fuzz` is the long run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, runTarget } from './engine/jazzer.js';
import { TARGETS } from './targets.js';

describe('fuzz corpus: every seed through its target', () => {
  for (const target of TARGETS) {
    test(target.name, async () => {
      const { fuzz } = (await import(pathToFileURL(join(ROOT, 'dist', 'test', 'fuzz', `${target.name}.fuzz.js`)).href)) as {
        fuzz: (data: Buffer) => unknown;
      };
      const dir = join(ROOT, 'test', 'fuzz', 'corpus', target.name);
      const files = readdirSync(dir);
      assert.ok(files.length > 0, `${dir} has seeds`);
      for (const file of files) {
        const data = readFileSync(join(dir, file));
        assert.ok(data.length <= target.maxLen, `${file}: ${data.length} bytes, more than maxLen ${target.maxLen}`);
        try {
          await fuzz(data);
        } catch (err) {
          assert.fail(`${target.name}/${file}: ${err instanceof Error ? err.stack : String(err)}`);
        }
      }
    });
  }
});

describe('fuzz smoke run (Jazzer.js)', () => {
  for (const target of TARGETS) {
    test(target.name, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), `qgate-fuzz-${target.name}-`));
      try {
        const r = await runTarget(target, { runs: target.smokeRuns, seed: 1, corpusOut: join(dir, 'corpus'), artifacts: dir });
        t.diagnostic(
          `${r.runs} inputs in ${r.wallSeconds.toFixed(1)} s with start-up, ${r.execPerSec}/s fuzzing, ${r.newUnits} new; engine: ${r.engine}`,
        );
        const input = r.finding ? `\ninput (base64): ${readFileSync(r.finding).toString('base64')}` : '';
        assert.equal(r.exitCode, 0, `${target.name}: ${r.finding ?? 'no finding file'}${input}\n${r.tail}`);
        assert.equal(r.runs, target.smokeRuns, `${target.name} ran ${r.runs} inputs\n${r.tail}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
