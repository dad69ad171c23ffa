/*
 * Loaded with `node --import` in the fuzzing process when jazzer.ts had to
 * prepare a patched copy of Jazzer.js's prebuilt engine: every require() of
 * the prebuilt .node file loads the copy named by QGATE_FUZZ_ENGINE instead, so
 * node_modules stays as npm installed it. Does nothing without that variable.
 */
import { createRequire } from 'node:module';
import { basename } from 'node:path';

const patched = process.env.QGATE_FUZZ_ENGINE;
if (patched) {
  const require = createRequire(import.meta.url);
  const prebuilt = `fuzzer-${process.platform}-${process.arch}.node`;
  // require.extensions is the one hook CommonJS offers for native addons; @jazzer.js/fuzzer loads its engine with require().
  const extensions = require.extensions;
  const load = extensions['.node']!;
  extensions['.node'] = (module, filename) => load(module, basename(filename) === prebuilt ? patched : filename);
}
