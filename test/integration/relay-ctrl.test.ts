/*
 * POP-before-SMTP end to end: swaks is refused relaying, a POP3 login
 * (poplib over STLS) from 127.0.0.1 lets it relay, the (short) window expires
 * and it is refused again; every grant, use and expiry is logged. A grant made
 * with `qgate relay allow` survives a restart (the journal beside the queue).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, REPO, run, runCli, startGateway } from '../harness/gateway.js';
import { POP3_LISTENERS, pop3Pipeline, relayAttempt, usersFile } from '../harness/pop3.js';
import { makeCertificate, type TestCertificate } from '../harness/tls.js';

const POPLIB = join(REPO, 'test', 'clients', 'poplib_client.py');
const WINDOW_MS = 4_000;

describe('relay-ctrl: POP-before-SMTP with the file store', () => {
  let dir: string;
  let gw: Gateway;
  let cert: TestCertificate;

  const options = () => ({
    dir,
    plugins: `
      - use: relay-ctrl
        with: { window: ${WINDOW_MS}ms }
      - use: rcpthosts
        with: { domains: [example.test] }`,
    extraListeners: POP3_LISTENERS,
    extraPipelines: pop3Pipeline(
      cert,
      `
      - use: relay-ctrl
        with: { window: ${WINDOW_MS}ms }`,
    ),
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-relay-ctrl-'));
    cert = await makeCertificate(dir, 'localhost');
    usersFile(dir);
    gw = await startGateway(options());
  });

  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  const popLogin = async () => {
    const port = await gw.portOf('pop3');
    const r = await run('python3', [
      POPLIB,
      String(port),
      'stls',
      cert.cert,
      JSON.stringify(['user alice@example.test', 'pass alice-pw', 'quit']),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const steps = JSON.parse(r.stdout) as { ok: boolean }[];
    assert.ok(
      steps.every((s) => s.ok),
      r.stdout,
    );
  };

  it('refuses relaying before a POP3 login, allows it for the window after one, then refuses again', async () => {
    const refused = await relayAttempt(gw.port);
    assert.notEqual(refused.code, 0);
    assert.match(refused.transcript, /<\*\* 554 5\.7\.1 .*Relay access denied/);

    await popLogin();
    const grant = await gw.waitForLog((l) => l.event === 'relay-ctrl' && l.action === 'grant');
    assert.equal(grant.client, '127.0.0.1');
    assert.equal(grant.by, 'pop3 alice@example.test');

    const allowed = await relayAttempt(gw.port);
    assert.equal(allowed.code, 0, allowed.transcript);
    assert.match(allowed.transcript, /<- {2}250 .*\n.*QUIT/s);
    await gw.waitForLog((l) => l.event === 'relay-ctrl' && l.action === 'use' && l.client === '127.0.0.1');

    await gw.waitForLog(
      (l) => l.event === 'relay-ctrl' && l.action === 'expired' && l.client === '127.0.0.1',
      WINDOW_MS + 10_000,
    );
    const again = await relayAttempt(gw.port);
    assert.notEqual(again.code, 0);
    assert.match(again.transcript, /<\*\* 554 5\.7\.1 .*Relay access denied/);
  });

  it('a failed POP3 login grants nothing', async () => {
    const port = await gw.portOf('pop3');
    const r = await run('python3', [
      POPLIB,
      String(port),
      'stls',
      cert.cert,
      JSON.stringify(['user alice@example.test', 'pass wrong']),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const refused = await relayAttempt(gw.port);
    assert.notEqual(refused.code, 0);
  });

  it('qgate relay allow grants through the running gateway, durably: the grant survives a restart', async () => {
    const bad = await runCli(['relay', 'allow', 'not-an-ip', '--config', gw.configFile]);
    assert.equal(bad.code, 64, bad.stderr);
    const r = await runCli(['relay', 'allow', '127.0.0.1', '--for', '1h', '--config', gw.configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^127\.0\.0\.1 may relay until \d{4}-/);
    assert.equal((await relayAttempt(gw.port)).code, 0);
    const journal = join(dir, 'relay-ctrl.jsonl');
    assert.ok(existsSync(journal));
    assert.match(readFileSync(journal, 'utf8'), /"by":"cli"/);

    await gw.stop();
    gw = await startGateway(options());
    const allowed = await relayAttempt(gw.port);
    assert.equal(allowed.code, 0, allowed.transcript);
  });
});
