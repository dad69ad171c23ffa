/*
 * my-plugin in a real pipeline (qgate/testing): the SMTP engine, a queue in a
 * temporary folder, and the built-in rcpthosts accepting the other recipients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Value } from 'qgate';
import { type TestPipeline, testPipeline } from 'qgate/testing';
import myPlugin from '../src/index.js';
import { MyPluginOptions } from '../src/options.js';

describe('my-plugin', () => {
  let t: TestPipeline;
  before(async () => {
    t = await testPipeline({
      plugins: [
        { plugin: myPlugin, with: { recipients: ['closed@example.test'] } },
        { use: 'rcpthosts', with: { domains: ['example.test'] } },
      ],
    });
  });
  after(() => t.close());

  it('refuses a listed recipient and queues the message for the others', async () => {
    const result = await t.sendMail({ from: 'sender@example.org', to: ['CLOSED@example.test', 'open@example.test'] });
    assert.deepEqual(
      result.rcpt.map((reply) => reply.full),
      ['550 5.7.1 This address does not receive mail', '250 2.1.5 Ok'],
    );
    assert.equal(result.data?.code, 250);
    const decision = result.decisions.find((d) => d.plugin === 'my-plugin' && d.action === 'reject');
    assert.equal(decision?.reason, 'CLOSED@example.test is listed');
    const [message] = await t.queued();
    assert.deepEqual(
      message?.envelope.recipients.map((r) => r.address),
      ['open@example.test'],
    );
  });

  it('has defaults for every option', () => {
    assert.deepEqual(Value.Default(MyPluginOptions, {}), {
      recipients: [],
      message: 'This address does not receive mail',
    });
  });

  it('refuses options that do not match the schema, naming the key', async () => {
    await assert.rejects(
      testPipeline({ plugins: [{ plugin: myPlugin, with: { recipients: 'closed@example.test' } }] }),
      /plugins\[0\]\.with\.recipients: expected array/,
    );
  });
});
