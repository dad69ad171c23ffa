/*
 * The admin listener and the qgate commands that use it, against a real
 * gateway process: /metrics read with curl after real SMTP sessions, the JSON
 * API's queue commands and their answers, the token, qgate reload and stop,
 * queue list --json, --help and the exit codes, and npm start: quick to start,
 * and a gateway that does not outlive an npm killed by SIGHUP.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deliveryLines, send } from '../harness/delivery.js';
import { type Gateway, REPO, run, runCli, startGateway, within } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'plugins');
const TOKEN = 'admin-token-for-the-test-0123456789';

function adminUrl(gw: Gateway): string {
  return readFileSync(join(gw.queueDir, 'admin.url'), 'utf8').trim();
}

/** curl with its status code on the last line. */
async function curl(url: string, ...args: string[]): Promise<{ status: number; body: string }> {
  const r = await run('curl', ['-s', '-w', '\n%{http_code}', ...args, url]);
  assert.equal(r.code, 0, r.stderr);
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

/** The value of one sample line of /metrics ("name{labels} value"), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admin listener and qgate commands on a running gateway', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({
      plugins: `
      - use: ${join(FIXTURES, 'gatekeeper.js')}
      - use: rcpthosts
        with:
          domains: [example.test, closed.test]`,
      // A route to a port where nobody listens: the message stays queued, deferred.
      delivery: `
  routes:
    - { domain: closed.test, host: 127.0.0.1, port: 9, tls: none }`,
      extra: `admin:\n  port: 0\n  token: ${TOKEN}`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('serves Prometheus metrics of connections, messages, refusals, hooks, deliveries, commits and the queue', async () => {
    const id = await send(gw, 'a@example.org', ['x@closed.test']);
    await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id && l.result === 'deferred');
    // gatekeeper disconnects a sender "bye@" at MAIL with 421 4.7.0.
    const { smtp: refused } = await RawSmtp.session(gw.port);
    await refused.command('EHLO client.test');
    assert.equal((await refused.command('MAIL FROM:<bye@example.org>')).code, 421);
    refused.close();
    await gw.waitForLog((l) => l.event === 'message' && l.result === 'rejected');

    const denied = await curl(`${adminUrl(gw)}/metrics`);
    assert.equal(denied.status, 401, 'no token, no metrics');
    const wrong = await curl(`${adminUrl(gw)}/metrics`, '-H', 'Authorization: Bearer not-the-token-at-all');
    assert.equal(wrong.status, 401);
    const { status, body } = await curl(`${adminUrl(gw)}/metrics`, '-H', `Authorization: Bearer ${TOKEN}`);
    assert.equal(status, 200);
    assert.equal(sample(body, 'qgate_connections_total{listener="test"}'), 2);
    assert.equal(sample(body, 'qgate_messages_total{listener="test",result="queued",plugin="",reason="250 2.0.0"}'), 1);
    assert.equal(
      sample(body, 'qgate_messages_total{listener="test",result="rejected",plugin="gatekeeper",reason="421 4.7.0"}'),
      1,
      'a refusal counts under its plugin and reply code, never its text or addresses',
    );
    assert.doesNotMatch(body, /example\.org|closed\.test|bye/, 'no address in any label');
    assert.equal(sample(body, 'qgate_delivery_attempts_total{result="deferred",destination="route"}'), 1);
    assert.ok((sample(body, 'qgate_hook_duration_seconds_count{plugin="rcpthosts",hook="rcpt"}') ?? 0) >= 1);
    assert.ok((sample(body, 'qgate_hook_duration_seconds_count{plugin="gatekeeper",hook="mail"}') ?? 0) >= 2);
    assert.ok((sample(body, 'qgate_group_commit_batch_size_count') ?? 0) >= 1);
    assert.equal(sample(body, 'qgate_queue_messages{state="deferred"}'), 1);
    assert.ok((sample(body, 'qgate_queue_oldest_seconds{state="deferred"}') ?? -1) >= 0);
    assert.match(body, /^qgate_process_cpu_seconds_total /m);
  });

  it('the JSON API and qgate queue flush|bounce|remove wait for the outcome and report it', async () => {
    const id = await send(gw, 'a@example.org', ['y@closed.test']);
    await gw.waitForLog((l) => l.event === 'delivery' && l.queueId === id && l.result === 'deferred');
    const auth = ['-H', `Authorization: Bearer ${TOKEN}`];

    const list = await curl(`${adminUrl(gw)}/api/queue`, ...auth);
    assert.equal(list.status, 200);
    assert.ok((JSON.parse(list.body) as { id: string }[]).some((m) => m.id === id));
    const show = await curl(`${adminUrl(gw)}/api/queue/${id}`, ...auth);
    assert.equal(JSON.parse(show.body).envelope.sender, 'a@example.org');

    const flush = await curl(`${adminUrl(gw)}/api/queue/${id}/flush?wait=20000`, '-X', 'POST', ...auth);
    assert.equal(flush.status, 200, flush.body);
    const outcome = JSON.parse(flush.body);
    assert.equal(outcome.action, 'flush');
    assert.equal(outcome.done, true);
    assert.equal(outcome.by, 'scheduler');
    assert.equal(outcome.messages[0].id, id);
    assert.equal(outcome.messages[0].recipients[0].attempts, 2, 'the answer comes after the attempt it caused');
    assert.equal(deliveryLines(gw, id).length, 2);

    const cliFlush = await runCli(['queue', 'flush', id, '--config', gw.configFile]);
    assert.equal(cliFlush.code, 0, cliFlush.stderr);
    assert.match(
      cliFlush.stdout,
      new RegExp(
        `^queue flush: 1 message, by the gateway \\(pid ${gw.process.pid}\\)\\n${id}: still queued\\n    to <y@closed\\.test>  pending, 3 attempts, next \\S+, last: 4`,
      ),
    );

    const bounce = await runCli(['queue', 'bounce', id, '--json', '--config', gw.configFile]);
    assert.equal(bounce.code, 0, bounce.stderr);
    assert.deepEqual(JSON.parse(bounce.stdout), {
      action: 'bounce',
      done: true,
      by: 'scheduler',
      count: 1,
      messages: [{ id, queued: false }],
    });
    await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);

    const missing = await runCli(['queue', 'remove', id, '--config', gw.configFile]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `qgate: no message ${id} in the queue\n`);
    const notAnId = await curl(`${adminUrl(gw)}/api/queue/..%2F..%2Fetc/remove`, '-X', 'POST', ...auth);
    assert.equal(notAnId.status, 400, 'not a queue id');
    const badId = await runCli(['queue', 'remove', 'not-an-id', '--config', gw.configFile]);
    assert.equal(badId.code, 64, 'a usage error');
  });

  it('qgate reload answers with the outcome', async () => {
    const r = await runCli(['reload', '--config', gw.configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `reloaded (pid ${gw.process.pid})\n`);
    await gw.waitForLog((l) => l.event === 'reload');
  });
});

describe('TLS versions in the metrics', () => {
  it('counts each completed handshake by listener and protocol version', async () => {
    const gw = await startGateway({
      plugins: `
      - use: starttls
        with:
          generate: var/tls/selfsigned.pem
      - use: rcpthosts
        with:
          domains: [example.test]`,
    });
    try {
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('STARTTLS')).code, 220);
      await smtp.startTls();
      assert.equal((await smtp.command('EHLO client.test')).code, 250);
      smtp.close();
      await gw.waitForLog((l) => l.event === 'tls' && l.protocol === 'TLSv1.3');
      const { body } = await curl(`${adminUrl(gw)}/metrics`);
      assert.equal(sample(body, 'qgate_tls_sessions_total{listener="test",version="TLSv1.3"}'), 1);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

describe("qgate stop, and the admin listener's limits", () => {
  it('qgate stop stops the gateway found through its lock and waits until it is gone', async () => {
    const gw = await startGateway();
    try {
      const url = adminUrl(gw);
      // No token configured: counts are open on loopback, changing the queue takes this run's
      // token, readable only by the gateway's user and root.
      assert.equal((await curl(`${url}/metrics`)).status, 200);
      assert.equal((await curl(`${url}/api/status`)).status, 200);
      assert.equal((await curl(`${url}/api/queue`)).status, 401, 'the queue lists addresses');
      assert.equal((await curl(`${url}/api/queue/flush`, '-X', 'POST')).status, 401);
      const tokenFile = join(gw.queueDir, 'admin.token');
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      const local = readFileSync(tokenFile, 'utf8').trim();
      const flush = await curl(`${url}/api/queue/flush`, '-X', 'POST', '-H', `Authorization: Bearer ${local}`);
      assert.equal(flush.status, 200, flush.body);
      const r = await runCli(['stop', '--config', gw.configFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `stopped (pid ${gw.process.pid})\n`);
      assert.equal(await gw.stop(), 0, 'it exited 0');
      assert.ok(!existsSync(join(gw.queueDir, 'admin.url')), 'the API address is gone with it');
      assert.ok(!existsSync(tokenFile), 'and the token of that run');
      assert.ok(!existsSync(join(gw.queueDir, 'gateway.lock')));
      const gone = await run('curl', ['-s', '--max-time', '5', `${url}/metrics`]);
      assert.notEqual(gone.code, 0, 'nothing listens any more');
      const again = await runCli(['stop', '--config', gw.configFile]);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /^no gateway is running on the queue /);
      const reload = await runCli(['reload', '--config', gw.configFile]);
      assert.equal(reload.code, 69, 'EX_UNAVAILABLE');
      const list = await runCli(['queue', 'list', '--json', '--config', gw.configFile]);
      assert.equal(list.stdout, '[]\n', 'an empty queue is an empty JSON array');
    } finally {
      gw.cleanup();
    }
  });

  it('an admin address other than loopback without a token is a configuration error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-admin-'));
    try {
      writeFileSync(
        join(dir, 'config.yaml'),
        'queue: { path: ./queue }\nadmin:\n  address: 0.0.0.0\nlisteners:\n  - { name: smtp, port: 0, pipeline: p }\npipelines:\n  p: { plugins: [] }\n',
      );
      const r = await runCli(['start', '--config', 'config.yaml'], dir);
      assert.equal(r.code, 78);
      assert.equal(
        r.stderr,
        'qgate: configuration error\nconfig.yaml:3:12 admin.address: 0.0.0.0 is reachable from other hosts: set admin.token, token_file or token_env\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('qgate --help and usage errors', { concurrency: true }, () => {
  for (const args of [
    ['--help'],
    ['queue', '--help'],
    ['queue', 'flush', '--help'],
    ['stop', '--help'],
    ['reload', '--help'],
    ['start', '--help'],
  ]) {
    it(`qgate ${args.join(' ')} shows options, examples and exit codes`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: qgate/);
      assert.match(r.stdout, /\nOptions:\n/);
      assert.match(r.stdout, /\nExamples:\n {2}\$ qgate /);
      assert.match(r.stdout, /\nExit codes:\n {2}0 {3}done\n/);
      assert.match(r.stdout, / 64 {2}usage error/);
    });
  }

  it('the signals are in the help of start, stop and reload', async () => {
    for (const command of ['start', 'stop', 'reload']) {
      const r = await runCli([command, '--help']);
      assert.match(r.stdout, /SIGTERM, SIGINT {2}stop gracefully/);
      assert.match(r.stdout, /SIGHUP {11}reload/);
    }
  });

  for (const args of [['--bogus'], ['queue'], ['queue', 'show'], ['stop', '--timeout', 'soon'], ['nonsense']]) {
    it(`qgate ${args.join(' ')} is a usage error: exit 64`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 64, r.stderr);
      assert.notEqual(r.stderr, '');
    });
  }
});

describe('npm start', () => {
  it('starts without compiling, and a gateway whose npm dies of SIGHUP stops instead of running on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-npm-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      'queue: { path: ./queue }\nadmin: { port: 0 }\nlisteners:\n  - { name: smtp, port: 0, pipeline: p }\npipelines:\n  p: { plugins: [] }\n',
    );
    const started = Date.now();
    const npm = spawn('npm', ['start', '--silent', '--', '--config', join(dir, 'config.yaml')], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    npm.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    npm.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
    try {
      await within(
        new Promise<void>((res) => {
          const check = () => (out.includes('"event":"listening"') ? res() : setTimeout(check, 50));
          check();
        }),
        30_000,
        `npm start listening; stderr: ${err}`,
      );
      const startMs = Date.now() - started;
      assert.ok(!out.includes('tsc'), 'no compiler run');
      const lock = join(dir, 'queue', 'gateway.lock');
      const pid = Number(readFileSync(lock, 'latin1'));
      assert.notEqual(pid, npm.pid, "the gateway is npm's child");
      process.stdout.write(`# npm start: listening after ${startMs} ms\n`);
      npm.kill('SIGHUP');
      // npm dies of it; the gateway notices within about a second and stops gracefully.
      const deadline = Date.now() + 20_000;
      while (existsSync(lock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!existsSync(lock), `the gateway stopped and let go of the queue; stderr: ${err}`);
      const alive = () => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!alive(), 'no orphaned gateway');
    } finally {
      npm.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a gateway another script starts inside an npm script (npm run bench) keeps running after that script's shell exits", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-npm-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      'queue: { path: ./queue }\nadmin: { port: 0 }\nlisteners:\n  - { name: smtp, port: 0, pipeline: p }\npipelines:\n  p: { plugins: [] }\n',
    );
    const lock = join(dir, 'queue', 'gateway.lock');
    // As bench/qgate/start.sh does: start in the background, wait until it listens, print
    // the pid, exit. npm's environment is inherited, but npm is not the parent that could die of SIGHUP.
    const log = join(dir, 'log');
    const script =
      `node bin/qgate.js start --config '${join(dir, 'config.yaml')}' >'${log}' 2>&1 </dev/null & pid=$!; ` +
      `for i in $(seq 300); do grep -q '"event":"listening"' '${log}' && break; sleep 0.1; done; echo $pid`;
    const started = spawnSync('bash', ['-c', script], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, npm_lifecycle_event: 'bench', npm_command: 'run-script' },
    });
    const pid = Number(started.stdout.trim());
    assert.ok(pid > 0, started.stderr);
    try {
      assert.match(readFileSync(log, 'utf8'), /"event":"listening"/);
      // The parent check runs every second; three of them pass.
      await new Promise((r) => setTimeout(r, 3_500));
      const text = readFileSync(log, 'utf8');
      assert.doesNotMatch(text, /npm, which started this gateway, is gone/);
      assert.ok(existsSync(lock), `still running; log: ${text}`);
      process.kill(pid, 0);
    } finally {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
      const deadline = Date.now() + 20_000;
      while (existsSync(lock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
