/*
 * The qgate command: start the gateway, check a configuration, look into the
 * queue (qmail-qread / qmail-qstat analogues), and start or document a plugin.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { type ControlAction, writeControlRequest } from '../delivery/control.js';
import { BOUNCED_BY_ADMINISTRATOR, bounceNow, flushNow, initialState } from '../delivery/state.js';
import { startGateway } from '../gateway.js';
import { installApiResolution } from '../pipeline/api-resolution.js';
import { FileQueue, runningGateway } from '../queue/file-queue.js';
import { describeConfig } from './describe.js';
import { pluginOptionsTable, replaceOptionsBlock } from './plugin-docs.js';
import { formatEnvelope, formatList, formatStat } from './queue-view.js';
import { scaffoldPlugin } from './scaffold.js';

// Before any plugin loads: a plugin's `import ... from 'qgate'` reaches this running copy.
installApiResolution();

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
      process.stdout.write(await formatEnvelope(env, await q.readState(id), stream, opts.body === true));
    } catch (err) {
      fail(err);
    }
  });

/**
 * Hands a request to the running gateway (control file + SIGUSR1), or, with no
 * gateway running, carries it out on the queue directly.
 */
async function control(action: ControlAction, id: string | undefined): Promise<void> {
  const loaded = loadConfig(program.opts<{ config: string }>().config);
  const q = new FileQueue(loaded.queuePath);
  if (id !== undefined && !(await q.envelope(id))) fail(new Error(`no message ${id} in the queue`));
  const pid = runningGateway(loaded.queuePath);
  if (pid) {
    writeControlRequest(loaded.queuePath, { action, id });
    process.kill(pid, 'SIGUSR1');
    process.stdout.write(`${action} of ${id ?? 'every message'} requested from the gateway (pid ${pid}); see its log\n`);
    return;
  }
  q.lock();
  try {
    await q.open();
    if (action === 'remove') await q.remove(id!);
    else {
      for (const one of id ? [id] : await q.ids()) {
        const env = await q.envelope(one);
        if (!env) continue;
        // The same transitions the scheduler makes when a running gateway is asked.
        const state = (await q.readState(one)) ?? initialState(env);
        await q.writeState(action === 'flush' ? flushNow(state, Date.now()) : bounceNow(state, BOUNCED_BY_ADMINISTRATOR));
      }
    }
    process.stdout.write(
      `${action} of ${id ?? 'every message'} done; no gateway is running, so it takes effect when one starts\n`,
    );
  } finally {
    await q.close();
  }
}

queue
  .command('flush')
  .description('try pending recipients now (of one message, or of all)')
  .argument('[id]', 'queue id')
  .action(async (id: string | undefined) => control('flush', id).catch(fail));
queue
  .command('remove')
  .description('delete a message from the queue, without a bounce')
  .argument('<id>', 'queue id')
  .action(async (id: string) => control('remove', id).catch(fail));
queue
  .command('bounce')
  .description('fail every pending recipient of a message now and bounce it to its sender')
  .argument('<id>', 'queue id')
  .action(async (id: string) => control('bounce', id).catch(fail));

const plugin = program.command('plugin').description('write and document plugins');
plugin
  .command('new')
  .description('write a plugin package (TypeScript, a test on qgate/testing) to start from')
  .argument('<name>', 'plugin name (header-stamp), or its package name (qgate-plugin-header-stamp, @scope/...)')
  .option('--dir <dir>', 'where to write it; default ./qgate-plugin-<name>')
  .option('--qgate <spec>', 'the qgate dev dependency (an npm spec); default: file: this installation')
  .action((name: string, opts: { dir?: string; qgate?: string }) => {
    try {
      const { dir, files } = scaffoldPlugin(name, opts);
      process.stdout.write(
        `wrote ${dir}:\n${files.map((f) => `  ${f}`).join('\n')}\nnext: cd ${dir} && npm install && npm test\n`,
      );
    } catch (err) {
      fail(err);
    }
  });
plugin
  .command('docs')
  .description("print a plugin's options table (Markdown) from its schema, or write it into a README")
  .argument('<plugin>', 'the plugin module (dist/src/index.js), a built-in name, or an installed package')
  .option('--readme <file>', 'write the table between <!-- options --> and <!-- /options --> in this file')
  .option('--check', 'with --readme: change nothing, exit 1 if the table there is not the current one')
  .action(async (use: string, opts: { readme?: string; check?: boolean }) => {
    try {
      const table = await pluginOptionsTable(use, process.cwd());
      if (!opts.readme) {
        process.stdout.write(`${table}\n`);
        return;
      }
      const before = readFileSync(opts.readme, 'utf8');
      const after = replaceOptionsBlock(before, table);
      if (opts.check) {
        if (after !== before)
          fail(
            new Error(`${opts.readme}: the options table is out of date; run qgate plugin docs ${use} --readme ${opts.readme}`),
          );
        return;
      }
      if (after !== before) writeFileSync(opts.readme, after);
      process.stdout.write(`${opts.readme}: options table ${after === before ? 'already current' : 'written'}\n`);
    } catch (err) {
      fail(err);
    }
  });

await program.parseAsync(process.argv);
