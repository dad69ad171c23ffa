/*
 * rcpthosts in a running gateway: domains from YAML and from control files,
 * re-read on SIGHUP without dropping sessions; without either, the gateway's
 * own domains (delivery.local_domains and the routed ones), checked with
 * Python's smtplib.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO, run, startGateway } from '../harness/gateway.js';
import { openTransaction } from '../harness/smtp.js';

describe('rcpthosts plugin', () => {
  it('reads control files and re-reads them on SIGHUP, while a session stays open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-rcpthosts-'));
    writeFileSync(join(dir, 'rcpthosts'), '# ours\nfiles.test\n');
    writeFileSync(join(dir, 'morercpthosts'), '.more.test\n');
    const gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test]
          files: [rcpthosts, morercpthosts]`,
    });
    try {
      const smtp = await openTransaction(gw.port);
      assert.equal((await smtp.command('RCPT TO:<x@files.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<x@a.more.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<x@later.test>')).code, 554);
      writeFileSync(join(dir, 'rcpthosts'), 'files.test\nlater.test\n');
      gw.process.kill('SIGHUP');
      await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.changed));
      assert.equal((await smtp.command('RCPT TO:<x@later.test>')).code, 554, 'the open session keeps the list it started with');
      const fresh = await openTransaction(gw.port, 'a@example.test', 'x@later.test');
      fresh.close();
      // A file that vanished on reload: the old list stays in force.
      unlinkSync(join(dir, 'rcpthosts'));
      gw.process.kill('SIGHUP');
      await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.problems));
      const kept = await openTransaction(gw.port, 'a@example.test', 'y@later.test');
      kept.close();
      smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

const PROBE = join(REPO, 'test', 'clients', 'rcpt_probe.py');

describe('rcpthosts without domains or files', () => {
  it('accepts delivery.local_domains and the routed domains, and nothing else (the smarthost adds none)', async () => {
    const gw = await startGateway({
      delivery: `
  local_domains: [only-local.test, .sub.test]
  create_mailboxes: true
  maildir_root: ./mail
  routes:
    - { domain: routed.test, host: 127.0.0.1, port: 9 }
    - { domain: "*", host: 127.0.0.1, port: 9 }`,
      plugins: `
      - use: rcpthosts`,
    });
    try {
      const recipients = [
        'user@only-local.test',
        'user@a.sub.test',
        'user@routed.test',
        'user@elsewhere.test',
        'user@sub.test',
        'user@example.test',
      ];
      const r = await run('python3', [PROBE, '--port', String(gw.port), '--from', 'sender@example.org', '--', ...recipients]);
      assert.equal(r.code, 0, r.stderr);
      const replies = (JSON.parse(r.stdout) as { rcpt: { address: string; code: number; text: string }[] }).rcpt;
      const denied = (a: string) => `554 5.7.1 <${a}>: Relay access denied`;
      assert.deepEqual(Object.fromEntries(replies.map((x) => [x.address, `${x.code} ${x.text}`])), {
        'user@only-local.test': '250 2.1.5 Ok',
        'user@a.sub.test': '250 2.1.5 Ok',
        'user@routed.test': '250 2.1.5 Ok',
        'user@elsewhere.test': denied('user@elsewhere.test'),
        'user@sub.test': denied('user@sub.test'),
        'user@example.test': denied('user@example.test'),
      });
      const loaded = await gw.waitForLog((l) => l.plugin === 'rcpthosts' && l.msg === 'rcpthosts loaded');
      assert.equal(loaded.domains, 3);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
