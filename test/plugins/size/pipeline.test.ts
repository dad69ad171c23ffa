/*
 * size in a real pipeline, through the plugin test kit: the EHLO keyword, a
 * declared SIZE= over the limit refused at MAIL, a message over the limit read
 * to its end and refused with 552, the per-listener limit, and option errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestPipeline, testPipeline } from '../../../core/testing/index.js';
import rcpthosts from '../../../plugins/rcpthosts/index.js';
import size from '../../../plugins/size/index.js';

const RCPTHOSTS = { plugin: rcpthosts, with: { domains: ['example.test'] } };

describe('size through the test kit', () => {
  let t: TestPipeline;
  before(async () => {
    t = await testPipeline({ plugins: [{ plugin: size, with: { limit: '1KB' } }, RCPTHOSTS] });
  });
  after(() => t.close());

  it('advertises SIZE with the limit in octets', async () => {
    const client = await t.connect();
    const ehlo = await client.command('EHLO client.example.test');
    assert.ok(ehlo.lines.includes('SIZE 1024'), ehlo.full);
    await client.quit();
  });

  const declared = [
    { size: 1024, code: 250, why: 'exactly the limit is fine' },
    { size: 1025, code: 552, why: 'one octet over is refused up front (RFC 1870 6.1)' },
  ];
  for (const c of declared) {
    it(`MAIL FROM with SIZE=${c.size}: ${c.why}`, async () => {
      const client = await t.connect();
      await client.command('EHLO client.example.test');
      const mail = await client.command(`MAIL FROM:<a@example.test> SIZE=${c.size}`);
      assert.equal(mail.code, c.code, mail.full);
      if (c.code === 552) assert.equal(mail.full, '552 5.3.4 Message size exceeds fixed maximum message size');
      await client.quit();
    });
  }

  it('a message over the limit is refused at its end and not queued; the decision is logged', async () => {
    const before = (await t.queued()).length;
    const result = await t.sendMail({
      from: 'a@example.test',
      to: ['b@example.test'],
      message: `Subject: big\n\n${'x'.repeat(2000)}\n`,
    });
    assert.equal(result.data?.full, '552 5.3.4 Error: message file too big');
    assert.equal((await t.queued()).length, before);
    assert.equal(result.record?.result, 'rejected');
    const decisions = result.decisions;
    assert.ok(decisions.some((d) => d.plugin === 'size' && d.hook === 'mail' && d.action === 'continue'));
  });

  it('a message under the limit is queued', async () => {
    const result = await t.sendMail({ from: 'a@example.test', to: ['b@example.test'], message: 'Subject: small\n\nhi\n' });
    assert.equal(result.data?.code, 250, result.data?.full);
    const queued = await t.queued();
    assert.ok(queued.some((m) => m.id === result.queueId && m.content.endsWith('Subject: small\r\n\r\nhi\r\n')));
  });
});

describe('size per listener', () => {
  it('the listener named in `listeners` gets its own limit; 0 there means none', async () => {
    const plugins = [{ plugin: size, with: { limit: '1KB', listeners: { submission: '2KB', bulk: 0 } } }, RCPTHOSTS];
    for (const [listener, keyword] of [
      ['submission', 'SIZE 2048'],
      ['bulk', 'SIZE'],
      ['mx', 'SIZE 1024'],
    ] as const) {
      const t = await testPipeline({ plugins, listener: { name: listener }, otherListeners: ['submission', 'bulk', 'mx'] });
      try {
        const client = await t.connect();
        const ehlo = await client.command('EHLO client.example.test');
        assert.equal(
          ehlo.lines.find((l) => l.startsWith('SIZE')),
          keyword,
          listener,
        );
        await client.quit();
      } finally {
        await t.close();
      }
    }
  });
});

describe('size options', () => {
  it('a listener name that is no listener is refused with its key', async () => {
    const options = { plugins: [{ plugin: size, with: { listeners: { submision: '2KB' } } }], otherListeners: ['submission'] };
    await assert.rejects(testPipeline(options), (err: Error) => {
      assert.equal(
        err.message,
        'testPipeline plugins[0].with.listeners.submision: unknown listener "submision"; the listeners are: test, submission',
      );
      return true;
    });
  });

  it('a limit that is not a size is refused with its key, as in config.yaml', async () => {
    await assert.rejects(testPipeline({ plugins: [{ plugin: size, with: { limit: 'lots' } }] }), (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, /^testPipeline plugins\[0\]\.with\.limit: expected a size/);
      return true;
    });
  });
});
