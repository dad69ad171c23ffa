/*
 * blacklist in a real pipeline, through the plugin test kit: the replies at
 * HELO, MAIL and RCPT, the null sender never refused, the decision naming the
 * list and entry, a pattern from YAML, and a broken file at reload keeping the
 * previous lists.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TestPipeline, testPipeline } from '../../../core/testing/index.js';
import blacklist from '../../../plugins/blacklist/index.js';
import rcpthosts from '../../../plugins/rcpthosts/index.js';

const RCPTHOSTS = { plugin: rcpthosts, with: { domains: ['example.test'] } };

describe('blacklist through the test kit', () => {
  let t: TestPipeline;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-blacklist-kit-'));
    writeFileSync(join(dir, 'badrcptto'), '# from a file\nfiled@example.test\n');
    t = await testPipeline({
      dir,
      plugins: [
        {
          plugin: blacklist,
          with: {
            mail_from: { entries: ['spammer@example.org', '@junk.test'] },
            rcpt_to: {
              entries: [{ regex: 'bounce-[0-9]+@example\\.test' }],
              files: ['badrcptto'],
              message: 'That mailbox does not accept mail',
            },
            helo: { entries: ['localhost'] },
          },
        },
        RCPTHOSTS,
      ],
    });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a listed HELO name with 553 and lets another one greet', async () => {
    const client = await t.connect();
    assert.equal((await client.command('EHLO localhost')).full, '553 5.7.1 Sorry, your HELO/EHLO name is in my badhelo list');
    assert.equal((await client.command('EHLO client.example.test')).code, 250);
    await client.quit();
  });

  const senders = [
    { from: 'spammer@example.org', code: 553, why: 'an exact entry' },
    { from: 'SPAMMER@example.org', code: 553, why: 'in any case' },
    { from: 'anyone@junk.test', code: 553, why: 'an @domain entry' },
    { from: 'anyone@sub.junk.test', code: 250, why: 'not its sub-domains' },
    { from: '', code: 250, why: 'the null sender carries bounces and is never refused' },
  ];
  for (const c of senders) {
    it(`MAIL FROM:<${c.from}>: ${c.why}`, async () => {
      const result = await t.sendMail({ from: c.from, to: ['user@example.test'] });
      assert.equal(result.mail?.code, c.code, result.mail?.full);
      if (c.code === 553) {
        assert.equal(result.mail?.full, '553 5.7.1 Sorry, your envelope sender is in my badmailfrom list');
      }
    });
  }

  it('refuses listed recipients with the list message; the decision names the list and the entry', async () => {
    const result = await t.sendMail({
      from: 'a@example.org',
      to: ['bounce-42@example.test', 'filed@example.test', 'user@example.test'],
    });
    assert.deepEqual(
      result.rcpt.map((r) => r.full),
      ['553 5.7.1 That mailbox does not accept mail', '553 5.7.1 That mailbox does not accept mail', '250 2.1.5 Ok'],
    );
    const reasons = result.decisions.filter((d) => d.plugin === 'blacklist' && d.action === 'reject').map((d) => d.reason);
    assert.deepEqual(reasons, ['badrcptto entry "regex:bounce-[0-9]+@example\\.test"', 'badrcptto entry "filed@example.test"']);
    assert.deepEqual(result.record?.recipients, ['user@example.test']);
  });

  it('a broken list file at reload keeps every previous list (logged)', async () => {
    writeFileSync(join(dir, 'badrcptto'), 'regex:(unclosed\n');
    await t.reload();
    const failed = await t.waitForLog((l) => l.plugin === 'blacklist' && l.level === 'error');
    assert.match(failed.msg, /blacklist reload failed; keeping the previous blacklist/);
    const result = await t.sendMail({ from: 'spammer@example.org', to: ['filed@example.test'] });
    assert.equal(result.mail?.code, 553, 'badmailfrom is still in force');
    writeFileSync(join(dir, 'badrcptto'), 'other@example.test\n');
    await t.reload();
    const again = await t.sendMail({ from: 'a@example.org', to: ['filed@example.test', 'other@example.test'] });
    assert.deepEqual(
      again.rcpt.map((r) => r.code),
      [250, 553],
    );
  });
});

describe('blacklist options', () => {
  it('an invalid regex is a configuration error with its key', async () => {
    await assert.rejects(
      testPipeline({ plugins: [{ plugin: blacklist, with: { helo: { entries: [{ regex: '(a' }] } } }] }),
      /^ConfigError: testPipeline plugins\[0\]\.with\.helo\.entries\[0\]\.regex: must be a valid RE2 regular expression/,
    );
  });
});
