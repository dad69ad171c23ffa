/*
 * Which gateways watch npm: only npm's own script (`npm start` runs it directly,
 * npx through `sh -c`), not everything that inherits an npm script's environment.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ProcessInfo, startedByNpm } from '../../core/cli/parent.js';

const NPM_ENV = { npm_lifecycle_event: 'start', npm_command: 'start' };

function tree(processes: Record<number, ProcessInfo>): (pid: number) => ProcessInfo | undefined {
  return (pid) => processes[pid];
}

const cases: { name: string; env: NodeJS.ProcessEnv; processes: Record<number, ProcessInfo>; watch: boolean }[] = [
  { name: 'no npm environment', env: {}, processes: { 10: { argv: ['npm start'], ppid: 1 } }, watch: false },
  { name: 'npm start (exec): npm is the parent', env: NPM_ENV, processes: { 10: { argv: ['npm start'], ppid: 1 } }, watch: true },
  {
    name: 'npx: sh -c under npm',
    env: { npm_lifecycle_event: 'npx', npm_command: 'exec' },
    processes: { 10: { argv: ['sh', '-c', 'qgate start'], ppid: 9 }, 9: { argv: ['npm exec qgate start'], ppid: 1 } },
    watch: true,
  },
  {
    name: 'npm without a title: node running npm-cli.js',
    env: NPM_ENV,
    processes: { 10: { argv: ['/usr/bin/node', '/usr/lib/node_modules/npm/bin/npm-cli.js', 'start'], ppid: 1 } },
    watch: true,
  },
  {
    name: 'npm run bench: started by the benchmark script, itself run by a shell',
    env: { npm_lifecycle_event: 'bench', npm_command: 'run-script' },
    processes: {
      10: { argv: ['bash', 'bench/qgate/start.sh'], ppid: 9 },
      9: { argv: ['bash', 'bench/run.sh'], ppid: 8 },
      8: { argv: ['sh', '-c', 'bash bench/run.sh'], ppid: 7 },
      7: { argv: ['npm run bench'], ppid: 1 },
    },
    watch: false,
  },
  {
    name: 'npm test: started by the test runner',
    env: { npm_lifecycle_event: 'test', npm_command: 'test' },
    processes: { 10: { argv: ['/usr/bin/node', '--test', 'dist/test/x.test.js'], ppid: 9 }, 9: { argv: ['npm test'], ppid: 1 } },
    watch: false,
  },
  { name: 'no /proc: the environment decides', env: NPM_ENV, processes: {}, watch: true },
];

for (const c of cases) {
  test(`startedByNpm: ${c.name}`, () => {
    assert.equal(startedByNpm(c.env, 10, tree(c.processes)), c.watch);
  });
}
