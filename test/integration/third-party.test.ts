/*
 * The third-party route, as a plugin author and an admin walk it: qgate packed
 * with npm pack; the example plugin package built against that tarball (with
 * declaration: true), tested with qgate/testing and packed; a deployment folder
 * (config.yaml + package.json depending on both tarballs) installed with npm;
 * `npx qgate check config` showing where each plugin came from; `npx qgate
 * start` loading the plugin by package name, a plugin package that carries its
 * own copy of qgate, and a .js plugin by path from a folder with no
 * node_modules, all driven by Python's smtplib and checked in the delivered
 * Maildir; and `npx qgate plugin new` from the installed package building and
 * passing its own test. npm runs with --prefer-offline (the registry is only
 * asked for what its cache lacks).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO } from '../harness/gateway.js';

const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** This runner's environment, less what would make a nested `node --test` report to this runner instead of printing. */
const { NODE_TEST_CONTEXT: _runner, ...ENV } = process.env;

/** Runs a program to completion in `cwd`; rejects with its output when it fails. */
function exec(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: ENV, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} in ${cwd} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** A plugin package whose own node_modules holds a copy of qgate that must never load. */
function writeNestedCopyPlugin(dir: string): void {
  mkdirSync(join(dir, 'node_modules', 'qgate'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'qgate-plugin-which-api',
      version: '2.0.0',
      type: 'module',
      exports: { '.': { import: './index.js' } },
    }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `import { definePlugin, next } from 'qgate';
export default definePlugin({
  name: 'which-api',
  setup(ctx) {
    ctx.on('message', (_session, transaction) => {
      transaction.addHeader('X-Qgate-Api', import.meta.resolve('qgate'));
      return next();
    });
  },
});
`,
  );
  writeFileSync(
    join(dir, 'node_modules', 'qgate', 'package.json'),
    JSON.stringify({ name: 'qgate', version: '0.0.1', type: 'module', exports: { '.': './index.js' } }),
  );
  writeFileSync(join(dir, 'node_modules', 'qgate', 'index.js'), "throw new Error('a second copy of qgate was loaded');\n");
}

const SEND = `
import json, smtplib, sys
port = int(sys.argv[1])
msg = b"From: <sender@example.org>\\r\\nTo: <user@example.test>\\r\\nSubject: third party\\r\\n\\r\\nHello.\\r\\n"
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.org") as s:
    refused = s.sendmail("sender@example.org", ["user@example.test", "closed@example.test"], msg)
    print(json.dumps({k: [v[0], v[1].decode()] for k, v in refused.items()}))
`;

describe('a plugin package outside the repository, from npm pack to delivered mail', { timeout: 420_000 }, () => {
  let work: string;
  let deploy: string;
  let qgateTarball: string;
  let gateway: ChildProcess | undefined;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'qgate-third-party-'));
    deploy = join(work, 'deploy');
  });
  after(async () => {
    if (gateway?.pid !== undefined && !gateway.stdout!.closed) {
      // npx runs the gateway as its child: stop the process group this test started, and wait
      // until the gateway itself let go of its stdout.
      const closed = once(gateway.stdout!, 'close');
      process.kill(-gateway.pid, 'SIGTERM');
      await closed;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('npm pack gives qgate with dist, the test kit and the template, without tests or source maps', async () => {
    // dist/ was just built by the test run (pretest); prepack would build it again.
    const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], REPO);
    const [pack] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    qgateTarball = join(work, pack!.filename);
    const files = pack!.files.map((f) => f.path);
    for (const file of [
      'bin/qgate.js',
      'dist/core/cli/main.js',
      'dist/core/plugin-api/index.d.ts',
      'dist/core/testing/index.js',
      'dist/core/pipeline/api-resolution-hooks.js',
      'dist/plugins/rcpthosts/index.js',
      'templates/plugin/package.json',
      'templates/plugin/gitignore',
      'config.yaml',
    ]) {
      assert.ok(files.includes(file), `${file} is in the package`);
    }
    assert.deepEqual(
      files.filter((f) => f.startsWith('dist/test/') || f.startsWith('dist/examples/') || f.endsWith('.map')),
      [],
    );
  });

  it('a deployment folder (package.json + config.yaml) installs the packed qgate', async () => {
    mkdirSync(deploy);
    writeFileSync(
      join(deploy, 'package.json'),
      JSON.stringify({ private: true, dependencies: { qgate: `file:${qgateTarball}` }, allowScripts: { 'fs-ext': true } }),
    );
    await exec('npm', ['install', ...NPM_FLAGS], deploy);
    const { stdout } = await exec('npx', ['qgate', '--version'], deploy);
    assert.equal(stdout, `${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version}\n`);
  });

  let pluginTarball: string;
  it('the example plugin builds with declaration: true against the installed qgate, passes its tests and packs', async () => {
    const dir = join(work, 'qgate-plugin-header-stamp');
    for (const part of ['src', 'test', 'package.json', 'tsconfig.json', 'README.md']) {
      cpSync(join(REPO, 'examples', 'qgate-plugin-header-stamp', part), join(dir, part), { recursive: true });
    }
    // Linked, as `qgate plugin new` does: qgate's own dependencies (TypeBox) stay out of the plugin's reach,
    // which is where TS2742 showed when 'qgate' did not export TypeBox's types.
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    manifest.devDependencies.qgate = `file:${join(deploy, 'node_modules', 'qgate')}`;
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
    await exec('npm', ['install', ...NPM_FLAGS], dir);
    const test = await exec('npm', ['test'], dir);
    assert.match(test.stdout, /^# fail 0$/m);
    const declaration = readFileSync(join(dir, 'dist', 'src', 'index.d.ts'), 'utf8');
    assert.ok(declaration.includes('import("qgate").PluginDefinition<import("qgate").TObject<'), declaration);
    assert.ok(!declaration.includes('typebox'), declaration);
    // npm test has just built dist/; prepack would build it again.
    const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], dir);
    pluginTarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
  });

  it('the plugin installs by package name; check config says where each plugin came from', async () => {
    await exec('npm', ['install', ...NPM_FLAGS, pluginTarball], deploy);
    writeNestedCopyPlugin(join(deploy, 'node_modules', 'qgate-plugin-which-api'));
    // A plain .js plugin in a folder with no node_modules anywhere above it.
    mkdirSync(join(work, 'elsewhere', 'plugins'), { recursive: true });
    writeFileSync(
      join(work, 'elsewhere', 'plugins', 'closed.js'),
      `import { definePlugin, next, reject, Type } from 'qgate';
export default definePlugin({
  name: 'closed',
  options: Type.Object({ mailboxes: Type.Array(Type.String(), { default: [] }) }),
  setup(ctx, options) {
    ctx.on('rcpt', (_s, _t, { address }) =>
      options.mailboxes.includes(address.local) ? reject(550, '5.2.1', 'Mailbox disabled') : next());
  },
});
`,
    );
    writeFileSync(
      join(deploy, 'config.yaml'),
      `hostname: mx.deploy.test
queue:
  path: ./var/queue
admin:
  port: 0
delivery:
  local_domains: [example.test]
  maildir_root: ./var/mail
  create_mailboxes: true
listeners:
  - name: smtp
    address: 127.0.0.1
    port: 0
    pipeline: inbound
pipelines:
  inbound:
    plugins:
      - use: qgate-plugin-header-stamp
      - use: qgate-plugin-which-api
      - use: ../elsewhere/plugins/closed.js
        with: { mailboxes: [closed] }
      - use: rcpthosts
        with: { domains: [example.test] }
`,
    );
    const { stdout } = await exec('npx', ['qgate', 'check', 'config'], deploy);
    const closedFile = join(work, 'elsewhere', 'plugins', 'closed.js');
    assert.match(stdout, /^config\.yaml: OK$/m);
    assert.ok(
      stdout.includes(
        `  plugins: header-stamp (package qgate-plugin-header-stamp@1.0.0), which-api (package qgate-plugin-which-api@2.0.0), closed (file ${closedFile}), rcpthosts (built-in)\n`,
      ),
      stdout,
    );
    assert.match(stdout, /^ {2}message: +header-stamp -> which-api$/m);
  });

  it('npx qgate start runs all of them against one qgate; smtplib sends, the Maildir copy carries both headers', async () => {
    gateway = spawn('npx', ['qgate', 'start'], { cwd: deploy, env: ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    gateway.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const lines: Record<string, unknown>[] = [];
    let pending = '';
    const listening = new Promise<number>((resolve, reject) => {
      gateway!.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
      gateway!.stdout!.setEncoding('utf8').on('data', (text: string) => {
        pending += text;
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const text = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!text.startsWith('{')) continue;
          const line = JSON.parse(text) as Record<string, unknown>;
          lines.push(line);
          if (line.event === 'listening') resolve(line.port as number);
        }
      });
    });
    const port = await listening;

    const { stdout } = await exec('python3', ['-c', SEND, String(port)], deploy, 30_000);
    assert.deepEqual(JSON.parse(stdout), { 'closed@example.test': [550, '5.2.1 Mailbox disabled'] });

    const inbox = join(deploy, 'var', 'mail', 'example.test', 'user', 'Maildir', 'new');
    const deadline = Date.now() + 20_000;
    let copies: string[] = [];
    while (Date.now() < deadline) {
      copies = readdirSync(inbox, { withFileTypes: true }).flatMap((e) => (e.isFile() ? [e.name] : []));
      if (copies.length) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(copies.length, 1, `one delivered copy; log: ${JSON.stringify(lines.slice(-5))}`);
    const delivered = readFileSync(join(inbox, copies[0]!), 'utf8');
    // A Maildir holds messages with LF line ends.
    assert.match(delivered, /^X-Gateway-Stamp: by mx\.deploy\.test on smtp; client=127\.0\.0\.1; tls=none; user=-$/m);
    const api = pathToFileURL(join(deploy, 'node_modules', 'qgate', 'dist', 'core', 'plugin-api', 'index.js')).href;
    assert.ok(delivered.includes(`\nX-Qgate-Api: ${api}\n`), `the plugin reached the running qgate: ${delivered}`);
    assert.match(delivered, /\nSubject: third party\n\nHello\.\n$/);
  });

  it('npx qgate plugin new, from the installed package, writes a plugin that installs and passes its test', async () => {
    const dir = join(work, 'acme');
    const { stdout } = await exec('npx', ['qgate', 'plugin', 'new', 'acme-check', '--dir', dir], deploy);
    assert.match(stdout, /next: cd .*acme && npm install && npm test/);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    assert.equal(manifest.name as unknown, 'qgate-plugin-acme-check');
    assert.equal(manifest.devDependencies!.qgate, `file:${join(deploy, 'node_modules', 'qgate')}`);
    await exec('npm', ['install', ...NPM_FLAGS], dir);
    const test = await exec('npm', ['test'], dir);
    assert.match(test.stdout, /^# pass 3$/m);
    assert.match(test.stdout, /^# fail 0$/m);
    const docs = await exec('npx', ['qgate', 'plugin', 'docs', 'dist/src/index.js', '--readme', 'README.md', '--check'], dir);
    assert.equal(docs.stderr, '');
  });
});
