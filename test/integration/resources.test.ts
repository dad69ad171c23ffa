/*
 * What an 'error' event nobody listens to does (README, Writing a plugin):
 * inside a hook handler it is a throw, so the guard answers 451 4.3.0 for that
 * transaction and the gateway stays up; outside any handler it reaches the
 * core's last resort, which logs it at fatal and exits with 70 for the
 * supervisor to restart the gateway, with acknowledged mail safe in the queue.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO, startGateway, within } from '../harness/gateway.js';
import { queuedIds } from '../harness/queue.js';
import { openTransaction } from '../harness/smtp.js';

const EMITTER = join(REPO, 'test', 'fixtures', 'plugins', 'error-emitter.js');

describe("an 'error' event with no listener", () => {
  it('inside a handler: 451 4.3.0 for that recipient, the session and the gateway go on', async () => {
    const gw = await startGateway({
      plugins: `
      - use: ${EMITTER}
      - use: rcpthosts
        with: { domains: [example.test] }`,
    });
    try {
      const smtp = await openTransaction(gw.port, 'a@example.org', 'alice@example.test');
      const reply = await smtp.command('RCPT TO:<emit@example.test>');
      assert.equal(reply.code, 451);
      assert.match(reply.text, /4\.3\.0 Error: internal error/);
      const logged = await gw.waitForLog((l) => l.plugin === 'error-emitter' && l.level === 'error');
      assert.match(String(logged.msg), /pool connection lost during rcpt/);
      assert.equal((await smtp.command('DATA')).code, 354);
      smtp.write('Subject: still up\r\n\r\nx\r\n.\r\n');
      assert.equal((await smtp.reply()).code, 250);
      smtp.close();
      assert.equal(gw.process.exitCode, null, 'the gateway is still running');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('outside any handler: logged at fatal, exit 70, the acknowledged message still queued', async () => {
    const gw = await startGateway({
      plugins: `
      - use: ${EMITTER}
      - use: rcpthosts
        with: { domains: [example.test] }`,
    });
    try {
      const exited = new Promise<number | null>((resolve) => gw.process.once('exit', (code) => resolve(code)));
      const smtp = await openTransaction(gw.port, 'a@example.org', 'alice@example.test');
      assert.equal((await smtp.command('DATA')).code, 354);
      smtp.write('Subject: acknowledged\r\n\r\nx\r\n.\r\n');
      const queued = /queued as (\w+)/.exec((await smtp.reply()).text)?.[1];
      assert.ok(queued);
      // A new transaction whose RCPT leaves an 'error' event to fire after the handler returned.
      assert.equal((await smtp.command('MAIL FROM:<a@example.org>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<later@example.test>')).code, 250);
      assert.equal(await within(exited, 10_000, 'gateway exit'), 70);
      const fatal = gw.logs.find((l) => l.level === 'fatal');
      assert.ok(fatal, 'a fatal log line');
      assert.match(String(fatal.msg), /uncaught exception/);
      assert.match(JSON.stringify(fatal), /idle pool connection lost/);
      assert.ok(queuedIds(gw.queueDir).includes(queued), 'the acknowledged message is still in the queue');
    } finally {
      gw.cleanup();
    }
  });
});
