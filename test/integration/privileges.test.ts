/*
 * Started as root with `user: nobody`: the gateway binds a port below 1024,
 * opens the queue and the log, then runs as nobody (real, effective and saved
 * ids, and its groups) before any session. What start-up created (queue,
 * self-signed certificate), an entry a run as root left, and the mail
 * it delivers belong to nobody. Needs root (CI runs the tests as root).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { maildirFiles, send, waitDone } from '../harness/delivery.js';
import { startGateway } from '../harness/gateway.js';
import { writeQueued } from '../harness/queue.js';

const NOBODY = 65534;
const root = process.getuid?.() === 0;

/** A free port below 1024 (only root can bind one). */
async function freeLowPort(): Promise<number> {
  for (let port = 1000; port > 900; port--) {
    const free = await new Promise<boolean>((res) => {
      const server = createServer();
      server.once('error', () => res(false));
      server.listen(port, '127.0.0.1', () => server.close(() => res(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 901 and 1000');
}

/** Real, effective, saved and filesystem ids from /proc/PID/status. */
function ids(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

describe('user: and group:', { skip: root ? false : 'needs root' }, () => {
  it('binds a low port as root, then runs as nobody; what it creates and delivers belongs to nobody', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-privileges-'));
    chmodSync(dir, 0o755); // the configuration stays root's; nobody only needs to get through
    // The data directory, as an admin prepares /var/lib/qgate: owned by the user.
    const data = join(dir, 'data');
    mkdirSync(data);
    chownSync(data, NOBODY, NOBODY);
    // An entry a run as root left behind: root's files, which nobody could not read.
    writeQueued(
      join(data, 'queue'),
      { id: '0MWT707BG0001AA', sender: 'old@sender.test', recipients: ['old@example.test'] },
      'Subject: queued as root\r\n\r\nbody\r\n',
    );
    const port = await freeLowPort();
    const gw = await startGateway({
      dir,
      configText: `hostname: mx.qgate.test
user: nobody
group: nogroup
queue:
  path: ./data/queue
log:
  level: debug
shutdown_grace: 5s
delivery:
  local_domains: [example.test]
  maildir_root: ./data/mail
  create_mailboxes: true
listeners:
  - name: mx
    address: 127.0.0.1
    port: ${port}
    pipeline: inbound
pipelines:
  inbound:
    plugins:
      - use: starttls
        with: { generate: ./data/tls/selfsigned.pem }
      - use: rcpthosts
        with: { domains: [example.test] }
`,
    });
    try {
      assert.equal(gw.port, port);
      const pid = gw.process.pid!;
      assert.deepEqual(ids(pid).uid, [NOBODY, NOBODY, NOBODY, NOBODY]);
      assert.deepEqual(ids(pid).gid, [NOBODY, NOBODY, NOBODY, NOBODY]);
      assert.ok(!ids(pid).groups.includes(0), `no root group: ${ids(pid).groups}`);

      const id = await send(gw, 'alice@sender.test', ['bob@example.test']);
      await waitDone(gw, id);
      await waitDone(gw, '0MWT707BG0001AA');
      const mail = join(data, 'mail');
      for (const user of ['bob', 'old']) {
        const [file] = maildirFiles(mail, 'example.test', user);
        assert.ok(file, `${user} got the message`);
        assert.equal(statSync(file).uid, NOBODY);
      }
      for (const path of ['queue', 'queue/messages', 'queue/gateway.lock', 'tls/selfsigned.pem']) {
        assert.equal(statSync(join(data, path)).uid, NOBODY, `${path} belongs to nobody`);
      }

      // Running as nobody, it can read again what it made as it started.
      gw.process.kill('SIGHUP');
      await gw.waitForLog((l) => l.plugin === 'starttls' && /reload/.test(l.msg));
      const reload = gw.logs.filter((l) => l.plugin === 'starttls' && /reload/.test(l.msg));
      assert.ok(
        reload.every((l) => l.level === 'info'),
        JSON.stringify(reload),
      );
      assert.equal(await gw.stop(), 0);
    } finally {
      await gw.kill();
      gw.cleanup();
    }
  });
});
