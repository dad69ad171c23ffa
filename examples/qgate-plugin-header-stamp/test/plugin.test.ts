/*
 * header-stamp in a real pipeline (qgate/testing): the SMTP engine, a queue in a
 * temporary folder, and rcpthosts accepting the recipients. What the stamp says,
 * forged stamps, listeners, and option errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Value } from 'qgate';
import { type TestPipeline, testPipeline } from 'qgate/testing';
import headerStamp from '../src/index.js';
import { HeaderStampOptions } from '../src/options.js';

const RCPTHOSTS = { use: 'rcpthosts', with: { domains: ['example.test'] } };

describe('header-stamp', () => {
  let t: TestPipeline;
  before(async () => {
    t = await testPipeline({ hostname: 'mx.example.test', plugins: [{ plugin: headerStamp }, RCPTHOSTS] });
  });
  after(() => t.close());

  it('adds the field with the defaults filled in', async () => {
    const result = await t.sendMail({ from: 'a@example.org', to: ['b@example.test'], message: 'Subject: hi\n\nhello\n' });
    assert.equal(result.data?.code, 250, result.data?.full);
    const message = (await t.queued()).find((m) => m.id === result.queueId);
    assert.deepEqual(message?.addedHeaders, [
      { name: 'X-Gateway-Stamp', value: 'by mx.example.test on test; client=127.0.0.1; tls=none; user=-' },
    ]);
  });

  it('refuses a message that already carries the field, and logs why', async () => {
    const result = await t.sendMail({
      from: 'a@example.org',
      to: ['b@example.test'],
      message: 'X-Gateway-Stamp: by mx.example.test; user=ceo@example.test\nSubject: trust me\n\nx\n',
    });
    assert.equal(result.data?.full, '554 5.7.1 Message carries a X-Gateway-Stamp header from elsewhere');
    assert.equal(result.record?.result, 'rejected');
    assert.equal(result.record?.plugin, 'header-stamp');
    assert.ok(result.decisions.some((d) => d.plugin === 'header-stamp' && d.reason === 'forged X-Gateway-Stamp'));
  });
});

describe('header-stamp options', () => {
  it('forged: keep accepts the message and adds ours; a custom field and template', async () => {
    const t = await testPipeline({
      plugins: [
        { plugin: headerStamp, with: { field: 'X-Seen-By', value: '{listener} {helo} {queue_id}', forged: 'keep' } },
        RCPTHOSTS,
      ],
    });
    try {
      const result = await t.sendMail({
        from: 'a@example.org',
        to: ['b@example.test'],
        helo: 'laptop.example.org',
        message: 'X-Seen-By: someone else\n\nx\n',
      });
      assert.equal(result.data?.code, 250, result.data?.full);
      const [message] = await t.queued();
      assert.deepEqual(message?.addedHeaders, [{ name: 'X-Seen-By', value: `test laptop.example.org ${result.queueId}` }]);
      assert.match(message!.content, /\r\nX-Seen-By: someone else\r\n/);
    } finally {
      await t.close();
    }
  });

  it('stamps only on the listed listeners', async () => {
    const t = await testPipeline({
      listener: { name: 'mx' },
      plugins: [{ plugin: headerStamp, with: { listeners: ['submission'] } }, RCPTHOSTS],
    });
    try {
      const result = await t.sendMail({ from: 'a@example.org', to: ['b@example.test'] });
      assert.equal(result.data?.code, 250);
      assert.deepEqual((await t.queued())[0]?.addedHeaders, []);
    } finally {
      await t.close();
    }
  });

  it('an unknown placeholder stops the pipeline with the entry and the name', async () => {
    await assert.rejects(
      testPipeline({ plugins: [{ plugin: headerStamp, with: { value: 'by {host}' } }] }),
      /testPipeline plugins\[0\]: plugin setup failed: value: unknown placeholder \{host\}/,
    );
  });

  it('a field name with a colon or a space is refused', async () => {
    await assert.rejects(
      testPipeline({ plugins: [{ plugin: headerStamp, with: { field: 'X-A: b' } }] }),
      /plugins\[0\]\.with\.field: /,
    );
  });

  it('has a default for every option', () => {
    const defaults = Value.Default(HeaderStampOptions, {});
    assert.ok(Value.Check(HeaderStampOptions, defaults));
    assert.equal((defaults as { forged: string }).forged, 'reject');
  });
});
