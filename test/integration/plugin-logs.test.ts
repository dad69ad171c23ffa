/*
 * What a plugin's log lines carry: its name and pipeline always (setup, init,
 * reload, shutdown get the plugin's own logger), the session's fields and the
 * queue id inside session hooks, also after an await, and the queue id inside
 * delivery hooks. reloadable() logs its summary at start-up and on SIGHUP.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, REPO, startGateway } from '../harness/gateway.js';
import { openTransaction } from '../harness/smtp.js';

const CHATTY = join(REPO, 'test', 'fixtures', 'plugins', 'chatty.js');

describe('plugin loggers', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({
      plugins: `
      - use: ${CHATTY}
      - use: rcpthosts
        with:
          domains: [example.test]
      - use: ${CHATTY}
        name: chatty-2`,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${CHATTY}`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]
  create_mailboxes: true`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  const chatty = (phase: string, pipeline = 'inbound') =>
    gw.waitForLog((l) => l.phase === phase && l.pipeline === pipeline && l.plugin === 'chatty');

  it('setup and init log with the plugin and its pipeline', async () => {
    for (const pipeline of ['inbound', 'delivery']) {
      assert.equal((await chatty('setup', pipeline)).msg, 'chatty set up');
      assert.equal((await chatty('init', pipeline)).msg, 'chatty init');
    }
  });

  it('reloadable() logs its summary at start-up, at info', async () => {
    const line = await gw.waitForLog((l) => l.msg === 'rcpthosts loaded');
    assert.equal(line.level, 'info');
    assert.equal(line.plugin, 'rcpthosts');
    assert.equal(line.domains, 1);
  });

  it('a session hook logs with the session, and a transaction hook with the queue id, after an await too', async () => {
    const smtp = await openTransaction(gw.port, 'a@example.test', 'alice@example.test');
    await smtp.command('DATA');
    smtp.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    const queueId = /queued as (\w+)/.exec((await smtp.reply()).text)![1]!;
    smtp.close();
    const message = await gw.waitForLog((l) => l.event === 'message' && l.queueId === queueId);
    const rcpt = await gw.waitForLog((l) => l.phase === 'rcpt' && l.queueId === queueId);
    assert.equal(rcpt.plugin, 'chatty');
    assert.equal(rcpt.pipeline, 'inbound');
    assert.equal(rcpt.listener, 'test');
    assert.equal(rcpt.session, message.session);
    assert.equal(rcpt.recipient, 'alice@example.test');
    const connect = await gw.waitForLog((l) => l.phase === 'connect' && l.session === message.session);
    assert.equal(connect.plugin, 'chatty');
    assert.equal(connect.listener, 'test');
    assert.equal(connect.queueId, undefined, 'no transaction at connect');
    const route = await gw.waitForLog((l) => l.phase === 'route' && l.queueId === queueId);
    assert.equal(route.plugin, 'chatty');
    assert.equal(route.pipeline, 'delivery');
    assert.equal(route.recipient, 'alice@example.test');
  });

  it('two sessions at once keep their own fields', async () => {
    const [a, b] = await Promise.all([
      openTransaction(gw.port, 'a@example.test', 'one@example.test'),
      openTransaction(gw.port, 'b@example.test', 'two@example.test'),
    ]);
    const one = await gw.waitForLog((l) => l.phase === 'rcpt' && l.recipient === 'one@example.test');
    const two = await gw.waitForLog((l) => l.phase === 'rcpt' && l.recipient === 'two@example.test');
    assert.notEqual(one.session, two.session);
    assert.notEqual(one.queueId, two.queueId);
    a.close();
    b.close();
  });

  it('reload and shutdown get the plugin logger; shutdown runs in reverse pipeline order', async () => {
    gw.process.kill('SIGHUP');
    assert.equal((await chatty('reload')).msg, 'chatty reload');
    assert.equal((await chatty('reload', 'delivery')).msg, 'chatty reload');
    const reloaded = await gw.waitForLog((l) => l.msg === 'rcpthosts reloaded');
    assert.equal(reloaded.domains, 1);
    assert.equal(await gw.stop(), 0);
    const phases = (phase: string, pipeline: string) =>
      gw.logs.filter((l) => l.phase === phase && l.pipeline === pipeline).map((l) => l.plugin);
    // A reload sets every plugin up again: init at start and at the reload; the instances it
    // replaced shut down first (after their last session), then those of the stop.
    assert.deepEqual(phases('init', 'inbound'), ['chatty', 'chatty-2', 'chatty', 'chatty-2']);
    assert.deepEqual(phases('shutdown', 'inbound'), ['chatty-2', 'chatty', 'chatty-2', 'chatty']);
    // The delivery pipeline is set up in both threads (README "Process model"): each of its
    // instances shuts down, the replaced ones and those of the stop.
    assert.deepEqual(phases('shutdown', 'delivery'), ['chatty', 'chatty', 'chatty', 'chatty']);
  });
});
