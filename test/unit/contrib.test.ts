/*
 * The service files in contrib/: the systemd unit passes `systemd-analyze
 * verify` (offline; no systemd needs to run) with no warning, not even an
 * unknown key, and keeps its hardening; the logrotate snippet parses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { QGATE, REPO, runCli } from '../harness/gateway.js';

const UNIT = readFileSync(join(REPO, 'contrib', 'qgate.service'), 'utf8');

/** `key=value` lines of the unit (comments and sections left out). */
function settings(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

/** Runs systemd-analyze verify on `unit` saved as qgate.service; returns its output. */
function verify(unit: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-unit-'));
  try {
    // verify checks that ExecStart's program exists: the qgate of this checkout stands in for /usr/local/bin/qgate.
    writeFileSync(join(dir, 'qgate.service'), unit.replaceAll('/usr/local/bin/qgate', QGATE));
    const run = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'qgate.service')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('contrib/qgate.service passes systemd-analyze verify without a warning', () => {
  assert.deepEqual(verify(UNIT), { status: 0, output: '' });
});

test('the check catches a misspelt hardening key', () => {
  const { output } = verify(UNIT.replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'));
  assert.match(output, /Unknown key 'NoNewPrivilege'/);
});

test('the unit runs qgate unprivileged, hardened, and reloads with qgate reload', () => {
  const s = settings(UNIT);
  const expected: [string, string][] = [
    ['User', 'qgate'],
    ['ExecReload', '/usr/local/bin/qgate reload --config /etc/qgate/config.yaml'],
    ['AmbientCapabilities', 'CAP_NET_BIND_SERVICE'],
    ['CapabilityBoundingSet', 'CAP_NET_BIND_SERVICE'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['StateDirectory', 'qgate'],
    ['LogsDirectory', 'qgate'],
    ['RestartPreventExitStatus', '78'],
  ];
  for (const [key, value] of expected) assert.deepEqual(s.get(key), [value], key);
});

test('contrib/qgate.logrotate parses and reopens the log with SIGUSR1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-logrotate-'));
  try {
    const snippet = readFileSync(join(REPO, 'contrib', 'qgate.logrotate'), 'utf8');
    assert.match(snippet, /--signal=USR1 qgate\.service/);
    // logrotate -d checks the syntax (and that the owner exists: root stands in for qgate).
    writeFileSync(join(dir, 'qgate'), snippet.replace('qgate qgate', 'root root'));
    const run = spawnSync('logrotate', ['-d', '-s', join(dir, 'state'), join(dir, 'qgate')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /error/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the container's configuration (contrib/docker/config.yaml, the pipelines as the Dockerfile edits them) is valid", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qgate-docker-'));
  try {
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /sed -i 's\|\\\.\\\.\/var\/tls\/\|\/var\/lib\/qgate\/tls\/\|'/);
    writeFileSync(join(dir, 'config.yaml'), readFileSync(join(REPO, 'contrib', 'docker', 'config.yaml')));
    cpSync(join(REPO, 'pipelines'), join(dir, 'pipelines'), { recursive: true });
    for (const name of readdirSync(join(dir, 'pipelines'))) {
      const file = join(dir, 'pipelines', name);
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll('../var/tls/', '/var/lib/qgate/tls/'));
    }
    const run = await runCli(['check', 'config', '-c', join(dir, 'config.yaml')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /listener smtp on 0\.0\.0\.0:2525/);
    assert.match(run.stdout, /listener pop3 \(pop3\) on 0\.0\.0\.0:2110/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
