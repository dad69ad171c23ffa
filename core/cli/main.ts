/*
 * The qgate command: start, stop and reload the gateway, check a configuration,
 * look into the queue and act on it (qmail-qread / qmail-qstat analogues; the
 * running gateway does the acting, through its admin API), and start or document
 * a plugin. Usage errors exit 64; help/exit codes: core/cli/help.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { AdminUnavailable, callAdmin, findGateway } from '../admin/client.js';
import { type ActionOutcome, applyQueueAction, type QueueAction } from '../admin/queue-actions.js';
import type { ReloadOutcome } from '../admin/reload.js';
import { ConfigError } from '../config/errors.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { parseDuration } from '../config/units.js';
import { startGateway } from '../gateway.js';
import { installApiResolution } from '../pipeline/api-resolution.js';
import { FileQueue } from '../queue/file-queue.js';
import { QUEUE_ID_PATTERN } from '../queue/queue.js';
import { describeConfig } from './describe.js';
import { after, EXIT, EXIT_CODES, examples, SIGNALS } from './help.js';
import { onParentGone, startedByNpm } from './parent.js';
import { pluginOptionsTable, replaceOptionsBlock } from './plugin-docs.js';
import { formatEnvelope, formatList, formatOutcome, formatQuarantine, formatStat } from './queue-view.js';
import { scaffoldPlugin } from './scaffold.js';

// Before any plugin loads: a plugin's `import ... from 'qgate'` reaches this running copy.
installApiResolution();

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`qgate: configuration error\n${err.message}\n`);
    process.exit(EXIT.CONFIG);
  }
  if (err instanceof UsageError) {
    process.stderr.write(`qgate: ${err.message}\n`);
    process.exit(EXIT.USAGE);
  }
  if (err instanceof AdminUnavailable) {
    process.stderr.write(`qgate: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`qgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(EXIT.FAILED);
}

/** A command line that cannot be right: exit 64 (EX_USAGE). */
class UsageError extends Error {}

const program = new Command();
// Usage errors exit 64 (EX_USAGE) instead of commander's 1; --help and --version exit 0.
program.exitOverride();
program
  .name('qgate')
  .description('A mail transfer agent in the qmail tradition, built as a plugin pipeline')
  .version(pkg.version, '-V, --version')
  .option('-c, --config <file>', 'configuration file', 'config.yaml')
  .showHelpAfterError('(qgate --help lists the commands; qgate COMMAND --help tells more)')
  .addHelpText(
    'after',
    after(
      examples(
        'qgate start',
        'qgate check config -c /etc/qgate/config.yaml',
        'qgate queue list --json',
        'qgate queue flush',
        'qgate reload',
        'qgate stop',
      ),
      SIGNALS,
      EXIT_CODES,
    ),
  );

/**
 * `qgate queue list | head`: a reader that stops early is no error, as for the C tools that
 * SIGPIPE ends; the write's EPIPE used to end the command with a stack trace. Not for
 * `start`, whose standard output carries a running gateway's log.
 */
program.hook('preAction', (_program, command) => {
  if (command.name() === 'start') return;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.OK);
  });
});

function loaded(): LoadedConfig {
  return loadConfig(program.opts<{ config: string }>().config);
}

program
  .command('start')
  .description('run the gateway in the foreground (logs on standard output)')
  .addHelpText(
    'after',
    after(
      examples('qgate start', 'qgate start -c /etc/qgate/config.yaml', 'node bin/qgate.js start   # no npm in between'),
      SIGNALS,
      EXIT_CODES,
    ),
  )
  .action(async () => {
    try {
      // Asked before starting: npm may die while the gateway starts (delivery's thread takes a moment).
      const npmParent = startedByNpm() ? process.ppid : undefined;
      await startGateway(program.opts<{ config: string }>().config);
      if (npmParent !== undefined) {
        onParentGone(npmParent, () => {
          process.stderr.write('qgate: npm, which started this gateway, is gone (a signal npm does not pass on?); stopping\n');
          process.kill(process.pid, 'SIGTERM'); // the same graceful stop as a signal
        });
      }
    } catch (err) {
      fail(err);
    }
  });

program
  .command('check')
  .description('validate configuration without starting')
  .argument('<what>', 'what to check: config')
  .addHelpText('after', after(examples('qgate check config', 'qgate check config -c /etc/qgate/config.yaml'), EXIT_CODES))
  .action(async (what: string) => {
    if (what !== 'config') fail(new UsageError(`unknown check "${what}"; try: qgate check config`));
    try {
      process.stdout.write(await describeConfig(loaded()));
    } catch (err) {
      fail(err);
    }
  });

program
  .command('reload')
  .description('make the running gateway reload (the same as SIGHUP) and report the outcome')
  .addHelpText('after', after(examples('qgate reload', 'qgate reload -c /etc/qgate/config.yaml'), SIGNALS, EXIT_CODES))
  .action(async () => {
    try {
      const config = loaded();
      const gateway = findGateway(config);
      if (!gateway) throw new AdminUnavailable(`no gateway is running on the queue ${config.queuePath}`, EXIT.UNAVAILABLE);
      if (!gateway.url) {
        // No admin API to answer: the signal does the same, and the log tells the outcome.
        if (gateway.pid === undefined)
          throw new AdminUnavailable('the running gateway recorded no pid and serves no admin API', EXIT.UNAVAILABLE);
        process.kill(gateway.pid, 'SIGHUP');
        process.stdout.write(`SIGHUP sent to the gateway (pid ${gateway.pid}); its log tells the outcome\n`);
        return;
      }
      const answer = await callAdmin<ReloadOutcome>(config, gateway, 'POST', '/api/reload', {}, RELOAD_TIMEOUT_MS);
      if (answer.body.ok) {
        const changed = answer.body.changed?.length ? `: ${answer.body.changed.join(', ')}` : '';
        process.stdout.write(`reloaded (pid ${gateway.pid ?? '?'})${changed}\n`);
        return;
      }
      const problems = (answer.body as { problems?: readonly string[] }).problems ?? [];
      process.stderr.write(`qgate: reload refused; the gateway runs on with its configuration\n${problems.join('\n')}\n`);
      process.exit(EXIT.CONFIG);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('stop')
  .description('stop the running gateway gracefully (the same as SIGTERM) and wait until it is gone')
  .option('--timeout <seconds>', 'how long to wait; default shutdown_grace + 30 s', positiveNumber)
  .addHelpText('after', after(examples('qgate stop', 'qgate stop --timeout 120'), SIGNALS, EXIT_CODES))
  .action(async (opts: { timeout?: number }) => {
    try {
      const config = loaded();
      const gateway = findGateway(config);
      if (!gateway) {
        process.stdout.write(`no gateway is running on the queue ${config.queuePath}\n`);
        return;
      }
      if (gateway.pid !== undefined) process.kill(gateway.pid, 'SIGTERM');
      else await callAdmin(config, gateway, 'POST', '/api/stop', {}, 10_000);
      const limitMs = opts.timeout !== undefined ? opts.timeout * 1000 : config.config.shutdown_grace + 30_000;
      const deadline = Date.now() + limitMs;
      while (findGateway(config)) {
        if (Date.now() > deadline)
          throw new AdminUnavailable(
            `the gateway (pid ${gateway.pid ?? '?'}) still runs after ${limitMs / 1000} s`,
            EXIT.TEMPFAIL,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
      process.stdout.write(`stopped (pid ${gateway.pid ?? '?'})\n`);
    } catch (err) {
      fail(err);
    }
  });

const queue = program
  .command('queue')
  .description('inspect the queue and act on it (qmail-qread, qmail-qstat, postqueue/postsuper)')
  .addHelpText(
    'after',
    after(
      examples(
        'qgate queue list',
        'qgate queue list --json',
        'qgate queue show 0MWT707BG0038AI',
        'qgate queue flush',
        'qgate queue bounce 0MWT707BG0038AI',
      ),
      EXIT_CODES,
    ),
  );
function openQueue(): FileQueue {
  return new FileQueue(loaded().queuePath);
}
queue
  .command('list')
  .description('list queued messages with their recipients (like qmail-qread)')
  .option('--json', 'one JSON document: an array of messages, [] when the queue is empty')
  .addHelpText('after', after(examples('qgate queue list', "qgate queue list --json | jq '.[].id'"), EXIT_CODES))
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
  .option('--json', 'one JSON document: {"messages", "bytes", "oldest"}')
  .addHelpText('after', after(examples('qgate queue stat', 'qgate queue stat --json'), EXIT_CODES))
  .action(async (opts: { json?: boolean }) => {
    try {
      const stat = await openQueue().stat();
      process.stdout.write(opts.json ? `${JSON.stringify({ ...stat, oldest: stat.oldest ?? null })}\n` : formatStat(stat));
    } catch (err) {
      fail(err);
    }
  });
queue
  .command('show')
  .description('show one message: envelope, recipients and headers')
  .argument('<id>', 'queue id')
  .option('--body', 'print the whole message after the envelope')
  .option('--json', 'one JSON document: {"envelope", "state"}')
  .addHelpText(
    'after',
    after(examples('qgate queue show 0MWT707BG0038AI', 'qgate queue show 0MWT707BG0038AI --body'), EXIT_CODES),
  )
  .action(async (id: string, opts: { body?: boolean; json?: boolean }) => {
    try {
      if (!QUEUE_ID_PATTERN.test(id)) throw new UsageError(`not a queue id: ${id}`);
      const q = openQueue();
      const env = await q.envelope(id);
      if (!env) fail(new Error(`no message ${id} in the queue`));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ envelope: env, state: (await q.readState(id)) ?? null })}\n`);
        return;
      }
      const stream = q.readMessage(id);
      if (!stream) fail(new Error(`no message ${id} in the queue`));
      process.stdout.write(await formatEnvelope(env, await q.readState(id), stream, opts.body === true));
    } catch (err) {
      fail(err);
    }
  });

/** How long `qgate reload` waits for the gateway's answer. */
const RELOAD_TIMEOUT_MS = 120_000;

interface ActionOptions {
  readonly json?: boolean;
  readonly wait?: number;
}

/**
 * Has the running gateway carry out a queue command through its admin API and
 * waits for the outcome; with no gateway running, carries it out on the queue.
 */
async function queueAction(action: QueueAction, id: string | undefined, opts: ActionOptions): Promise<void> {
  if (id !== undefined && !QUEUE_ID_PATTERN.test(id)) throw new UsageError(`not a queue id: ${id}`);
  const config = loaded();
  const waitMs = (opts.wait ?? 30) * 1000;
  const gateway = findGateway(config);
  let outcome: ActionOutcome;
  if (gateway) {
    const path = id === undefined ? `/api/queue/${action}` : `/api/queue/${id}/${action}`;
    const answer = await callAdmin<ActionOutcome | { error: string }>(
      config,
      gateway,
      'POST',
      `${path}?wait=${waitMs}`,
      {},
      waitMs + 30_000,
    );
    if ('error' in answer.body) throw new Error(answer.body.error);
    outcome = answer.body;
  } else {
    const q = new FileQueue(config.queuePath);
    q.lock();
    try {
      await q.open();
      outcome = await applyQueueAction(q, undefined, action, id, 0);
    } finally {
      await q.close();
    }
  }
  process.stdout.write(opts.json ? `${JSON.stringify(outcome)}\n` : formatOutcome(outcome, gateway?.pid));
}

const ACTION_HELP = after(
  `--wait: how long to wait for the delivery runs the command causes (default 30 s); the
command reports what became of each message by then. With no gateway running, the
command changes the queue itself, and delivery acts on it when a gateway starts.`,
  EXIT_CODES,
);

queue
  .command('flush')
  .description('try pending recipients now (of one message, or of all) and report the outcome')
  .argument('[id]', 'queue id')
  .option('--wait <seconds>', 'how long to wait for the delivery attempts', nonNegativeNumber)
  .option('--json', 'print the outcome as one JSON document')
  .addHelpText('after', `${after(examples('qgate queue flush', 'qgate queue flush 0MWT707BG0038AI --wait 60'))}${ACTION_HELP}`)
  .action(async (id: string | undefined, opts: ActionOptions) => queueAction('flush', id, opts).catch(fail));
queue
  .command('remove')
  .description('delete a message from the queue, without a bounce (postsuper -d)')
  .argument('<id>', 'queue id')
  .option('--json', 'print the outcome as one JSON document')
  .addHelpText('after', `${after(examples('qgate queue remove 0MWT707BG0038AI'))}${ACTION_HELP}`)
  .action(async (id: string, opts: ActionOptions) => queueAction('remove', id, opts).catch(fail));
queue
  .command('bounce')
  .description('fail every pending recipient of a message now and bounce it to its sender')
  .argument('<id>', 'queue id')
  .option('--wait <seconds>', 'how long to wait for the bounce to be queued', nonNegativeNumber)
  .option('--json', 'print the outcome as one JSON document')
  .addHelpText('after', `${after(examples('qgate queue bounce 0MWT707BG0038AI'))}${ACTION_HELP}`)
  .action(async (id: string, opts: ActionOptions) => queueAction('bounce', id, opts).catch(fail));

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 300) throw new InvalidArgumentError('expected seconds from 0 to 300');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds above 0');
  return n;
}

const quarantine = program
  .command('quarantine')
  .description("messages a plugin held instead of delivering them (clamav's action: quarantine)")
  .addHelpText(
    'after',
    after(
      examples(
        'qgate quarantine list',
        'qgate quarantine show 0MWT707BG0038AI --body',
        'qgate quarantine release 0MWT707BG0038AI',
        'qgate quarantine delete 0MWT707BG0038AI',
      ),
      EXIT_CODES,
    ),
  );
quarantine
  .command('list')
  .description('list held messages with the reason they are held')
  .option('--json', 'one JSON document: an array of messages, [] when none is held')
  .action(async (opts: { json?: boolean }) => {
    try {
      const q = openQueue();
      const envelopes = [];
      for (const id of await q.quarantinedIds()) {
        const env = await q.quarantinedEnvelope(id);
        if (env) envelopes.push(env);
      }
      process.stdout.write(formatQuarantine(envelopes, opts.json === true));
    } catch (err) {
      fail(err);
    }
  });
quarantine
  .command('show')
  .description('show one held message: envelope, reason and headers')
  .argument('<id>', 'queue id')
  .option('--body', 'print the whole message after the envelope')
  .action(async (id: string, opts: { body?: boolean }) => {
    try {
      if (!QUEUE_ID_PATTERN.test(id)) throw new UsageError(`not a queue id: ${id}`);
      const q = openQueue();
      const env = await q.quarantinedEnvelope(id);
      const stream = q.readQuarantined(id);
      if (!env || !stream) fail(new Error(`no message ${id} in the quarantine`));
      process.stdout.write(await formatEnvelope(env, undefined, stream, opts.body === true));
    } catch (err) {
      fail(err);
    }
  });
quarantine
  .command('release')
  .description('deliver a held message as it would have been delivered')
  .argument('<id>', 'queue id')
  .action(async (id: string) => {
    try {
      if (!QUEUE_ID_PATTERN.test(id)) throw new UsageError(`not a queue id: ${id}`);
      const config = loaded();
      if (!(await openQueue().release(id))) fail(new Error(`no message ${id} in the quarantine`));
      const gateway = findGateway(config);
      // The running scheduler learns of new entries from commits and flushes, not by watching the directory.
      if (gateway?.url) {
        await callAdmin(config, gateway, 'POST', `/api/queue/${id}/flush?wait=0`, {}, 30_000);
        process.stdout.write(`released ${id}; the gateway (pid ${gateway.pid ?? '?'}) delivers it now\n`);
      } else if (gateway) {
        process.stdout.write(`released ${id}; the gateway serves no admin API, so it is delivered after its next start\n`);
      } else {
        process.stdout.write(`released ${id}; delivered when the gateway starts\n`);
      }
    } catch (err) {
      fail(err);
    }
  });
quarantine
  .command('delete')
  .description('delete a held message, without a bounce')
  .argument('<id>', 'queue id')
  .action(async (id: string) => {
    try {
      if (!QUEUE_ID_PATTERN.test(id)) throw new UsageError(`not a queue id: ${id}`);
      if (!(await openQueue().deleteQuarantined(id))) fail(new Error(`no message ${id} in the quarantine`));
      process.stdout.write(`deleted ${id}\n`);
    } catch (err) {
      fail(err);
    }
  });

const relay = program
  .command('relay')
  .description('relay grants (POP-before-SMTP, relay-ctrl): let a client address relay for a while');
relay
  .command('allow')
  .description(
    'let IP relay for a while through the running gateway (IMAP-before-SMTP, an external POP server); needs relay-ctrl in a pipeline',
  )
  .argument('<ip>', 'the client address')
  .option('--for <duration>', 'how long ("20m", "1h", seconds); at most 24h', '20m')
  .addHelpText('after', after(examples('qgate relay allow 192.0.2.7', 'qgate relay allow 2001:db8::7 --for 1h'), EXIT_CODES))
  .action(async (ip: string, opts: { for: string }) => {
    try {
      if (isIP(ip) === 0) throw new UsageError(`not an IP address: ${JSON.stringify(ip)}`);
      const forMs = parseDuration(/^[0-9]+$/.test(opts.for) ? Number(opts.for) : opts.for);
      if (forMs === undefined || forMs <= 0)
        throw new UsageError(`--for: expected a duration like "20m", got ${JSON.stringify(opts.for)}`);
      const config = loaded();
      const gateway = findGateway(config);
      if (!gateway) throw new AdminUnavailable(`no gateway is running on the queue ${config.queuePath}`, EXIT.UNAVAILABLE);
      const answer = await callAdmin<{ address?: string; until?: string; error?: string }>(
        config,
        gateway,
        'POST',
        '/api/relay',
        { address: ip, forMs, by: 'cli' },
        30_000,
      );
      if (answer.status !== 200) throw new AdminUnavailable(answer.body.error ?? `refused (${answer.status})`, EXIT.FAILED);
      process.stdout.write(`${answer.body.address} may relay until ${answer.body.until}\n`);
    } catch (err) {
      fail(err);
    }
  });

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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) fail(err);
  // commander has printed the help or the error already.
  const shown = err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
  process.exit(shown ? EXIT.OK : EXIT.USAGE);
}
