/*
 * The plugin test kit (qgate/testing) itself: plugins given as definitions and
 * by `use:`, a handler failure becoming 451 with the plugin's name in the
 * captured log, the message hook reading the real spooled file, the message as
 * delivered (fields removed and added), directory hooks
 * asked directly, STARTTLS through the client, and close() cleaning up.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { definePlugin, next, reject, Type } from '../../core/plugin-api/index.js';
import { testPipeline } from '../../core/testing/index.js';
import { REPO } from '../harness/gateway.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'plugins');

/** Reads the spooled file in the message hook and stamps what it saw. */
const inspector = definePlugin({
  name: 'inspector',
  options: Type.Object({ field: Type.String({ default: 'X-Inspected' }), refuse: Type.String({ default: '' }) }),
  setup(ctx, options) {
    ctx.on('init', ({ log }) => log.info('inspector ready'));
    ctx.on('message', async (_session, transaction, message) => {
      const headers = await message.readHeaders();
      const subject = headers.find((h) => h.name.toLowerCase() === 'subject')?.value ?? '';
      if (options.refuse && subject.includes(options.refuse)) return reject(554, '5.7.1', 'Refused by inspection');
      transaction.addHeader(options.field, `${headers.length} fields; ${message.size} octets; ${subject}`);
      return next();
    });
    ctx.on('shutdown', ({ log }) => log.info('inspector stopped'));
  },
});

describe('the test kit', () => {
  it('shows the message as delivered: fields a plugin removed are gone, a replaced Subject follows Received', async () => {
    const rewriter = definePlugin({
      name: 'rewriter',
      options: Type.Object({}),
      setup(ctx) {
        ctx.on('message', (_session, transaction) => {
          transaction.removeHeader('X-Verdict-*');
          transaction.removeHeader('Subject');
          transaction.addHeader('Subject', '[checked] hello');
          assert.throws(() => transaction.removeHeader('Received'), RangeError);
          return next();
        });
      },
    });
    const t = await testPipeline({ plugins: [{ plugin: rewriter }, { use: 'rcpthosts', with: { domains: ['example.test'] } }] });
    try {
      const sent = await t.sendMail({
        from: 'a@example.org',
        to: ['b@example.test'],
        message:
          'X-Verdict-Score: -100\nSubject: hello\nX-Verdict-Flag: clean\n  folded\nFrom: a@example.org\n\nX-Verdict-Score: body\n',
      });
      assert.equal(sent.data?.code, 250, sent.data?.full);
      const [queued] = await t.queued();
      assert.deepEqual(queued?.envelope.removedHeaders, ['X-Verdict-*', 'Subject']);
      assert.ok(queued!.content.includes('X-Verdict-Score: -100'), 'the spool is not rewritten');
      const received = queued!.content.slice(0, queued!.content.indexOf('X-Verdict-Score'));
      assert.equal(
        queued!.delivered,
        `${received}Subject: [checked] hello\r\nFrom: a@example.org\r\n\r\nX-Verdict-Score: body\r\n`,
      );
    } finally {
      await t.close();
    }
  });

  it('runs definitions with defaults filled; the message hook sees the spooled message; headers and logs are there', async () => {
    const t = await testPipeline({
      plugins: [
        { plugin: inspector, with: { refuse: 'SPAM' } },
        { use: 'rcpthosts', with: { domains: ['example.test'] } },
      ],
    });
    try {
      assert.ok(
        t.logs.some((l) => l.msg === 'inspector ready'),
        'init ran',
      );
      const ok = await t.sendMail({ from: 'a@example.org', to: ['b@example.test'], message: 'Subject: hello\n\nbody\n' });
      assert.equal(ok.data?.code, 250, ok.data?.full);
      const [queued] = await t.queued();
      assert.equal(queued?.id, ok.queueId);
      assert.match(queued!.content, /^Received: from client\.example\.test/);
      assert.ok(queued!.content.endsWith('Subject: hello\r\n\r\nbody\r\n'));
      const size = Buffer.byteLength(queued!.content);
      assert.deepEqual(queued?.addedHeaders, [{ name: 'X-Inspected', value: `2 fields; ${size} octets; hello` }]);

      const spam = await t.sendMail({ from: 'a@example.org', to: ['b@example.test'], message: 'Subject: SPAM\n\nx\n' });
      assert.equal(spam.data?.full, '554 5.7.1 Refused by inspection');
      assert.equal(spam.record?.result, 'rejected');
      assert.equal(spam.record?.plugin, 'inspector');
      assert.equal((await t.queued()).length, 1, 'the refused message is not queued');
      assert.equal(t.transactions().length, 2);
    } finally {
      await t.close();
    }
    assert.ok(
      t.logs.some((l) => l.msg === 'inspector stopped'),
      'shutdown ran',
    );
  });

  it('a handler that throws gives 451 4.3.0, logged at error with the plugin and hook', async () => {
    const t = await testPipeline({
      plugins: [
        { use: join(FIXTURES, 'faulty.js'), timeout: '200ms' },
        { use: 'rcpthosts', with: { domains: ['example.test'] } },
      ],
    });
    try {
      const result = await t.sendMail({
        from: 'a@example.org',
        to: ['throw@example.test', 'slow@example.test', 'ok@example.test'],
      });
      assert.deepEqual(
        result.rcpt.map((r) => r.full),
        [
          '451 4.3.0 Error: internal error, please try again later',
          '451 4.3.0 Error: internal error, please try again later',
          '250 2.1.5 Ok',
        ],
      );
      const failure = t.logs.find((l) => l.level === 'error' && l.plugin === 'faulty');
      assert.equal(failure?.hook, 'rcpt');
      assert.match(failure!.msg, /plugin faulty failed: boom in rcpt/);
      assert.ok(t.logs.some((l) => l.plugin === 'faulty' && /timed out after 200 ms/.test(l.msg)));
    } finally {
      await t.close();
    }
  });

  it('asks the directory hooks directly', async () => {
    const t = await testPipeline({
      plugins: [{ use: join(FIXTURES, 'directory.js'), with: { users: { 'alice@example.test': 'secret' } } }],
    });
    try {
      assert.deepEqual(await t.lookupUser('alice@example.test'), {
        address: 'alice@example.test',
        mailbox: '/var/mail/alice@example.test',
      });
      assert.equal(await t.lookupUser('bob@example.test'), null);
      assert.deepEqual(await t.authenticate({ mechanism: 'PLAIN', username: 'alice@example.test', password: 'secret' }), {
        ok: true,
        user: 'alice@example.test',
      });
      assert.deepEqual(await t.authenticate({ mechanism: 'PLAIN', username: 'alice@example.test', password: 'guess' }), {
        ok: false,
      });
    } finally {
      await t.close();
    }
  });

  it("loads a plugin file that imports 'qgate' from a folder without node_modules", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-kit-path-'));
    mkdirSync(join(dir, 'plugins'));
    writeFileSync(
      join(dir, 'plugins', 'closed.js'),
      `import { definePlugin, reject, Type } from 'qgate';
export default definePlugin({
  name: 'closed',
  options: Type.Object({ text: Type.String({ default: 'Closed' }) }),
  setup(ctx, options) {
    ctx.on('data', () => reject(450, '4.7.0', options.text));
  },
});
`,
    );
    const t = await testPipeline({
      dir,
      plugins: [{ use: './plugins/closed.js' }, { use: 'rcpthosts', with: { domains: ['example.test'] } }],
    });
    try {
      const result = await t.sendMail({ from: 'a@example.org', to: ['b@example.test'] });
      assert.equal(result.data?.full, '450 4.7.0 Closed');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('speaks STARTTLS with a TLS plugin, and close() removes its temporary folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-kit-tls-'));
    const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('qgate-testing-')));
    const t = await testPipeline({
      dir,
      plugins: [
        { use: 'starttls', with: { generate: 'selfsigned.pem' } },
        { use: 'rcpthosts', with: { domains: ['example.test'] } },
      ],
    });
    const mine = readdirSync(tmpdir()).filter((n) => n.startsWith('qgate-testing-') && !before.has(n));
    assert.equal(mine.length, 1, 'one temporary folder for the queue');
    try {
      const client = await t.connect();
      assert.ok((await client.command('EHLO client.example.test')).lines.includes('STARTTLS'));
      assert.equal((await client.startTls()).full, '220 2.0.0 Ready to start TLS');
      const ehlo = await client.command('EHLO client.example.test');
      assert.ok(!ehlo.lines.includes('STARTTLS'), 'not offered again inside TLS');
      assert.equal((await client.command('MAIL FROM:<a@example.org>')).code, 250);
      await client.quit();
      const tls = await t.waitForLog((l) => l.event === 'tls' && l.msg === 'TLS established');
      assert.match(String(tls.protocol), /^TLSv1\.[23]$/);
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(existsSync(join(tmpdir(), mine[0]!)), false);
  });

  it('refuses bad listener settings and unknown plugins as config.yaml would, naming the key', async () => {
    await assert.rejects(
      testPipeline({ plugins: [], listener: { max_recipients: 0 } }),
      /testPipeline listener\.max_recipients: /,
    );
    await assert.rejects(
      testPipeline({ plugins: [{ use: 'no-such-plugin-here' }] }),
      /testPipeline plugins\[0\]\.use: unknown plugin "no-such-plugin-here"/,
    );
  });
});
