/*
 * Full hot reload through SIGHUP, with the real gateway and real sessions:
 * config.yaml and the pipelines are read and checked again, a bad edit keeps
 * the running configuration (and logs positioned errors), listeners are
 * added, moved and removed, sessions open across a reload finish on the
 * configuration they started with, and the old plugins are shut down after
 * their last session; delivery (its thread) is stopped and started again. Under
 * load, no session fails.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { maildirFiles, send, waitDone } from '../harness/delivery.js';
import { type Gateway, type LogLine, startGateway } from '../harness/gateway.js';
import { openTransaction, RawSmtp } from '../harness/smtp.js';

interface Shape {
  readonly domains: readonly string[];
  /** Shows in the probe plugin's log lines, so each configuration's instance can be told apart. */
  readonly generation: number;
  readonly listeners?: string;
  readonly port?: number;
  readonly banner?: string;
  /** delivery.enabled (true unless said; the line only when false, so the others keep their line numbers). */
  readonly delivery?: boolean;
}

const PROBE = `export default {
  name: 'probe',
  setup(ctx, options) {
    ctx.on('shutdown', ({ log }) => log.info({ generation: options.generation }, 'probe shut down'));
  },
};
`;

function configText(s: Shape): string {
  return `hostname: mx.qgate.test
queue:
  path: ./queue
log:
  level: info
shutdown_grace: 5s
delivery:${s.delivery === false ? '\n  enabled: false' : ''}
  local_domains: [${s.domains.join(', ')}]
  maildir_root: ./mail
  create_mailboxes: true
listeners:
  - name: test
    address: 127.0.0.1
    port: ${s.port ?? 0}
    pipeline: inbound
    banner: ${s.banner ?? 'ESMTP qgate'}
${s.listeners ?? ''}
pipelines:
  inbound:
    plugins:
      - use: ./probe.js
        with: { generation: ${s.generation} }
      - use: rcpthosts
        with:
          domains: [${s.domains.join(', ')}]
# Gateways of parallel tests must not race for the default admin port.
admin:
  port: 0
`;
}

const gateways: Gateway[] = [];
after(async () => {
  for (const gw of gateways) {
    await gw.stop().catch(() => undefined);
    gw.cleanup();
  }
});

async function start(shape: Shape): Promise<Gateway> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'qgate-reload-'));
  writeFileSync(join(dir, 'probe.js'), PROBE);
  const gw = await startGateway({ dir, configText: configText(shape) });
  gateways.push(gw);
  return gw;
}

/** Rewrites config.yaml, sends SIGHUP and waits for the outcome (the n-th reload line of the gateway). */
async function reload(gw: Gateway, shape: Shape | string): Promise<LogLine> {
  writeFileSync(gw.configFile, typeof shape === 'string' ? shape : configText(shape));
  const seen = gw.logs.filter(isOutcome).length;
  let n = 0;
  gw.process.kill('SIGHUP');
  return gw.waitForLog((l) => isOutcome(l) && ++n > seen, 30_000);
}

function isOutcome(l: LogLine): boolean {
  return l.event === 'reload' && (Array.isArray(l.changed) || Array.isArray(l.problems));
}

async function rcptCode(port: number, to: string): Promise<number> {
  const { smtp } = await RawSmtp.session(port);
  await smtp.command('EHLO client.example');
  await smtp.command('MAIL FROM:<a@example.test>');
  const reply = await smtp.command(`RCPT TO:<${to}>`);
  smtp.close();
  return reply.code;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('reload on SIGHUP', { concurrency: 2 }, () => {
  it('a domain added to the YAML is accepted and delivered, while a session open across the reload delivers on the old configuration; the old plugins shut down after it', async () => {
    const gw = await start({ domains: ['example.test'], generation: 1 });
    assert.equal(await rcptCode(gw.port, 'bob@example.org'), 554, 'example.org is not ours yet');
    const open = await openTransaction(gw.port, 'a@example.test', 'alice@example.test');

    const outcome = await reload(gw, { domains: ['example.test', 'example.org'], generation: 2 });
    assert.ok(Array.isArray(outcome.changed), JSON.stringify(outcome));
    assert.ok((outcome.changed as string[]).includes('pipeline inbound changed'), JSON.stringify(outcome.changed));
    assert.ok((outcome.changed as string[]).includes('delivery.local_domains changed'), JSON.stringify(outcome.changed));
    assert.match(outcome.msg, /^configuration reloaded: /);
    assert.ok(!gw.logs.some((l) => /reloading plugins/.test(l.msg)));

    const id = await send(gw, 'a@example.test', ['bob@example.org']);
    await waitDone(gw, id);
    assert.equal(maildirFiles(`${gw.dir}/mail`, 'example.org', 'bob').length, 1);
    // The old instance is still in use by the open session.
    assert.ok(!gw.logs.some((l) => l.msg === 'probe shut down'), 'old plugins shut down while a session used them');

    assert.equal((await open.command('DATA')).code, 354);
    open.write('Subject: across a reload\r\n\r\nhello\r\n.\r\n');
    const queued = await open.reply();
    assert.equal(queued.code, 250, queued.text);
    await open.command('QUIT');
    open.close();
    const oldId = /queued as (\w+)/.exec(queued.text)![1]!;
    await waitDone(gw, oldId);
    assert.equal(maildirFiles(`${gw.dir}/mail`, 'example.test', 'alice').length, 1);
    const shutdown = await gw.waitForLog((l) => l.msg === 'probe shut down');
    assert.equal(shutdown.generation, 1, 'the old instance is the one shut down');
    await gw.waitForLog((l) => /^previous configuration released/.test(l.msg));
  });

  it('an invalid edit keeps the running configuration and logs the positioned errors', async () => {
    const gw = await start({ domains: ['example.test'], generation: 1 });
    const good = configText({ domains: ['example.test', 'example.org'], generation: 2 });
    const outcome = await reload(
      gw,
      good.replace('port: 0', 'port: 70000').replace('[example.test, example.org]\n', '[example.org, bad domain!]\n'),
    );
    assert.deepEqual(outcome.problems, [
      'config.yaml:8:32 delivery.local_domains[1]: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), got "bad domain!"',
      'config.yaml:14:11 listeners[0].port: must be <= 65535, got 70000',
    ]);
    assert.match(outcome.msg, /^reload failed; keeping the running configuration/);
    assert.equal(outcome.level, 'error');
    const pluginError = await reload(
      gw,
      good.replace(/(?<= {10})domains: \[example.test, example.org\]\n/, 'domains: [example.org, bad domain!]\n'),
    );
    assert.deepEqual(pluginError.problems, [
      'config.yaml:25:34 pipelines.inbound.plugins[1].with.domains[1]: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), got "bad domain!"',
    ]);
    // Still the old configuration: example.test accepted, example.org refused, same port.
    assert.equal(await rcptCode(gw.port, 'alice@example.test'), 250);
    assert.equal(await rcptCode(gw.port, 'bob@example.org'), 554);
    assert.ok(!gw.logs.some((l) => l.msg === 'probe shut down'), 'a failed reload releases only what it built');
  });

  it('adds, moves and removes listeners; a port in use fails the reload and keeps the old listeners', async () => {
    const gw = await start({ domains: ['example.test'], generation: 1 });
    const second = `  - name: second
    address: 127.0.0.1
    port: 0
    pipeline: inbound`;
    const added = await reload(gw, { domains: ['example.test'], generation: 2, listeners: second });
    assert.deepEqual(added.changed, [
      `listener second added on 127.0.0.1:${await gw.portOf('second')}`,
      'pipeline inbound changed',
    ]);
    const secondPort = await gw.portOf('second');
    assert.equal(await rcptCode(secondPort, 'alice@example.test'), 250);
    assert.equal(await rcptCode(gw.port, 'alice@example.test'), 250, 'the first listener kept its port');

    const target = await freePort();
    const moved = await reload(gw, { domains: ['example.test'], generation: 3, port: target });
    assert.ok(
      (moved.changed as string[]).includes(`listener test moved from 127.0.0.1:${gw.port} to 127.0.0.1:${target}`),
      JSON.stringify(moved.changed),
    );
    assert.ok((moved.changed as string[]).includes('listener second removed'), JSON.stringify(moved.changed));
    assert.equal(await rcptCode(target, 'alice@example.test'), 250);
    await assert.rejects(RawSmtp.open(gw.port), /ECONNREFUSED/, 'the old port is closed');
    await assert.rejects(RawSmtp.open(secondPort), /ECONNREFUSED/, 'the removed listener is closed');

    const busy: Server = createServer();
    const busyPort = await new Promise<number>((r) =>
      busy.listen(0, '127.0.0.1', () => r((busy.address() as { port: number }).port)),
    );
    try {
      const failed = await reload(gw, { domains: ['example.test'], generation: 4, port: busyPort });
      assert.deepEqual(failed.problems, [
        `config.yaml:12:5 listeners[0]: listener test: cannot listen on 127.0.0.1:${busyPort}: the address is already in use`,
      ]);
      assert.equal(await rcptCode(target, 'alice@example.test'), 250, 'still listening where it was');
    } finally {
      busy.close();
    }
  });

  it('delivery turned off and on again by reloads: its thread stops, and a new one delivers what was queued meanwhile', async () => {
    const gw = await start({ domains: ['example.test'], generation: 1 });
    const first = await send(gw, 'a@example.test', ['alice@example.test']);
    await waitDone(gw, first);
    await reload(gw, { domains: ['example.test'], generation: 2, delivery: false });
    const held = await send(gw, 'a@example.test', ['alice@example.test']);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(maildirFiles(`${gw.dir}/mail`, 'example.test', 'alice').length, 1, 'nothing delivered while delivery is off');
    assert.ok(!gw.logs.some((l) => l.queueId === held && l.event === 'delivery'));
    await reload(gw, { domains: ['example.test'], generation: 3 });
    await waitDone(gw, held);
    assert.equal(maildirFiles(`${gw.dir}/mail`, 'example.test', 'alice').length, 2);
    const third = await send(gw, 'a@example.test', ['alice@example.test']);
    await waitDone(gw, third);
    assert.equal(maildirFiles(`${gw.dir}/mail`, 'example.test', 'alice').length, 3);
  });

  it('delivers 200 messages under load with 20 reloads, and no session fails', async () => {
    const gw = await start({ domains: ['example.test'], generation: 0 });
    let sent = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (sent < 200) {
        sent++;
        try {
          await send(gw, 'a@example.test', ['load@example.test']);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    for (let n = 1; n <= 20; n++) {
      const outcome = await reload(gw, { domains: ['example.test'], generation: n, banner: `ESMTP qgate ${n}` });
      assert.ok(Array.isArray(outcome.changed), JSON.stringify(outcome));
    }
    await load;
    assert.deepEqual(failures, []);
    await gw
      .waitForLog(() => maildirFiles(`${gw.dir}/mail`, 'example.test', 'load').length === 200, 60_000)
      .catch(() => undefined);
    assert.equal(maildirFiles(`${gw.dir}/mail`, 'example.test', 'load').length, 200);
    assert.ok(!gw.logs.some((l) => l.level === 'error'), JSON.stringify(gw.logs.filter((l) => l.level === 'error')));
  });
});
