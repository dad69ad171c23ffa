/*
 * rcpthosts in a real pipeline, through the plugin test kit: each recipient's
 * reply and the decision behind it, relay tricks, a client another plugin lets
 * relay, and a control file re-read by the reload hooks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TestPipeline, testPipeline } from '../../../core/testing/index.js';
import rcpthosts from '../../../plugins/rcpthosts/index.js';

describe('rcpthosts through the test kit', () => {
  let t: TestPipeline;
  before(async () => {
    t = await testPipeline({ plugins: [{ plugin: rcpthosts, with: { domains: ['example.test', '.sub.test'] } }] });
  });
  after(() => t.close());

  const cases = [
    { to: 'user@example.test', reply: '250 2.1.5 Ok', why: 'a listed domain' },
    { to: 'user@EXAMPLE.TEST', reply: '250 2.1.5 Ok', why: 'domains ignore case' },
    { to: 'user@a.sub.test', reply: '250 2.1.5 Ok', why: '".sub.test" covers sub-domains' },
    { to: 'user@sub.test', reply: '554 5.7.1 <user@sub.test>: Relay access denied', why: 'but not the domain itself' },
    { to: 'user@elsewhere.test', reply: '554 5.7.1 <user@elsewhere.test>: Relay access denied', why: 'not ours' },
    {
      to: 'user%elsewhere.test@example.test',
      reply: '553 5.7.1 <user%elsewhere.test@example.test>: Relay access denied ("%" hack)',
      why: 'the % hack hides a route',
    },
    { to: 'postmaster', reply: '250 2.1.5 Ok', why: 'the bare postmaster (RFC 5321 4.5.1)' },
  ];
  for (const c of cases) {
    it(`RCPT TO:<${c.to}>: ${c.why}`, async () => {
      const client = await t.connect();
      await client.command('EHLO client.example.test');
      await client.command('MAIL FROM:<sender@example.org>');
      assert.equal((await client.command(`RCPT TO:<${c.to}>`)).full, c.reply);
      await client.quit();
    });
  }

  it('the transaction log line carries each decision with its reason', async () => {
    const result = await t.sendMail({ from: 'a@example.org', to: ['x@elsewhere.test', 'y@example.test'] });
    assert.equal(result.data?.code, 250);
    assert.equal(result.record?.result, 'queued');
    const decisions = result.decisions.filter((d) => d.plugin === 'rcpthosts');
    assert.deepEqual(
      decisions.map((d) => [d.action, d.reason]),
      [
        ['reject', 'elsewhere.test is not in rcpthosts'],
        ['accept', 'example.test is in rcpthosts'],
      ],
    );
    const [queued] = (await t.queued()).filter((m) => m.id === result.queueId);
    assert.deepEqual(
      queued?.envelope.recipients.map((r) => r.address),
      ['y@example.test'],
    );
  });
});

describe('rcpthosts with a client another plugin lets relay', () => {
  it('leaves foreign domains to the core, which accepts them; tricks are allowed too', async () => {
    const t = await testPipeline({
      plugins: [
        { use: 'relay', with: { clients: ['127.0.0.1'] } },
        { plugin: rcpthosts, with: { domains: ['example.test'] } },
      ],
    });
    try {
      const result = await t.sendMail({ from: 'a@example.test', to: ['x@elsewhere.test', 'u%v@example.test'] });
      assert.deepEqual(
        result.rcpt.map((r) => r.full),
        ['250 2.1.5 Ok', '250 2.1.5 Ok'],
      );
    } finally {
      await t.close();
    }
  });
});

describe('rcpthosts files and reload', () => {
  it('reads a control file relative to the configuring folder and re-reads it on reload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-rcpthosts-kit-'));
    writeFileSync(join(dir, 'rcpthosts'), '# ours\nfiles.test\n');
    const t = await testPipeline({ dir, plugins: [{ plugin: rcpthosts, with: { files: ['rcpthosts'] } }] });
    try {
      const first = await t.sendMail({ from: 'a@example.org', to: ['x@files.test', 'x@later.test'] });
      assert.deepEqual(
        first.rcpt.map((r) => r.code),
        [250, 554],
      );
      writeFileSync(join(dir, 'rcpthosts'), 'files.test\nlater.test\n');
      await t.reload();
      const reloaded = t.logs.find((l) => l.plugin === 'rcpthosts' && l.msg === 'rcpthosts reloaded');
      assert.equal(reloaded?.domains, 2);
      const second = await t.sendMail({ from: 'a@example.org', to: ['x@later.test'] });
      assert.equal(second.rcpt[0]?.code, 250);

      rmSync(join(dir, 'rcpthosts'));
      await t.reload();
      assert.ok(t.logs.some((l) => l.level === 'error' && /keeping the previous rcpthosts/.test(l.msg)));
      assert.equal((await t.sendMail({ from: 'a@example.org', to: ['x@later.test'] })).rcpt[0]?.code, 250);
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("rcpthosts with no list of its own: the gateway's domains (ctx.gateway)", () => {
  it('accepts the local and routed domains the pipeline is told of, refuses the rest and says so', async () => {
    const t = await testPipeline({
      plugins: [{ plugin: rcpthosts }],
      localDomains: ['local.test', '.sub.local.test'],
      routedDomains: ['routed.test', '*'],
    });
    try {
      const result = await t.sendMail({
        from: 'a@example.org',
        to: ['x@local.test', 'x@a.sub.local.test', 'x@routed.test', 'x@elsewhere.test'],
      });
      assert.deepEqual(
        result.rcpt.map((r) => r.code),
        [250, 250, 250, 554],
      );
      const loaded = t.logs.find((l) => l.plugin === 'rcpthosts' && l.msg === 'rcpthosts loaded');
      assert.equal(loaded?.domains, 3, 'the "*" smarthost makes no domain ours');
      assert.equal(loaded?.from, 'delivery.local_domains and delivery.routes');
    } finally {
      await t.close();
    }
  });

  it('with no domains anywhere it refuses every recipient and warns', async () => {
    const t = await testPipeline({ plugins: [{ plugin: rcpthosts }] });
    try {
      const result = await t.sendMail({ from: 'a@example.org', to: ['x@local.test'] });
      assert.equal(result.rcpt[0]?.code, 554);
      assert.ok(t.logs.some((l) => l.level === 'warn' && /rcpthosts has no domains/.test(String(l.msg))));
    } finally {
      await t.close();
    }
  });
});
