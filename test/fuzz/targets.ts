/*
 * The fuzz targets, each test/fuzz/<name>.fuzz.ts with its seed corpus in
 * test/fuzz/corpus/<name>/. maxLen is libFuzzer's longest input, a little past
 * the bound the gateway puts on that input where it has one, so the bound
 * itself gets fuzzed. smokeRuns keeps `npm test` to about a second of fuzzing
 * a target (plus the engine's start-up).
 */
import type { FuzzTarget } from './engine/jazzer.js';

export const TARGETS: readonly FuzzTarget[] = [
  { name: 'data-decoder', maxLen: 4096, smokeRuns: 1000 },
  { name: 'command-reader', maxLen: 2048, smokeRuns: 1000 },
  { name: 'command', maxLen: 600, smokeRuns: 3000 },
  { name: 'address', maxLen: 600, smokeRuns: 3000 },
  { name: 'sasl', maxLen: 1024, smokeRuns: 1500, async: true },
  { name: 'dsn', maxLen: 4096, smokeRuns: 1000 },
  { name: 'headers', maxLen: 4096, smokeRuns: 3000 },
  { name: 'removed-fields', maxLen: 4096, smokeRuns: 500, async: true },
  { name: 'units', maxLen: 256, smokeRuns: 3000 },
  { name: 'aliases', maxLen: 1024, smokeRuns: 600 },
  { name: 'blacklist', maxLen: 2048, smokeRuns: 2000 },
];
