/*
 * The hook contract with real local plugins loaded by path: every kind of
 * result, extension verbs through the command hook, and misbehaving
 * handlers (throw, timeout, bogus result) turning into 451 4.3.0 for the
 * transaction, logged with the plugin's name, with nothing accepted.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, REPO, startGateway } from '../harness/gateway.js';
import { queuedIds, readQueued } from '../harness/queue.js';
import { openTransaction, RawSmtp } from '../harness/smtp.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'plugins');

describe('plugin results and failures', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({
      plugins: `
      - use: ${join(FIXTURES, 'gatekeeper.js')}
      - use: ${join(FIXTURES, 'faulty.js')}
        timeout: 300ms
      - use: rcpthosts
        with:
          domains: [example.test]`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('a rcpt handler that throws gives 451 4.3.0, logged with the plugin name; the session goes on', async () => {
    const smtp = await openTransaction(gw.port);
    const reply = await smtp.command('RCPT TO:<throw@example.test>');
    assert.equal(reply.text, '451 4.3.0 Error: internal error, please try again later');
    const log = await gw.waitForLog((l) => l.plugin === 'faulty' && l.level === 'error');
    assert.match(log.msg, /plugin faulty failed: boom in rcpt; the transaction gets 451 4\.3\.0/);
    assert.equal(log.hook, 'rcpt');
    assert.equal((await smtp.command('RCPT TO:<fine@example.test>')).code, 250);
    smtp.close();
  });

  it('a handler that outlives its timeout gives 451 4.3.0', async () => {
    const smtp = await openTransaction(gw.port);
    const started = Date.now();
    assert.equal((await smtp.command('RCPT TO:<slow@example.test>')).code, 451);
    assert.ok(Date.now() - started < 2500, 'answered at the plugin timeout, not when the handler finished');
    await gw.waitForLog((l) => l.plugin === 'faulty' && /timed out after 300 ms/.test(l.msg));
    smtp.close();
  });

  it('a handler that returns something that is not a result gives 451 4.3.0', async () => {
    const smtp = await openTransaction(gw.port);
    assert.equal((await smtp.command('RCPT TO:<bogus@example.test>')).code, 451);
    await gw.waitForLog((l) => l.plugin === 'faulty' && /returned 42, not a hook result/.test(l.msg));
    smtp.close();
  });

  it('a message hook that throws: 451 4.3.0 and the message is not queued', async () => {
    const before = queuedIds(gw.queueDir).length;
    const smtp = await openTransaction(gw.port, 'msgthrow@example.test');
    await smtp.command('DATA');
    smtp.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.equal((await smtp.reply()).text, '451 4.3.0 Error: internal error, please try again later');
    assert.equal(queuedIds(gw.queueDir).length, before);
    const line = await gw.waitForLog((l) => l.event === 'message' && l.sender === 'msgthrow@example.test');
    assert.equal(line.result, 'rejected');
    assert.equal(line.plugin, 'faulty');
    smtp.close();
  });

  it('the message hook reads the spooled headers and adds a header to the envelope; decisions are logged', async () => {
    const smtp = await openTransaction(gw.port);
    await smtp.command('DATA');
    smtp.write('Subject: scanned\r\nFrom: a@example.test\r\n\r\nbody\r\n.\r\n');
    const id = /queued as (\w+)/.exec((await smtp.reply()).text)![1]!;
    const { envelope } = readQueued(gw.queueDir, id);
    // Received + Subject + From.
    assert.equal(envelope.addedHeaders.length, 1);
    assert.match(envelope.addedHeaders[0]!.value, /^3 fields, \d+ octets$/);
    const line = await gw.waitForLog((l) => l.event === 'message' && l.queueId === id);
    const decisions = line.decisions as { plugin: string; hook: string; action: string; ms: number }[];
    assert.deepEqual(
      decisions.map((d) => `${d.plugin}.${d.hook}:${d.action}`),
      [
        'gatekeeper.mail:continue',
        'faulty.rcpt:continue',
        'rcpthosts.rcpt:accept',
        'gatekeeper.data:continue',
        'faulty.message:continue',
      ],
    );
    assert.ok(decisions.every((d) => typeof d.ms === 'number' && d.ms >= 0));
    smtp.close();
  });

  it('helo reject, data tempfail and mail disconnect reach the client as the plugin wrote them', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    assert.equal((await smtp.command('EHLO bad.helo')).text, '550 5.7.1 go away');
    assert.equal((await smtp.command('EHLO good.helo')).code, 250);
    await smtp.command('MAIL FROM:<later@example.test>');
    await smtp.command('RCPT TO:<b@example.test>');
    assert.equal((await smtp.command('DATA')).text, '451 4.7.1 try later');
    await smtp.command('RSET');
    assert.equal((await smtp.command('MAIL FROM:<bye@example.test>')).text, '421 4.7.0 closing');
    await smtp.waitClosed();
  });

  it('an extension verb through the command hook, with typed session notes, advertised in EHLO', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    const ehlo = await smtp.command('EHLO c');
    assert.ok(ehlo.lines.includes('250 XPING'));
    assert.equal((await smtp.command('XPING')).text, '250 2.0.0 pong 1');
    assert.equal((await smtp.command('xping')).text, '250 2.0.0 pong 2');
    smtp.close();
  });
});

describe('results built by hand are held to the contract', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({
      plugins: `
      - use: ${join(FIXTURES, 'forger.js')}
      - use: rcpthosts
        with:
          domains: [example.test]`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  const forged = [
    { local: 'ok250', problem: 'returned reject that needs a reply code between 400 and 599, got 250' },
    { local: 'accept550', problem: 'returned accept that needs a reply code between 200 and 299, got 550' },
    {
      local: 'wrongclass',
      problem: 'returned reject that has enhanced status code 4.7.1, whose class does not match reply code 550',
    },
    { local: 'deny', problem: 'returned an unknown action "deny"' },
    { local: 'code700', problem: 'returned reject that has a reply code that is not 200-599: 700' },
    { local: 'noreply', problem: 'returned reject that needs a reply, got undefined' },
  ];
  for (const { local, problem } of forged) {
    it(`"${local}": 451 4.3.0 for the recipient, which is not kept; logged at error with plugin and hook`, async () => {
      const smtp = await openTransaction(gw.port, `${local}-sender@example.test`, 'fine@example.test');
      const reply = await smtp.command(`RCPT TO:<${local}@example.test>`);
      assert.equal(reply.text, '451 4.3.0 Error: internal error, please try again later');
      const error = await gw.waitForLog((l) => l.level === 'error' && l.plugin === 'forger' && l.msg.includes(problem));
      assert.equal(error.hook, 'rcpt');
      assert.equal((await smtp.command('DATA')).code, 354);
      smtp.write('Subject: x\r\n\r\nbody\r\n.\r\n');
      const id = /queued as (\w+)/.exec((await smtp.reply()).text)![1]!;
      assert.deepEqual(
        readQueued(gw.queueDir, id).envelope.recipients.map((r) => r.address),
        ['fine@example.test'],
        'only the recipient that got a 250',
      );
      smtp.close();
    });
  }

  it('next(reason) records the note without deciding: the plugin, hook, continue, reason and time are in the log line', async () => {
    const smtp = await openTransaction(gw.port, 'observed@example.test', 'watched@example.test');
    await smtp.command('DATA');
    smtp.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.equal((await smtp.reply()).code, 250);
    smtp.close();
    const line = await gw.waitForLog((l) => l.event === 'message' && l.sender === 'observed@example.test');
    const decisions = line.decisions as { plugin: string; hook: string; action: string; reason?: string; ms: number }[];
    assert.deepEqual(
      decisions.map(({ ms: _, ...d }) => d),
      [
        { plugin: 'forger', hook: 'rcpt', action: 'continue', reason: 'observed watched, score 3' },
        { plugin: 'rcpthosts', hook: 'rcpt', action: 'accept', reason: 'example.test is in rcpthosts' },
      ],
    );
    assert.ok(decisions.every((d) => typeof d.ms === 'number'));
  });
});

describe('directory hooks and several listeners', () => {
  let gw: Gateway;
  let secondPort: number;
  before(async () => {
    gw = await startGateway({
      extraListeners: `
  - name: second
    address: 127.0.0.1
    port: 0
    pipeline: directory`,
      extraPipelines: `
  directory:
    plugins:
      - use: ${join(FIXTURES, 'verify-user.js')}
      - use: ${join(FIXTURES, 'directory.js')}
        with:
          users: { "alice@example.test": "secret" }`,
    });
    secondPort = (await gw.waitForLog((l) => l.event === 'listening' && l.listener === 'second')).port as number;
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('each listener runs its own pipeline', async () => {
    const first = await openTransaction(gw.port);
    assert.equal((await first.command('RCPT TO:<nobody@example.test>')).code, 250, 'rcpthosts pipeline: any local part');
    first.close();
    const second = await openTransaction(secondPort, 'a@example.test', 'alice@example.test');
    assert.equal(
      (await second.command('RCPT TO:<nobody@example.test>')).text,
      '550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown',
    );
    second.close();
  });

  it('recipients are checked through the lookupUser hook of a directory plugin', async () => {
    const { smtp } = await RawSmtp.session(secondPort);
    await smtp.command('EHLO c');
    await smtp.command('MAIL FROM:<a@example.test>');
    assert.equal((await smtp.command('RCPT TO:<alice@example.test>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<bob@example.test>')).code, 550);
    smtp.close();
    const line = await gw.waitForLog((l) => l.event === 'message' && (l.recipients as string[]).includes('alice@example.test'));
    const decisions = line.decisions as { plugin: string; reason?: string }[];
    assert.ok(decisions.some((d) => d.plugin === 'verify-user' && d.reason === 'mailbox /var/mail/alice@example.test'));
  });

  it('credentials are checked through the authenticate hook', async () => {
    const { smtp } = await RawSmtp.session(secondPort);
    await smtp.command('EHLO c');
    assert.equal((await smtp.command('XLOGIN alice@example.test wrong')).text, '535 5.7.8 Error: authentication failed');
    assert.equal((await smtp.command('XLOGIN alice@example.test secret')).text, '235 2.7.0 Authentication successful');
    smtp.close();
  });
});

describe('plugins from npm packages', () => {
  for (const [kind, manifest] of [
    ['CommonJS-resolvable', { name: 'qgate-plugin-hello', type: 'module', main: 'index.js' }],
    [
      'ESM-only (an "import" export condition)',
      { name: 'qgate-plugin-hello', type: 'module', exports: { '.': { import: './index.js' } } },
    ],
  ] as const) {
    it(`loads a ${kind} package installed beside the config`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qgate-npm-'));
      const pkg = join(dir, 'node_modules', 'qgate-plugin-hello');
      mkdirSync(pkg, { recursive: true });
      writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest));
      writeFileSync(
        join(pkg, 'index.js'),
        "export default { name: 'hello', setup(ctx) { ctx.on('helo', (_s, { domain }) => domain === 'refuse.me' ? { action: 'reject', reply: { code: 550, enhanced: '5.7.1', text: 'hello says no' } } : undefined); } };\n",
      );
      const gw = await startGateway({ dir, plugins: '\n      - use: qgate-plugin-hello' });
      try {
        const { smtp } = await RawSmtp.session(gw.port);
        assert.equal((await smtp.command('EHLO refuse.me')).text, '550 5.7.1 hello says no');
        smtp.close();
      } finally {
        await gw.stop();
        gw.cleanup();
      }
    });
  }
});
