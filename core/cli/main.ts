/*
 * The qgate command: start the gateway, check a configuration, look into the
 * queue (qmail-qread / qmail-qstat analogues).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { startGateway } from '../gateway.js';
import { FileQueue } from '../queue/file-queue.js';
import { describeConfig } from './describe.js';
import { formatEnvelope, formatList, formatStat } from './queue-view.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`qgate: configuration error\n${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  process.stderr.write(`qgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

const program = new Command();
program
  .name('qgate')
  .description('A mail transfer agent in the qmail tradition, built as a plugin pipeline')
  .version(pkg.version, '-V, --version')
  .option('-c, --config <file>', 'configuration file', 'config.yaml');

program
  .command('start')
  .description('run the gateway in the foreground')
  .action(async () => {
    try {
      await startGateway(program.opts<{ config: string }>().config);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('check')
  .description('validate configuration without starting')
  .argument('<what>', 'what to check: config')
  .action(async (what: string) => {
    if (what !== 'config') fail(new Error(`unknown check "${what}"; try: qgate check config`));
    try {
      const loaded = loadConfig(program.opts<{ config: string }>().config);
      process.stdout.write(await describeConfig(loaded));
    } catch (err) {
      fail(err);
    }
  });

const queue = program.command('queue').description('inspect the queue');
function openQueue(): FileQueue {
  const loaded = loadConfig(program.opts<{ config: string }>().config);
  return new FileQueue(loaded.queuePath);
}
queue
  .command('list')
  .description('list queued messages (like qmail-qread)')
  .option('--json', 'one JSON object per line')
  .action(async (opts: { json?: boolean }) => {
    try {
      process.stdout.write(formatList(await openQueue().list(), opts.json === true));
    } catch (err) {
      fail(err);
    }
  });
queue
  .command('stat')
  .description('count queued messages (like qmail-qstat)')
  .action(async () => {
    try {
      process.stdout.write(formatStat(await openQueue().stat()));
    } catch (err) {
      fail(err);
    }
  });
queue
  .command('show')
  .description('show one message: envelope and headers')
  .argument('<id>', 'queue id')
  .option('--body', 'print the whole message after the envelope')
  .action(async (id: string, opts: { body?: boolean }) => {
    try {
      const q = openQueue();
      const env = await q.envelope(id);
      const stream = q.readMessage(id);
      if (!env || !stream) fail(new Error(`no message ${id} in the queue`));
      process.stdout.write(await formatEnvelope(env, stream, opts.body === true));
    } catch (err) {
      fail(err);
    }
  });

await program.parseAsync(process.argv);
