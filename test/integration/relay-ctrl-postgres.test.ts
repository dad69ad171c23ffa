/*
 * relay-ctrl's PostgreSQL store against a real PostgreSQL (started by the
 * harness), shared by two gateway processes: a POP3 login on gateway A opens
 * relaying on gateway B within a second, and when the window ends B refuses
 * again and logs the expiry; the table holds no expired rows afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type Gateway, REPO, run, startGateway } from '../harness/gateway.js';
import { POP3_LISTENERS, pop3Pipeline, relayAttempt, usersFile } from '../harness/pop3.js';
import { type PostgresService, startService } from '../harness/services.js';
import { makeCertificate, type TestCertificate } from '../harness/tls.js';

const POPLIB = join(REPO, 'test', 'clients', 'poplib_client.py');
const WINDOW_MS = 5_000;

describe('relay-ctrl with the PostgreSQL store, two gateways', () => {
  let postgres: PostgresService;
  let cert: TestCertificate;
  let a: Gateway;
  let b: Gateway;

  const relayCtrl = (url: string) => `
      - use: relay-ctrl
        with: { window: ${WINDOW_MS}ms, store: postgres, postgres_url: "${url}", postgres_table: relay_test }`;

  before(async () => {
    postgres = await startService('postgres');
    const dirA = mkdtempSync(join(tmpdir(), 'qgate-relay-pg-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'qgate-relay-pg-b-'));
    cert = await makeCertificate(dirA, 'localhost');
    usersFile(dirA);
    const smtpPlugins = `${relayCtrl(postgres.url)}
      - use: rcpthosts
        with: { domains: [example.test] }`;
    // A: POP3 and SMTP; B: SMTP only. Both with relay-ctrl on the same table.
    [a, b] = await Promise.all([
      startGateway({
        dir: dirA,
        plugins: smtpPlugins,
        extraListeners: POP3_LISTENERS,
        extraPipelines: pop3Pipeline(cert, relayCtrl(postgres.url)),
      }),
      startGateway({ dir: dirB, plugins: smtpPlugins }),
    ]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    a?.cleanup();
    b?.cleanup();
    await postgres?.close();
  });

  it('a POP3 login on A opens relaying on B within a second; after the window B refuses again', async () => {
    assert.notEqual((await relayAttempt(b.port)).code, 0, 'refused before the login');
    const port = await a.portOf('pop3');
    const login = await run('python3', [
      POPLIB,
      String(port),
      'stls',
      cert.cert,
      JSON.stringify(['user alice@example.test', 'pass alice-pw', 'quit']),
    ]);
    assert.equal(login.code, 0, login.stderr);
    await a.waitForLog((l) => l.event === 'relay-ctrl' && l.action === 'grant');
    const granted = Date.now();
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() - granted)));
    const onB = await relayAttempt(b.port);
    assert.equal(onB.code, 0, onB.transcript);
    await b.waitForLog((l) => l.event === 'relay-ctrl' && l.action === 'use' && l.client === '127.0.0.1');

    await b.waitForLog((l) => l.event === 'relay-ctrl' && l.action === 'expired' && l.client === '127.0.0.1', WINDOW_MS + 10_000);
    const again = await relayAttempt(b.port);
    assert.notEqual(again.code, 0, again.transcript);
    assert.match(again.transcript, /554 5\.7\.1/);
    // Cleaned by the nodes' sweeps: no expired row is left for long.
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      const deadline = Date.now() + 5_000;
      let left = 1;
      while (left && Date.now() < deadline) {
        left = Number((await client.query('SELECT count(*) AS n FROM relay_test WHERE until <= $1', [Date.now()])).rows[0].n);
        if (left) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(left, 0);
    } finally {
      await client.end();
    }
  });
});
