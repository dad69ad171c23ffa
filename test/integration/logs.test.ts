/*
 * What an admin reads in the log: a relay-denied transaction is "rejected"
 * with the plugin and its reason and no queue id; delivery lines carry the
 * sender; log.format text on log.file, reopened on SIGUSR1 after a rotation,
 * with the last line ("stopped") written before the process exits.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deliveryLines, send, waitDone } from '../harness/delivery.js';
import { QGATE, REPO, startGateway, within, writeConfig } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

const LOCAL_DELIVERY = `
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`;

describe('log lines', () => {
  it('a relay-denied transaction is rejected, with plugin and reason, and carries no queue id', async () => {
    const gw = await startGateway();
    try {
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('MAIL FROM:<spammer@elsewhere.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<victim@elsewhere.test>')).code, 554);
      assert.equal((await smtp.command('QUIT')).code, 221);
      smtp.close();
      const line = await gw.waitForLog((l) => l.event === 'message');
      assert.equal(line.result, 'rejected');
      assert.equal(line.plugin, 'rcpthosts');
      assert.equal(line.reason, 'elsewhere.test is not in rcpthosts');
      assert.deepEqual(line.refused, [{ address: 'victim@elsewhere.test', code: 554 }]);
      assert.equal(line.queueId, undefined, 'no queue id for a message that never queued');
      // A transaction the client gave up (a recipient was accepted) stays "aborted".
      const again = await RawSmtp.session(gw.port);
      await again.smtp.command('EHLO client.test');
      await again.smtp.command('MAIL FROM:<a@example.test>');
      assert.equal((await again.smtp.command('RCPT TO:<b@example.test>')).code, 250);
      await again.smtp.command('RSET');
      again.smtp.close();
      const aborted = await gw.waitForLog((l) => l.event === 'message' && l.result === 'aborted');
      assert.equal(aborted.reason, 'reset');
      assert.equal(aborted.queueId, undefined);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('delivery lines carry the sender', async () => {
    const gw = await startGateway({ delivery: LOCAL_DELIVERY });
    try {
      const id = await send(gw, 'alice@sender.test', ['bob@example.test']);
      await waitDone(gw, id);
      const [line] = deliveryLines(gw, id, 'bob@example.test');
      assert.equal(line?.result, 'delivered');
      assert.equal(line?.sender, 'alice@sender.test');
      const queued = gw.logs.find((l) => l.event === 'message' && l.result === 'queued');
      assert.equal(queued?.queueId, id);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

/** Lines of a text log file (empty if it does not exist yet). */
function textLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

async function waitForText(file: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = textLines(file).find((l) => pattern.test(l));
    if (line) return line;
    if (Date.now() > until) throw new Error(`no line matching ${pattern} in ${file}:\n${textLines(file).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** time, level, event, then key=value fields: the shape of every text line. */
const TEXT_LINE =
  /^\d{4}-\d\d-\d\dT[\d:.]+Z (trace|debug|info|warn|error|fatal) \S+( "[^"]*")?( [A-Za-z]+=("([^"\\]|\\.)*"|\S+))*$/;

describe('log.format text on log.file', () => {
  it('writes readable lines to the file, reopens it after contrib/qgate.logrotate rotated it, and ends with stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-logs-'));
    const file = join(dir, 'log', 'qgate.log');
    const configFile = writeConfig(dir, { extra: 'log:\n  level: info\n  format: text\n  file: log/qgate.log\n' });
    // writeConfig writes a `log:` section of its own; the last one would be a duplicate key.
    const text = readFileSync(configFile, 'utf8').replace('log:\n  level: debug\n', '');
    writeFileSync(configFile, text);
    const child = spawn(process.execPath, [QGATE, 'start', '--config', configFile], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
    });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      const listening = await waitForText(file, / info listening /);
      const port = Number(/ port=(\d+)/.exec(listening)?.[1]);
      assert.ok(port > 0, listening);

      const first = await sendOne(port, 'one@sender.test');
      const queued = await waitForText(file, new RegExp(`^\\S+ info message queueId=${first} result=queued `));
      assert.match(
        queued,
        / sender=<one@sender\.test> recipients=<user@example\.test> size=\d+ reply="250 2\.0\.0 Ok: queued as /,
      );

      // The shipped logrotate snippet, pointed at this directory and this process.
      const rotation = readFileSync(join(REPO, 'contrib', 'qgate.logrotate'), 'utf8')
        .replaceAll('/var/log/qgate', join(dir, 'log'))
        .replace('create 0640 qgate qgate', 'create 0640 root root')
        .replace(/systemctl kill .*/, `kill -USR1 ${child.pid}`);
      writeFileSync(join(dir, 'logrotate.conf'), rotation);
      const rotated = spawnSync('logrotate', ['-f', '-s', join(dir, 'logrotate.state'), join(dir, 'logrotate.conf')], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(rotated.status, 0, rotated.stderr);
      await waitForText(file, / info log "log file reopened" file=/);
      const second = await sendOne(port, 'two@sender.test');
      await waitForText(file, new RegExp(` queueId=${second} result=queued `));
      assert.ok(!textLines(`${file}.1`).some((l) => l.includes(second)), 'the new message is not in the rotated file');
      assert.ok(
        textLines(file).every((l) => !l.includes(first)),
        'the first message is only in the rotated file',
      );

      child.kill('SIGTERM');
      assert.equal(await within(exited, 30_000, 'exit after SIGTERM'), 0);
      const lines = textLines(file);
      assert.match(lines.at(-1)!, / info stopped$/);
      for (const line of [...textLines(`${file}.1`), ...lines]) assert.match(line, TEXT_LINE);
      assert.equal(stdout, '', 'nothing on stdout');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function sendOne(port: number, sender: string): Promise<string> {
  const { smtp } = await RawSmtp.session(port);
  await smtp.command('EHLO client.test');
  assert.equal((await smtp.command(`MAIL FROM:<${sender}>`)).code, 250);
  assert.equal((await smtp.command('RCPT TO:<user@example.test>')).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write('Subject: text log\r\n\r\nhello\r\n.\r\n');
  const reply = await smtp.reply();
  await smtp.command('QUIT');
  smtp.close();
  const id = /queued as (\w+)/.exec(reply.text)?.[1];
  assert.ok(id, reply.text);
  return id;
}
