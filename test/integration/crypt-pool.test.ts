/*
 * SHA-crypt checks do not hold up the event loop: while 20 AUTH PLAIN logins
 * against a SHA-512-crypt hash (5000 rounds, ~27 ms of JavaScript each) are
 * checked, another session's NOOPs keep being answered. Measured by counting,
 * not by time: the NOOP round trips completed during the burst, per AUTH. With
 * the checks on the event loop a NOOP waits for a whole check, so about one
 * NOOP per AUTH gets through; off it, NOOPs take a fraction of a millisecond
 * and dozens fit in each check's time. A slow or loaded machine stretches both
 * sides alike; the test asks for 5 per AUTH, well between the two.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

const PASSWORD = 'Tr0ub4dor&3';
/** doveadm pw -s SHA512-CRYPT -p 'Tr0ub4dor&3' (5000 rounds, the default). */
const SHA512_CRYPT =
  '{SHA512-CRYPT}$6$CGqUV/q0gfy5gSLc$rBMyILW4i8j9Il42d7jWzmDeDZgPHpP/cCKgxq1iVbeh6i..1xYlyHcPm7hRySv6oWSyFEhobalQTuAFKurIU/';
const LOGINS = 20;
const NOOPS_PER_LOGIN = 5;

describe('password checks and the event loop', () => {
  let gw: Gateway;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-crypt-pool-'));
    const users = join(dir, 'users.yaml');
    writeFileSync(users, `domains: [example.test]\nusers:\n  alice@example.test:\n    password: "${SHA512_CRYPT}"\n`);
    chmodSync(users, 0o600);
    gw = await startGateway({
      dir,
      listener: { max_connections_per_ip: LOGINS + 5 },
      plugins: `
      - use: file-users
        with: { file: users.yaml }
      - use: auth
        with: { require_tls: false, max_failures: 1000, failure_delay: 0 }
      - use: rcpthosts`,
    });
  });
  after(async () => {
    await gw?.stop();
    gw?.cleanup();
  });

  it(`answers NOOPs while ${LOGINS} SHA-512-crypt AUTH checks run`, async (t) => {
    const open = async () => {
      const { smtp } = await RawSmtp.session(gw.port);
      assert.equal((await smtp.command('EHLO client.test')).code, 250);
      return smtp;
    };
    const logins = await Promise.all(Array.from({ length: LOGINS }, open));
    const pinger = await open();
    const token = Buffer.from(`\0alice@example.test\0${PASSWORD}`).toString('base64');
    let done = false;
    let noops = 0;
    const answered = Promise.all(
      logins.map(async (smtp) => {
        const reply = await smtp.command(`AUTH PLAIN ${token}`);
        return reply.code;
      }),
    ).finally(() => {
      done = true;
    });
    // One NOOP at a time, each sent when the last was answered, until the last AUTH reply.
    while (!done) {
      assert.equal((await pinger.command('NOOP')).code, 250);
      noops++;
    }
    assert.deepEqual(await answered, Array(LOGINS).fill(235), 'every check is right');
    for (const smtp of [...logins, pinger]) smtp.close();
    t.diagnostic(`${noops} NOOPs answered during ${LOGINS} logins`);
    assert.ok(
      noops >= LOGINS * NOOPS_PER_LOGIN,
      `${noops} NOOPs answered during ${LOGINS} logins; at least ${LOGINS * NOOPS_PER_LOGIN} expected`,
    );
  });
});
