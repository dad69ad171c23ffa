/*
 * The shipped configuration (config.yaml and pipelines/) is not an open
 * relay on any listener: an unauthenticated client tries every trick on the
 * MX and on both submission ports, and nothing for another domain is taken.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { smtplibSend } from '../harness/clients.js';
import { type Gateway, REPO, startGateway } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

/** Recipients an open relay would take; the expected reply codes on the MX. */
const TRICKS: [string, number][] = [
  ['<victim@elsewhere.test>', 554],
  ['<victim%elsewhere.test@example.test>', 553],
  ['<elsewhere.test!victim@example.test>', 553],
  ['<@example.test:victim@elsewhere.test>', 553],
  ['<@example.test,@mx.example.test:victim@elsewhere.test>', 553],
  ['<"victim@elsewhere.test"@example.test>', 553],
  ['<"victim%elsewhere.test"@example.test>', 553],
  ['<victim@elsewhere.test.example.test.evil.test>', 554],
  ['<victim@[192.0.2.1]>', 554],
  ['<victim@EXAMPLE.TEST.elsewhere.test>', 554],
];

describe('the shipped configuration', () => {
  let gw: Gateway;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-shipped-'));
    cpSync(join(REPO, 'pipelines'), join(dir, 'pipelines'), { recursive: true });
    const config = readFileSync(join(REPO, 'config.yaml'), 'utf8').replace(/port: \d+/g, 'port: 0');
    gw = await startGateway({ dir, configText: config });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('MX: refuses every relay trick from an unauthenticated client, takes local mail', async () => {
    const { smtp } = await RawSmtp.session(await gw.portOf('smtp'));
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command('MAIL FROM:<someone@elsewhere.test>')).code, 250);
    for (const [rcpt, code] of TRICKS) {
      const reply = await smtp.command(`RCPT TO:${rcpt}`);
      assert.equal(reply.code, code, `${rcpt}: ${reply.text}`);
      assert.match(reply.text, /5\.7\.1/);
    }
    assert.equal((await smtp.command('RCPT TO:<user@example.test>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<postmaster>')).code, 250);
    smtp.close();
  });

  it('MX inside STARTTLS: still no relaying', async () => {
    const { smtp } = await RawSmtp.session(await gw.portOf('smtp'));
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command('STARTTLS')).code, 220);
    await smtp.startTls();
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command('MAIL FROM:<someone@elsewhere.test>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<victim@elsewhere.test>')).code, 554);
    smtp.close();
  });

  it('submission ports: nothing without AUTH, and AUTH only inside TLS', async () => {
    const { smtp } = await RawSmtp.session(await gw.portOf('submission'));
    const ehlo = await smtp.command('EHLO client.test');
    assert.ok(!ehlo.text.includes('AUTH'), 'no AUTH in plaintext');
    assert.equal((await smtp.command('AUTH PLAIN AHVzZXIAcGFzcw==')).code, 538);
    assert.equal((await smtp.command('MAIL FROM:<someone@elsewhere.test>')).code, 530);
    assert.equal((await smtp.command('RCPT TO:<victim@elsewhere.test>')).code, 503);
    assert.equal((await smtp.command('STARTTLS')).code, 220);
    await smtp.startTls();
    const inside = await smtp.command('EHLO client.test');
    assert.ok(inside.lines.some((l) => l.startsWith('250-AUTH PLAIN LOGIN') || l.startsWith('250 AUTH PLAIN LOGIN')));
    assert.equal((await smtp.command('MAIL FROM:<someone@elsewhere.test>')).code, 530);
    assert.equal((await smtp.command('AUTH PLAIN AHVzZXIAcGFzcw==')).code, 535);
    assert.equal((await smtp.command('MAIL FROM:<someone@elsewhere.test>')).code, 530);
    smtp.close();

    const implicit = await RawSmtp.openTls(await gw.portOf('submissions'));
    assert.equal((await implicit.reply()).code, 220);
    await implicit.command('EHLO client.test');
    assert.equal((await implicit.command('MAIL FROM:<someone@elsewhere.test>')).code, 530);
    implicit.close();
  });

  it('reloads every list and certificate on SIGHUP under load without failing a session', async () => {
    const port = await gw.portOf('smtp');
    const load = smtplibSend(port, { count: 200, threads: 8, size: 2000 });
    await load.answered(20);
    let reloads = 0;
    while (load.child.exitCode === null && reloads < 40) {
      gw.process.kill('SIGHUP');
      reloads++;
      await new Promise((r) => setTimeout(r, 25));
    }
    const results = await load.done;
    assert.ok(reloads >= 3, `reloaded ${reloads} times during the load`);
    assert.deepEqual(
      results.filter((r) => r.code !== 250),
      [],
      'every message got 250',
    );
    assert.equal(results.length, 200);
    assert.ok(!gw.logs.some((l) => /reload failed/.test(l.msg)));
  });
});
