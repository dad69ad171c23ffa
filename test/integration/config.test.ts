/*
 * Configuration errors through the real CLI. Every mistake in config.yaml or
 * a pipeline file is reported on stderr as "qgate: configuration error" and
 * one line per problem, FILE:LINE:COL KEY: MESSAGE, with exit code 78
 * (EX_CONFIG); `qgate check config` prints the plugin order on each hook per
 * listener; `qgate start` refuses a bad configuration without listening.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { QGATE, REPO, runCli } from '../harness/gateway.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The text of a YAML file written indented in a template literal. */
function yaml(text: string): string {
  const lines = text
    .replace(/^\n/, '')
    .replace(/\n[ ]*$/, '\n')
    .split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** A fresh directory holding `files` (name relative to it -> contents). */
function project(files: Record<string, string>): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'qgate-config-')));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    const file = join(dir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return dir;
}

/**
 * stderr is the header line and exactly the expected problem lines (in any
 * order): strings match a whole line exactly, patterns must match one line.
 */
function assertProblems(stderr: string, expected: readonly (string | RegExp)[]): void {
  const lines = stderr.split('\n');
  assert.equal(lines.pop(), '', `stderr does not end with a newline:\n${stderr}`);
  assert.equal(lines.shift(), 'qgate: configuration error', `stderr:\n${stderr}`);
  const rest = [...lines];
  for (const want of expected) {
    const i = rest.findIndex((l) => (typeof want === 'string' ? l === want : want.test(l)));
    assert.notEqual(i, -1, `expected problem line\n  ${want}\nnot in stderr:\n${stderr}`);
    rest.splice(i, 1);
  }
  assert.deepEqual(rest, [], `unexpected problem lines; stderr:\n${stderr}`);
}

/**
 * Runs qgate for at most `ms`, and kills it at once if it logs that it is
 * listening (for `start`, which must refuse a bad configuration).
 */
function runStart(
  args: string[],
  cwd: string,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [QGATE, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: ms,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
      if (stdout.includes('"event":"listening"')) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('exit', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

interface Row {
  readonly why: string;
  /** Files of the project directory; "config.yaml" is the configuration. */
  readonly files: Record<string, string>;
  /** The expected problem lines; "$DIR" stands for the project directory. */
  readonly problems: readonly (string | RegExp)[];
  /** --config argument ("$DIR" allowed); default config.yaml. */
  readonly config?: string;
  /** Working directory of the CLI; default the project directory. */
  readonly cwd?: string;
}

const LISTENER_KEYS =
  'name, address, port, pipeline, protocol, hostname, max_connections, max_connections_per_ip, timeout, command_deadline, ' +
  'min_data_rate, max_command_line, max_text_line, max_recipients, max_errors, smtpd_forbid_bare_newline, require_helo, ' +
  'banner, backlog, plaintext_login, max_login_failures, login_failure_window, max_commands';
const SIZE = 'expected a size like 10485760, "512KB" or "25MB"';
const DURATION = 'expected a duration like 30 (seconds), "500ms", "5m" or "7d" (at most 24 days)';

/** config.yaml with one listener on pipeline "inbound", read from pipelines/inbound.yaml. */
const WITH_PIPELINE_FILE = yaml(`
  listeners:
    - name: smtp
      port: 2525
      pipeline: inbound
  pipelines:
    inbound: pipelines/inbound.yaml
`);

const rows: Row[] = [
  // YAML itself
  {
    why: 'YAML syntax error: position of the offending value',
    files: {
      'config.yaml': yaml(`
        hostname: mx.example.test
        listeners:
          - name: smtp
            port: 2525: 2526
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:4:11: YAML syntax error: Nested mappings are not allowed in compact mappings'],
  },
  {
    why: 'YAML: a key given twice',
    files: {
      'config.yaml': yaml(`
        hostname: mx.example.test
        hostname: mx2.example.test
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:2:1: YAML syntax error: Map keys must be unique'],
  },
  {
    why: 'the configuration file does not exist',
    files: {},
    config: 'qgate.yaml',
    problems: ["qgate.yaml: cannot read: ENOENT: no such file or directory, open '$DIR/qgate.yaml'"],
  },
  {
    why: 'a document that is not a mapping',
    files: { 'config.yaml': '- smtp\n- submission\n' },
    problems: ['config.yaml:1:1: expected object, got ["smtp","submission"]'],
  },

  // Keys and values of config.yaml
  {
    why: 'unknown top-level key lists the allowed keys',
    files: {
      'config.yaml': yaml(`
        hostname: mx.example.test
        smtpd_banner: hello
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [
      'config.yaml:2:1 smtpd_banner: unknown key; expected one of: hostname, user, group, queue, log, delivery, admin, hook_timeout, shutdown_grace, listeners, pipelines',
    ],
  },
  {
    why: 'unknown listener key lists the allowed keys',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            message_size_limit: 10MB
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [`config.yaml:5:5 listeners[0].message_size_limit: unknown key; expected one of: ${LISTENER_KEYS}`],
  },
  {
    why: 'port above 65535',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 70000
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:3:11 listeners[0].port: must be <= 65535, got 70000'],
  },
  {
    why: 'negative port',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: -1
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:3:11 listeners[0].port: must be >= 0, got -1'],
  },
  {
    why: 'port given as a service name',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: smtp
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:3:11 listeners[0].port: expected integer, got "smtp"'],
  },
  {
    why: 'port that is not a whole number',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 25.5
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:3:11 listeners[0].port: expected integer, got 25.5'],
  },
  {
    why: 'size that is not a size',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            max_command_line: lots
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [`config.yaml:5:23 listeners[0].max_command_line: ${SIZE}, got "lots"`],
  },
  {
    why: 'size with a unit below the minimum',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            max_command_line: 32B
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:5:23 listeners[0].max_command_line: must be >= 64, got 32'],
  },
  {
    why: 'duration that is not a duration',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            timeout: forever
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [`config.yaml:5:14 listeners[0].timeout: ${DURATION}, got "forever"`],
  },
  {
    why: 'duration longer than a timer can hold',
    files: {
      'config.yaml': yaml(`
        hook_timeout: 30d
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [`config.yaml:1:15 hook_timeout: ${DURATION}, got "30d"`],
  },
  {
    why: 'value not among the allowed ones lists them',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            smtpd_forbid_bare_newline: maybe
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:5:32 listeners[0].smtpd_forbid_bare_newline: expected one of "reject", "normalize", got "maybe"'],
  },
  {
    why: 'boolean written as yes (YAML 1.2: a string)',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            require_helo: yes
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:5:19 listeners[0].require_helo: expected boolean, got "yes"'],
  },
  {
    why: 'listener without port',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            address: 127.0.0.1
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:2:5 listeners[0].port: is required but missing'],
  },
  {
    why: 'second listener without pipeline',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
          - name: submission
            port: 2587
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:5:5 listeners[1].pipeline: is required but missing'],
  },
  {
    why: 'no listener at all',
    files: { 'config.yaml': 'listeners: []\npipelines: {}\n' },
    problems: ['config.yaml:1:12 listeners: must NOT have fewer than 1 items, got []'],
  },

  // Listeners against each other and against the pipelines
  {
    why: 'listener naming an undefined pipeline lists the defined ones',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: outbound
        pipelines:
          inbound: { plugins: [] }
          submission: { plugins: [] }
      `),
    },
    problems: ['config.yaml:4:15 listeners[0].pipeline: no pipeline named "outbound"; defined: inbound, submission'],
  },
  {
    why: 'listener naming a pipeline that is an Object.prototype property',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: toString
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:4:15 listeners[0].pipeline: no pipeline named "toString"; defined: inbound'],
  },
  {
    why: 'pipeline name outside [A-Za-z0-9_.-]',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: in bound
        pipelines:
          in bound: { plugins: [] }
      `),
    },
    problems: [/^config\.yaml:6:3 pipelines\.in bound: .+$/],
  },
  {
    why: 'two listeners with the same name',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
          - name: smtp
            port: 2526
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:5:11 listeners[1].name: duplicate listener name "smtp"'],
  },
  {
    why: 'two listeners on the same address and port (one by default address)',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
          - name: submission
            address: 127.0.0.1
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: ['config.yaml:7:11 listeners[1].port: another listener already uses 127.0.0.1:2525'],
  },

  // Pipeline files
  {
    why: 'pipeline file that does not exist',
    files: { 'config.yaml': WITH_PIPELINE_FILE },
    problems: [
      "config.yaml:6:12 pipelines.inbound: pipeline file pipelines/inbound.yaml: cannot read: ENOENT: no such file or directory, open '$DIR/pipelines/inbound.yaml'",
    ],
  },
  {
    why: 'YAML error inside a pipeline file points into that file',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with: domains: [example.test]
      `),
    },
    problems: ['pipelines/inbound.yaml:3:11: YAML syntax error: Nested mappings are not allowed in compact mappings'],
  },
  {
    why: 'unknown key in a pipeline file',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugin:
          - use: rcpthosts
      `),
    },
    problems: ['pipelines/inbound.yaml:1:1 plugin: unknown key; expected one of: description, plugins'],
  },
  {
    why: 'unknown plugin name lists the built-in plugins',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
          - use: greylist
      `),
    },
    problems: [
      'pipelines/inbound.yaml:3:10 plugins[1].use: unknown plugin "greylist": not a built-in plugin (auth, blacklist, clamav, file-users, ldap-users, rcpthosts, relay, relay-ctrl, size, spamassassin, sql-users, starttls), and no package "greylist" in $DIR/pipelines/node_modules or the node_modules of a folder above it (up to /node_modules); give a path (./my-plugin.js) or install the package there (npm install greylist)',
    ],
  },
  {
    why: 'plugin path that does not exist (resolved from the pipeline file)',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: ./local/greylist.js
      `),
    },
    problems: ['pipelines/inbound.yaml:2:10 plugins[0].use: plugin file $DIR/pipelines/local/greylist.js does not exist'],
  },
  {
    why: 'local plugin file that exports no plugin',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
          - use: ../plugins/helper.js
      `),
      'plugins/helper.js': 'export const helper = () => 42;\n',
    },
    problems: [
      'pipelines/inbound.yaml:3:10 plugins[1].use: cannot load plugin: $DIR/plugins/helper.js does not export a plugin (default export of definePlugin({ name, setup }))',
    ],
  },
  {
    why: 'local plugin file that throws while loading',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: ./broken.js
      `),
      'pipelines/broken.js': "throw new Error('missing dependency');\n",
    },
    problems: ['pipelines/inbound.yaml:2:10 plugins[0].use: cannot load plugin: missing dependency'],
  },

  // Plugin options
  {
    why: 'rcpthosts: a domain that is not a domain',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with:
              domains: [example.test, bad domain!]
      `),
    },
    problems: [
      `pipelines/inbound.yaml:4:31 plugins[0].with.domains[1]: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), got "bad domain!"`,
    ],
  },
  {
    why: 'rcpthosts: unknown option lists the options',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with:
              domains: [example.test]
              relay: yes
      `),
    },
    problems: [
      'pipelines/inbound.yaml:5:7 plugins[0].with.relay: unknown key; expected one of: domains, files, refuse_routing, postmaster',
    ],
  },
  {
    why: 'rcpthosts: options of the wrong type',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with:
              domains: example.test
              postmaster: "no"
      `),
    },
    problems: [
      'pipelines/inbound.yaml:4:16 plugins[0].with.domains: expected array, got "example.test"',
      'pipelines/inbound.yaml:5:19 plugins[0].with.postmaster: expected boolean, got "no"',
    ],
  },
  {
    why: 'rcpthosts: a domain file that cannot be read is reported at its key',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with:
              files: [control/rcpthosts]
      `),
    },
    problems: ['pipelines/inbound.yaml:4:15 plugins[0].with.files[0]: cannot read pipelines/control/rcpthosts: no such file'],
  },
  {
    why: 'inline pipeline: option error keyed under pipelines.NAME',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound:
            plugins:
              - use: rcpthosts
                with:
                  domains: [example.test]
                  relay: true
      `),
    },
    problems: [
      'config.yaml:11:11 pipelines.inbound.plugins[0].with.relay: unknown key; expected one of: domains, files, refuse_routing, postmaster',
    ],
  },
  {
    why: 'inline pipeline: bad plugin entry',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound:
            plugins:
              - use: rcpthosts
                timeout: forever
              - rcpthosts
      `),
    },
    problems: [
      `config.yaml:9:18 pipelines.inbound.plugins[0].timeout: ${DURATION}, got "forever"`,
      'config.yaml:10:9 pipelines.inbound.plugins[1]: expected object, got "rcpthosts"',
    ],
  },
  {
    why: 'the same plugin twice without a distinct name:',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with: { domains: [example.test] }
          - use: rcpthosts
            with: { domains: [example.org] }
      `),
    },
    problems: [
      'pipelines/inbound.yaml:4:5 plugins[1]: plugin name "rcpthosts" is used twice in this pipeline; give one of them a name:',
    ],
  },

  // Several problems in one run
  {
    why: 'several problems in config.yaml at once',
    files: {
      'config.yaml': yaml(`
        hostname: mx.example.test
        listeners:
          - name: smtp
            port: 70000
            pipeline: inbound
            timeout: forever
            max_command_line: lots
          - name: submission
            port: 2587
            pipeline: inbound
            colour: blue
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [
      'config.yaml:4:11 listeners[0].port: must be <= 65535, got 70000',
      `config.yaml:6:14 listeners[0].timeout: ${DURATION}, got "forever"`,
      `config.yaml:7:23 listeners[0].max_command_line: ${SIZE}, got "lots"`,
      `config.yaml:11:5 listeners[1].colour: unknown key; expected one of: ${LISTENER_KEYS}`,
    ],
  },
  {
    why: 'several problems across config.yaml and pipeline files at once',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
          - name: smtp
            port: 2525
            pipeline: outbound
        pipelines:
          inbound: pipelines/inbound.yaml
          relay: pipelines/relay.yaml
      `),
      'pipelines/inbound.yaml': 'plugins:\n  - use: rcpthosts\n    enabled: sometimes\n',
    },
    problems: [
      'pipelines/inbound.yaml:3:14 plugins[0].enabled: expected boolean, got "sometimes"',
      "config.yaml:10:10 pipelines.relay: pipeline file pipelines/relay.yaml: cannot read: ENOENT: no such file or directory, open '$DIR/pipelines/relay.yaml'",
      'config.yaml:7:15 listeners[1].pipeline: no pipeline named "outbound"; defined: inbound, relay',
      'config.yaml:5:11 listeners[1].name: duplicate listener name "smtp"',
      'config.yaml:6:11 listeners[1].port: another listener already uses 127.0.0.1:2525',
    ],
  },
  {
    why: 'several plugin problems across two pipelines at once',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
          - name: submission
            port: 2587
            pipeline: submission
        pipelines:
          inbound: pipelines/inbound.yaml
          submission:
            plugins:
              - use: spf
      `),
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with: { domains: [bad domain!] }
          - use: rcpthosts
      `),
    },
    problems: [
      `pipelines/inbound.yaml:3:23 plugins[0].with.domains[0]: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), got "bad domain!"`,
      'pipelines/inbound.yaml:4:5 plugins[1]: plugin name "rcpthosts" is used twice in this pipeline; give one of them a name:',
      'config.yaml:12:14 pipelines.submission.plugins[0].use: unknown plugin "spf": not a built-in plugin (auth, blacklist, clamav, file-users, ldap-users, rcpthosts, relay, relay-ctrl, size, spamassassin, sql-users, starttls), and no package "spf" in $DIR/node_modules or the node_modules of a folder above it (up to /node_modules); give a path (./my-plugin.js) or install the package there (npm install spf)',
    ],
  },

  {
    why: 'size.listeners and starttls.implicit_listeners naming a listener that does not exist',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
          - name: submissions
            port: 2465
            pipeline: inbound
        pipelines:
          inbound: pipelines/inbound.yaml
      `),
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: starttls
            with: { generate: tls.pem, implicit_listeners: [submissions, smtps] }
          - use: size
            with:
              listeners:
                submission: 50MB
                smtp: 10MB
      `),
    },
    problems: [
      'pipelines/inbound.yaml:3:66 plugins[0].with.implicit_listeners[1]: unknown listener "smtps"; the listeners are: smtp, submissions',
      'pipelines/inbound.yaml:7:9 plugins[1].with.listeners.submission: unknown listener "submission"; the listeners are: smtp, submissions',
    ],
  },
  // Caught by check config and start alike, instead of at bind time or never
  {
    why: 'user that names no account',
    files: {
      'config.yaml': yaml(`
        user: no-such-qgate-user
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [
      'config.yaml:1:7 user: user "no-such-qgate-user" does not exist (getent passwd no-such-qgate-user); create it or fix `user:`',
    ],
  },
  {
    why: 'group that names no group',
    files: {
      'config.yaml': yaml(`
        user: nobody
        group: no-such-qgate-group
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [
      'config.yaml:2:8 group: group "no-such-qgate-group" does not exist (getent group no-such-qgate-group); create it or fix `group:`',
    ],
  },
  {
    why: 'listener address that is not an IP address',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            address: 999.1.1.1
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    problems: [
      'config.yaml:3:14 listeners[0].address: expected an IPv4 or IPv6 address (127.0.0.1, ::1, 0.0.0.0, ::), got "999.1.1.1"',
    ],
  },
  {
    why: 'host name with a space and a "!"',
    files: {
      'config.yaml': yaml(`
        hostname: "mx isp!"
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            hostname: mx_1.example.test
        pipelines:
          inbound: { plugins: [] }
        delivery:
          helo: -mx.example.test
      `),
    },
    problems: [
      'config.yaml:1:11 hostname: expected a host name like mx.example.net, got "mx isp!"',
      'config.yaml:6:15 listeners[0].hostname: expected a host name like mx.example.net, got "mx_1.example.test"',
      'config.yaml:10:9 delivery.helo: expected a host name like mx.example.net, got "-mx.example.test"',
    ],
  },
  {
    why: 'local domain, route domain and route host that are not domains',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
        delivery:
          local_domains: [example.test, bad domain]
          routes:
            - { domain: "example.org,example.net", host: mailstore.example.test }
            - { domain: example.com, host: "mail store" }
      `),
    },
    problems: [
      'config.yaml:8:33 delivery.local_domains[1]: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), got "bad domain"',
      'config.yaml:10:17 delivery.routes[0].domain: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), or "*" for every other domain, got "example.org,example.net"',
      'config.yaml:11:36 delivery.routes[1].host: expected a host name or an IP address, got "mail store"',
    ],
  },
  {
    why: 'two "*" routes, and a domain routed twice',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
        delivery:
          routes:
            - { domain: "*", host: smarthost.example.test }
            - { domain: example.org, host: mailstore.example.test }
            - { domain: "*", host: backup.example.test }
            - { domain: Example.ORG, host: other.example.test }
      `),
    },
    problems: [
      'config.yaml:11:17 delivery.routes[2].domain: delivery.routes[0] already routes "*"; only the first would be used',
      'config.yaml:12:17 delivery.routes[3].domain: delivery.routes[1] already routes "Example.ORG"; only the first would be used',
    ],
  },
  {
    why: 'zero durations: a session timeout, a plugin time limit, a retry interval',
    files: {
      'config.yaml': yaml(`
        hook_timeout: 0
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
            timeout: 0
            command_deadline: 0s
        pipelines:
          inbound: { plugins: [] }
        delivery:
          retry_base_remote: 0
          connect_timeout: 0
      `),
    },
    problems: [
      'config.yaml:1:15 hook_timeout: must be > 0, got 0',
      'config.yaml:6:14 listeners[0].timeout: must be > 0, got 0',
      'config.yaml:7:23 listeners[0].command_deadline: must be > 0, got 0',
      'config.yaml:11:22 delivery.retry_base_remote: must be > 0, got 0',
      'config.yaml:12:20 delivery.connect_timeout: must be > 0, got 0',
    ],
  },
  {
    why: 'a plugin time limit of zero',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            timeout: 0ms
      `),
    },
    problems: ['pipelines/inbound.yaml:3:14 plugins[0].timeout: must be > 0, got 0'],
  },
  {
    why: 'delivery.pipeline naming an undefined pipeline',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
        delivery:
          pipeline: mailstore
      `),
    },
    problems: ['config.yaml:8:13 delivery.pipeline: no pipeline named "mailstore"; defined: inbound'],
  },
  {
    why: 'aliases file that does not exist',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
        delivery:
          local_domains: [example.test]
          aliases: control/aliases.yaml
      `),
    },
    problems: [
      "config.yaml:9:12 delivery.aliases: aliases file control/aliases.yaml: cannot read: ENOENT: no such file or directory, open '$DIR/control/aliases.yaml'",
    ],
  },
  {
    why: 'aliases file with a YAML error points into that file',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
        delivery:
          aliases: aliases.yaml
      `),
      'aliases.yaml': 'postmaster: alice\nteam: [alice, bob\n',
    },
    problems: [/^aliases\.yaml:\d+:\d+: YAML syntax error: .+$/],
  },
  {
    why: 'aliases file with a bad target names the alias, its line and column',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
        delivery:
          aliases: aliases.yaml
      `),
      'aliases.yaml': 'postmaster: alice\nteam: "alice, bob"\nbackup: "|/usr/bin/backup"\n',
    },
    problems: ['aliases.yaml:2:7 team: target "alice, bob" is not one address (use a list)'],
  },
  {
    why: 'rcpthosts: a bad line in a domain file names the file and line, at the key',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: rcpthosts
            with:
              files: [rcpthosts, morercpthosts]
      `),
      'pipelines/rcpthosts': 'example.test\n',
      'pipelines/morercpthosts': '# more\nexample.org\nexample.net example.com\n',
    },
    problems: [
      'pipelines/inbound.yaml:4:26 plugins[0].with.files[1]: morercpthosts:3: expected a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1]), got "example.net example.com"',
    ],
  },
  {
    why: 'starttls: missing certificate and key files are reported at their keys',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: starttls
            with:
              cert: tls/cert.pem
              key: tls/key.pem
      `),
    },
    problems: ['pipelines/inbound.yaml:4:13 plugins[0].with.cert: cannot read pipelines/tls/cert.pem: no such file'],
  },
  {
    why: 'starttls: a certificate that is not PEM says so, naming the file',
    files: {
      'config.yaml': WITH_PIPELINE_FILE,
      'pipelines/inbound.yaml': yaml(`
        plugins:
          - use: starttls
            with:
              cert: cert.der
              key: cert.der
      `),
      'pipelines/cert.der': '0\x82\x03\x01binary\n',
    },
    problems: [
      'pipelines/inbound.yaml:4:13 plugins[0].with.cert: $DIR/pipelines/cert.der is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" line (a DER file? convert it: openssl x509 -inform der -in FILE -out FILE.pem)',
    ],
  },

  // File names
  {
    why: 'file names outside the working directory are absolute',
    files: {
      'config.yaml': yaml(`
        listeners:
          - name: smtp
            port: 70000
            pipeline: inbound
        pipelines:
          inbound: { plugins: [] }
      `),
    },
    config: '$DIR/config.yaml',
    cwd: REPO,
    problems: ['$DIR/config.yaml:3:11 listeners[0].port: must be <= 65535, got 70000'],
  },
];

function expand(problems: readonly (string | RegExp)[], dir: string): (string | RegExp)[] {
  return problems.map((p) => (typeof p === 'string' ? p.replaceAll('$DIR', dir) : p));
}

describe('configuration errors (qgate check config)', { concurrency: 4 }, () => {
  for (const row of rows) {
    it(row.why, async () => {
      const dir = project(row.files);
      const config = (row.config ?? 'config.yaml').replaceAll('$DIR', dir);
      const r = await runCli(['check', 'config', '--config', config], row.cwd ?? dir);
      assertProblems(r.stderr, expand(row.problems, dir));
      assert.equal(r.stdout, '');
      assert.equal(r.code, 78);
    });
  }
});

describe('qgate start with a bad configuration', { concurrency: 4 }, () => {
  const byWhy = (why: string): Row => rows.find((r) => r.why === why)!;
  const cases: Row[] = [
    byWhy('port above 65535'),
    byWhy('several problems in config.yaml at once'),
    byWhy('several problems across config.yaml and pipeline files at once'),
    byWhy('rcpthosts: unknown option lists the options'),
    byWhy('size.listeners and starttls.implicit_listeners naming a listener that does not exist'),
    byWhy('user that names no account'),
    byWhy('listener address that is not an IP address'),
    byWhy('delivery.pipeline naming an undefined pipeline'),
    byWhy('aliases file that does not exist'),
    byWhy('aliases file with a bad target names the alias, its line and column'),
    byWhy('two "*" routes, and a domain routed twice'),
    byWhy('zero durations: a session timeout, a plugin time limit, a retry interval'),
    byWhy('rcpthosts: a bad line in a domain file names the file and line, at the key'),
    {
      why: 'listener naming a pipeline that is an Object.prototype property',
      files: {
        'config.yaml': yaml(`
          listeners:
            - name: smtp
              port: 0
              pipeline: constructor
          pipelines:
            inbound: { plugins: [] }
        `),
      },
      problems: ['config.yaml:4:15 listeners[0].pipeline: no pipeline named "constructor"; defined: inbound'],
    },
  ];
  for (const row of cases) {
    it(`exits 78 without listening: ${row.why}`, async () => {
      const dir = project(row.files);
      const r = await runStart(['start', '--config', 'config.yaml'], dir, 20_000);
      assert.equal(r.signal, null, `listening or still running after 20 s; stdout:\n${r.stdout}`);
      assertProblems(r.stderr, expand(row.problems, dir));
      assert.equal(r.stdout, '', 'no log lines (in particular no "listening")');
      assert.equal(r.code, 78);
    });
  }
});

/** The blocks of `qgate check config` output, separated by blank lines. */
function blocks(stdout: string): string[][] {
  assert.ok(stdout.endsWith('\n'), stdout);
  return stdout
    .slice(0, -1)
    .split('\n\n')
    .map((b) => b.split('\n'));
}

function hookLine(block: readonly string[], hook: string): string | undefined {
  return block.find((l) => l.startsWith(`  ${hook}:`));
}

const HOOKS = [
  'init',
  'connect',
  'helo',
  'capabilities',
  'command',
  'mail',
  'rcpt',
  'data',
  'message',
  'queue',
  'reset',
  'disconnect',
  'lookupUser',
  'authenticate',
  'relayGrant',
  'reload',
  'shutdown',
];

describe('qgate check config on a good configuration', { concurrency: true }, () => {
  it("describes the repository's own config.yaml: every hook, the MX and submission pipelines, the core queue last", async () => {
    const r = await runCli(['check', 'config'], REPO);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    const [head, mx, submission, submissions, pop3, delivery, ...more] = blocks(r.stdout);
    assert.deepEqual(head, ['config.yaml: OK']);
    assert.deepEqual(more, [], 'four listeners and delivery');
    assert.deepEqual(pop3, [
      'listener pop3 (pop3) on 127.0.0.1:2110, pipeline pop3 (pipelines/pop3.yaml)',
      '  plugins: starttls (built-in), file-users (built-in)',
      '  init:         starttls',
      '  lookupUser:   file-users',
      '  authenticate: file-users',
      '  tls:          starttls',
      '  pop3-login:   -',
      '  relayGrant:   -',
      '  reload:       starttls -> file-users',
      '  shutdown:     -',
    ]);
    assert.deepEqual(delivery, [
      'delivery, no pipeline',
      '  plugins: (none)',
      '  route:        core (local_domains, routes, MX)',
      '  deliver:      core (Maildir, SMTP)',
      '  bounce:       -',
      '  lookupUser:   core (create_mailboxes, else an existing Maildir)',
      '  authenticate: -',
      '  local domains: localhost, example.test, .example.test',
      '  routes:',
      '    other domains -> MX:25, tls opportunistic',
    ]);
    assert.equal(mx![0], 'listener smtp on 127.0.0.1:2525, pipeline inbound (pipelines/inbound.yaml)');
    assert.equal(mx![1], '  plugins: starttls (built-in), blacklist (built-in), size (built-in), rcpthosts (built-in)');
    for (const listener of [mx!, submission!, submissions!]) {
      assert.deepEqual(
        listener.slice(2).map((l) => /^ {2}(\w+):/.exec(l)?.[1]),
        HOOKS,
        'one line per hook, in the order they run',
      );
      assert.equal(hookLine(listener, 'queue'), '  queue:        core queue');
    }
    assert.equal(hookLine(mx!, 'rcpt'), '  rcpt:         blacklist -> rcpthosts');
    assert.equal(submission![0], 'listener submission on 127.0.0.1:2587, pipeline submission (pipelines/submission.yaml)');
    assert.equal(submissions![0], 'listener submissions on 127.0.0.1:2465, pipeline submission (pipelines/submission.yaml)');
    assert.equal(hookLine(submission!, 'mail'), '  mail:         auth -> size');
    assert.equal(hookLine(submission!, 'authenticate'), '  authenticate: file-users');
  });

  it('shows each listener with its own pipeline: two rcpthosts instances in order, and an empty pipeline', async () => {
    const dir = project({
      'config.yaml': yaml(`
        listeners:
          - name: mx
            address: 127.0.0.1
            port: 2525
            pipeline: two
          - name: local
            address: ::1
            port: 0
            pipeline: empty
        pipelines:
          two: pipelines/two.yaml
          empty: { plugins: [] }
      `),
      'pipelines/two.yaml': yaml(`
        plugins:
          - use: rcpthosts
            name: a
            with: { domains: [example.test] }
          - use: rcpthosts
            name: b
            with: { domains: [example.org] }
          - use: rcpthosts
            name: c
            enabled: false
      `),
    });
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    const [head, mx, local, delivery, ...more] = blocks(r.stdout);
    assert.deepEqual(head, ['config.yaml: OK']);
    assert.equal(delivery![0], 'delivery, no pipeline');
    assert.deepEqual(more, []);
    assert.equal(mx![0], 'listener mx on 127.0.0.1:2525, pipeline two (pipelines/two.yaml)');
    assert.equal(mx![1], '  plugins: a (built-in), b (built-in)');
    assert.equal(hookLine(mx!, 'rcpt'), '  rcpt:         a -> b');
    assert.equal(hookLine(mx!, 'reload'), '  reload:       a -> b');
    assert.equal(hookLine(mx!, 'queue'), '  queue:        core queue');
    assert.equal(local![0], 'listener local on ::1:0, pipeline empty (config.yaml)');
    assert.equal(local![1], '  plugins: (none)');
    assert.equal(hookLine(local!, 'rcpt'), '  rcpt:         - (refused unless the session may relay: no plugin accepts)');
    assert.equal(hookLine(local!, 'queue'), '  queue:        core queue');
  });
});

describe('qgate check config on delivery', { concurrency: true }, () => {
  it('shows the delivery pipeline on the delivery and directory hooks, the local domains and the routes', async () => {
    const dir = project({
      'config.yaml': yaml(`
        delivery:
          pipeline: outbound
          local_domains: [example.net, .example.net]
          routes:
            - { domain: example.org, host: mailstore.internal, tls: required, recipients: directory }
            - { domain: .example.org, host: "2001:db8::25", port: 2525, recipients: relay-recipients.txt }
            - { domain: "*", host: smarthost.isp.test, port: 587, tls: required, auth: { user: gw, pass: secret } }
        listeners:
          - name: mx
            address: 127.0.0.1
            port: 2525
            pipeline: inbound
        pipelines:
          inbound: { plugins: [{ use: rcpthosts }] }
          outbound: pipelines/outbound.yaml
      `),
      'relay-recipients.txt': '@a.example.org\n',
      'users.yaml': 'users: {}\n',
      'pipelines/outbound.yaml': yaml(`
        plugins:
          - use: ${join(REPO, 'test', 'fixtures', 'plugins', 'route-table.js')}
          - use: ${join(REPO, 'test', 'fixtures', 'plugins', 'deliver-capture.js')}
            with: { dir: . }
          - use: file-users
            with: { file: ../users.yaml }
      `),
    });
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    const [, mx, delivery, ...more] = blocks(r.stdout);
    assert.deepEqual(more, []);
    assert.equal(mx![0], 'listener mx on 127.0.0.1:2525, pipeline inbound (config.yaml)');
    assert.equal(delivery![0], 'delivery, pipeline outbound (pipelines/outbound.yaml)');
    assert.match(
      delivery![1]!,
      /^ {2}plugins: route-table \(file .*route-table\.js\), deliver-capture \(file .*\), file-users \(built-in\)$/,
    );
    assert.deepEqual(delivery!.slice(2), [
      '  route:        route-table -> deliver-capture -> core (local_domains, routes, MX)',
      '  deliver:      deliver-capture -> core (Maildir, SMTP)',
      '  bounce:       deliver-capture',
      '  lookupUser:   file-users -> core (create_mailboxes, else an existing Maildir)',
      '  authenticate: file-users',
      '  local domains: example.net, .example.net',
      '  routes:',
      '    example.org -> mailstore.internal:25, tls required, recipients directory',
      '    .example.org -> [2001:db8::25]:2525, tls opportunistic, recipients relay-recipients.txt',
      '    * -> smarthost.isp.test:587, tls required, auth gw, recipients any',
    ]);
  });

  it('says when delivery is off', async () => {
    const dir = project({
      'config.yaml': yaml(`
        delivery: { enabled: false }
        listeners:
          - { name: mx, port: 2525, pipeline: inbound }
        pipelines:
          inbound: { plugins: [] }
      `),
    });
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(blocks(r.stdout).at(-1), ['delivery: disabled (accepted mail stays queued)']);
  });
});

describe('qgate command line', { concurrency: true }, () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

  it('--version and -V print the package version', async () => {
    const [long, short] = await Promise.all([runCli(['--version']), runCli(['-V'])]);
    for (const r of [long, short]) {
      assert.equal(r.stdout, `${pkg.version}\n`);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
    }
  });

  it('check with an unknown subject names the right one', async () => {
    const r = await runCli(['check', 'nonsense']);
    assert.equal(r.stderr, 'qgate: unknown check "nonsense"; try: qgate check config\n');
    assert.equal(r.stdout, '');
    assert.equal(r.code, 64, 'EX_USAGE');
  });
});
