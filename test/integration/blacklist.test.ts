/*
 * blacklist in a running gateway (blacklist, then rcpthosts): listed senders,
 * recipients and HELO names get 553 5.7.1 and the message's log line names the
 * entry; lists are re-read on SIGHUP while a session stays open; a broken
 * regex is a configuration error (YAML) or keeps the old lists (file, reload).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, runCli, startGateway } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

const PLUGINS = `
      - use: blacklist
        with:
          mail_from:
            entries: [spammer@example.org, '@junk.example.org']
          rcpt_to:
            entries: [blocked@example.test, '@spam.example.test', { regex: 'bounce-[0-9]+@example\\.test' }]
            files: [control/badrcptto]
            message: That mailbox does not take mail from here
          helo:
            entries: [localhost, { regex: '[0-9]+(\\.[0-9]+){3}' }]
      - use: rcpthosts
        with:
          domains: [example.test, .example.test]`;

async function session(gw: Gateway, helo = 'client.test'): Promise<RawSmtp> {
  const { smtp } = await RawSmtp.session(gw.port);
  assert.equal((await smtp.command(`EHLO ${helo}`)).code, 250);
  return smtp;
}

describe('blacklist plugin', () => {
  let gw: Gateway;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-blacklist-'));
    mkdirSync(join(dir, 'control'));
    writeFileSync(join(dir, 'control', 'badrcptto'), '# badrcptto\nfromfile@example.test\n');
    gw = await startGateway({ dir, plugins: PLUGINS });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('refuses a listed sender at MAIL with 553 5.7.1 and logs the entry', async () => {
    const smtp = await session(gw);
    const cases: { from: string; code: number; entry?: string; why: string }[] = [
      { from: 'spammer@example.org', code: 553, entry: 'spammer@example.org', why: 'exact entry' },
      { from: 'Spammer@EXAMPLE.org', code: 553, entry: 'spammer@example.org', why: 'case-insensitive' },
      { from: '"spammer"@example.org', code: 553, entry: 'spammer@example.org', why: 'quotes name the same mailbox' },
      { from: 'anyone@junk.example.org', code: 553, entry: '@junk.example.org', why: '@domain entry' },
      { from: 'anyone@sub.junk.example.org', code: 250, why: '@domain does not cover sub-domains' },
      { from: 'friend@example.org', code: 250, why: 'not listed' },
      { from: '', code: 250, why: 'the null sender is never blacklisted' },
    ];
    for (const c of cases) {
      const mark = gw.logs.length;
      const reply = await smtp.command(`MAIL FROM:<${c.from}>`);
      assert.equal(reply.code, c.code, `${c.why}: ${reply.text}`);
      if (c.code === 553) {
        assert.equal(reply.text, '553 5.7.1 Sorry, your envelope sender is in my badmailfrom list', c.why);
        const line = await gw.waitForLog((l) => gw.logs.indexOf(l) >= mark && l.event === 'message');
        assert.equal(line.result, 'rejected');
        assert.equal(line.plugin, 'blacklist');
        assert.equal(line.reason, `badmailfrom entry "${c.entry}"`);
      } else {
        assert.equal((await smtp.command('RSET')).code, 250);
      }
    }
    smtp.close();
  });

  it('refuses listed recipients at RCPT with 553 5.7.1; the message log line names each entry', async () => {
    const smtp = await session(gw);
    assert.equal((await smtp.command('MAIL FROM:<rcpt-test@example.org>')).code, 250);
    const cases: { to: string; code: number; entry?: string; why: string }[] = [
      { to: 'blocked@example.test', code: 553, entry: 'blocked@example.test', why: 'exact entry' },
      { to: 'anyone@spam.example.test', code: 553, entry: '@spam.example.test', why: '@domain entry' },
      { to: 'bounce-42@example.test', code: 553, entry: 'regex:bounce-[0-9]+@example\\.test', why: 'regex entry' },
      { to: 'BOUNCE-42@Example.Test', code: 553, entry: 'regex:bounce-[0-9]+@example\\.test', why: 'regex ignores case' },
      { to: 'fromfile@example.test', code: 553, entry: 'fromfile@example.test', why: 'entry from a file' },
      { to: 'bounce-42x@example.test', code: 250, why: 'the regex must match the whole address' },
      { to: 'anyone@x.spam.example.test', code: 250, why: 'sub-domain of an @domain entry' },
      { to: 'ok@example.test', code: 250, why: 'not listed: rcpthosts accepts it' },
    ];
    for (const c of cases) {
      const reply = await smtp.command(`RCPT TO:<${c.to}>`);
      assert.equal(reply.code, c.code, `${c.why}: ${reply.text}`);
      if (c.code === 553) assert.equal(reply.text, '553 5.7.1 That mailbox does not take mail from here', c.why);
    }
    assert.equal((await smtp.command('RSET')).code, 250);
    const line = await gw.waitForLog((l) => l.event === 'message' && l.sender === 'rcpt-test@example.org');
    const decisions = line.decisions as { plugin: string; hook: string; action: string; reason?: string; code?: number }[];
    const refusals = decisions.filter((d) => d.plugin === 'blacklist' && d.action === 'reject');
    assert.deepEqual(
      refusals.map((d) => [d.hook, d.code, d.reason]),
      cases.filter((c) => c.entry).map((c) => ['rcpt', 553, `badrcptto entry "${c.entry}"`]),
    );
    assert.deepEqual(line.recipients, ['bounce-42x@example.test', 'anyone@x.spam.example.test', 'ok@example.test']);
    smtp.close();
  });

  it('refuses a listed HELO/EHLO name with 553 5.7.1', async () => {
    const { smtp } = await RawSmtp.session(gw.port);
    const cases: { helo: string; code: number; why: string }[] = [
      { helo: 'EHLO localhost', code: 553, why: 'exact name' },
      { helo: 'HELO LocalHost', code: 553, why: 'HELO too, case-insensitive' },
      { helo: 'EHLO 192.0.2.1', code: 553, why: 'regex' },
      { helo: 'EHLO 192.0.2.1.example.net', code: 250, why: 'the regex must match the whole name' },
      { helo: 'EHLO localhost.example.net', code: 250, why: 'exact names cover no sub-domains' },
    ];
    for (const c of cases) {
      const reply = await smtp.command(c.helo);
      assert.equal(reply.code, c.code, `${c.why}: ${reply.text}`);
      if (c.code === 553) assert.equal(reply.text, '553 5.7.1 Sorry, your HELO/EHLO name is in my badhelo list');
    }
    assert.equal((await smtp.command('QUIT')).code, 221);
    const line = await gw.waitForLog((l) => l.msg === 'connection closed' && l.helo === 'localhost.example.net');
    const reasons = (line.decisions as { plugin: string; action: string; reason?: string }[])
      .filter((d) => d.plugin === 'blacklist' && d.action === 'reject')
      .map((d) => d.reason);
    assert.deepEqual(reasons, [
      'badhelo entry "localhost"',
      'badhelo entry "localhost"',
      'badhelo entry "regex:[0-9]+(\\.[0-9]+){3}"',
    ]);
    smtp.close();
  });

  it('re-reads list files on SIGHUP while a session stays open; a broken regex keeps the old lists', async () => {
    const smtp = await session(gw);
    assert.equal((await smtp.command('MAIL FROM:<reload@example.org>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<later@example.test>')).code, 250);

    const file = join(gw.dir, 'control', 'badrcptto');
    writeFileSync(file, 'fromfile@example.test\n# added later\nregex:later[0-9]*@example\\.test\n');
    const mark = gw.logs.length;
    gw.process.kill('SIGHUP');
    await gw.waitForLog((l) => gw.logs.indexOf(l) >= mark && l.event === 'reload' && Array.isArray(l.changed));
    assert.equal((await smtp.command('RCPT TO:<later2@example.test>')).code, 250, 'the open session keeps its lists');
    const fresh = await session(gw);
    assert.equal((await fresh.command('MAIL FROM:<reload@example.org>')).code, 250);
    assert.equal((await fresh.command('RCPT TO:<later2@example.test>')).code, 553, 'a new session has the new list');

    writeFileSync(file, 'fromfile@example.test\nregex:(broken\nnew@example.test\n');
    gw.process.kill('SIGHUP');
    const failed = await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.problems));
    assert.equal(failed.level, 'error');
    assert.match(
      JSON.stringify(failed.problems),
      new RegExp(
        `${realpathSync(gw.dir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/control/badrcptto:2: invalid regular expression`,
      ),
    );
    assert.equal((await fresh.command('RCPT TO:<later3@example.test>')).code, 553, 'the old list is still in force');
    assert.equal((await fresh.command('RCPT TO:<new@example.test>')).code, 250, 'nothing of the broken file was taken');
    fresh.close();
    smtp.close();
  });
});

describe('blacklist patterns match in linear time', () => {
  it('MAIL and RCPT get their replies with ReDoS input against a nested-quantifier entry', async () => {
    // With a backtracking engine, 40 characters against (a+)+b take about 2^40 steps: the
    // gateway would answer in hours, and nobody else in the meantime.
    const gw = await startGateway({
      plugins: `
      - use: blacklist
        with:
          mail_from: { entries: [{ regex: '(a+)+b@x\\.test' }] }
          rcpt_to: { entries: [{ regex: '(x+x+)+y@example\\.test' }] }
      - use: rcpthosts
        with: { domains: [example.test] }`,
    });
    try {
      const smtp = await session(gw);
      assert.equal((await smtp.command(`MAIL FROM:<${'a'.repeat(40)}@x.test>`)).code, 250);
      assert.equal((await smtp.command('RSET')).code, 250);
      assert.equal((await smtp.command(`MAIL FROM:<${'a'.repeat(64)}@x.test>`)).code, 250, 'the longest local part');
      assert.equal((await smtp.command(`RCPT TO:<${'x'.repeat(40)}@example.test>`)).code, 250);
      assert.equal((await smtp.command(`RCPT TO:<${'x'.repeat(64)}@example.test>`)).code, 250);
      assert.equal((await smtp.command('RCPT TO:<xxxy@example.test>')).code, 553, 'the pattern is in force');
      assert.equal((await smtp.command('RSET')).code, 250);
      assert.equal((await smtp.command('MAIL FROM:<aaab@x.test>')).code, 553);
      smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

describe('blacklist configuration errors', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const project = (pipeline: string, files: Record<string, string> = {}): string => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'qgate-blacklist-config-')));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'config.yaml'),
      'listeners:\n  - name: smtp\n    port: 2525\n    pipeline: inbound\npipelines:\n  inbound: pipeline.yaml\n',
    );
    writeFileSync(join(dir, 'pipeline.yaml'), pipeline);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };

  it('an invalid regex in YAML names file:line:col and the key', async () => {
    const dir = project(
      [
        'plugins:',
        '  - use: blacklist',
        '    with:',
        '      rcpt_to:',
        '        entries:',
        '          - a@example.test',
        "          - '@spam.test'",
        "          - regex: '(unclosed'",
      ].join('\n'),
    );
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.code, 78, r.stderr);
    assert.equal(
      r.stderr,
      'qgate: configuration error\n' +
        'pipeline.yaml:8:20 plugins[0].with.rcpt_to.entries[2].regex: must be a valid RE2 regular expression: missing closing ), got "(unclosed"\n',
    );
  });

  it('backreferences and lookaround are refused with their position: RE2 has none', async () => {
    const dir = project(
      [
        'plugins:',
        '  - use: blacklist',
        '    with:',
        '      mail_from:',
        "        entries: [{ regex: '(.)\\1@example\\.test' }]",
        '        files: [badmailfrom]',
      ].join('\n'),
      { badmailfrom: 'ok@example.test\nregex:(?!postmaster).*@example\\.test\n' },
    );
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.code, 78, r.stderr);
    assert.equal(
      r.stderr,
      'qgate: configuration error\n' +
        'pipeline.yaml:5:28 plugins[0].with.mail_from.entries[0].regex: must be a valid RE2 regular expression: backreferences such as \\1 are not supported (patterns are RE2 syntax, matched in linear time), got "(.)\\\\1@example\\\\.test"\n',
    );
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      'plugins:\n  - use: blacklist\n    with:\n      mail_from:\n        files: [badmailfrom]\n',
    );
    const file = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(file.code, 78, file.stderr);
    assert.equal(
      file.stderr,
      'qgate: configuration error\n' +
        `pipeline.yaml:2:5 plugins[0]: plugin setup failed: ${dir}/badmailfrom:2: invalid regular expression "regex:(?!postmaster).*@example\\.test": lookahead and lookbehind such as (?! are not supported (patterns are RE2 syntax, matched in linear time)\n`,
    );
  });

  it('an invalid regex in a list file stops start-up naming the file and line', async () => {
    const dir = project('plugins:\n  - use: blacklist\n    with:\n      helo:\n        files: [badhelo]\n', {
      badhelo: '# bad HELO names\nlocalhost\nregex:*\n',
    });
    const r = await runCli(['check', 'config', '--config', 'config.yaml'], dir);
    assert.equal(r.code, 78, r.stderr);
    assert.equal(
      r.stderr,
      'qgate: configuration error\n' +
        `pipeline.yaml:2:5 plugins[0]: plugin setup failed: ${dir}/badhelo:3: invalid regular expression "regex:*": missing argument to repetition operator\n`,
    );
  });
});
