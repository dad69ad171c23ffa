/*
 * file-users as the delivery pipeline's directory: a listed user's mail goes
 * to the Maildir the file names, an unlisted address in a domain the file is
 * the authority for is refused at RCPT, whatever create_mailboxes says.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startGateway } from '../harness/gateway.js';
import { openTransaction } from '../harness/smtp.js';

describe('file-users in delivery', () => {
  it('delivers to the listed mailbox and refuses unknown users of its domains at RCPT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-file-users-'));
    const box = join(dir, 'boxes', 'alice');
    writeFileSync(
      join(dir, 'users.yaml'),
      `domains: [example.test]\nusers:\n  alice@example.test: { password: "{PLAIN}x", mailbox: ${JSON.stringify(box)} }\n` +
        `  dan@example.test: { mailbox: ${JSON.stringify(join(dir, 'boxes', 'dan'))} }\n`,
    );
    const gw = await startGateway({
      dir,
      extraPipelines: `
  delivery:
    plugins:
      - use: file-users
        with: { file: users.yaml }`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`,
    });
    try {
      const smtp = await openTransaction(gw.port, 'dan@example.test', 'alice@example.test');
      assert.equal(
        (await smtp.command('RCPT TO:<eve@example.test>')).text,
        '550 5.1.1 <eve@example.test>: Recipient address rejected: User unknown in local recipient table',
        'refused at RCPT: no bounce to send later',
      );
      assert.equal((await smtp.command('DATA')).code, 354);
      const reply = await smtp.command('Subject: directory\r\n\r\nx\r\n.');
      smtp.close();
      const id = /queued as (\w+)/.exec(reply.text)![1]!;
      await gw.waitForLog((l) => l.event === 'done' && l.queueId === id, 20_000);
      assert.equal(readdirSync(join(box, 'new')).length, 1, "alice's Maildir is the file's");
      assert.ok(!gw.logs.some((l) => l.event === 'bounce'), 'nothing bounced');
      assert.ok(!existsSync(join(dir, 'mail', 'example.test', 'eve')), 'no Maildir was made for eve');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('warns when a file with cleartext-equivalent secrets is readable by others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-file-users-'));
    const file = join(dir, 'users.yaml');
    writeFileSync(file, 'users:\n  a@example.test: { password: "{PLAIN}x" }\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    const plugins = `
      - use: file-users
        with: { file: users.yaml }
      - use: rcpthosts
        with: { domains: [example.test] }`;
    let gw = await startGateway({ dir, plugins });
    try {
      const warning = await gw.waitForLog((l) => /cleartext-equivalent secrets and other users can read it/.test(l.msg));
      assert.deepEqual(warning.users, ['a@example.test']);
      await gw.stop();
      chmodSync(file, 0o600);
      gw = await startGateway({ dir, plugins });
      assert.ok(!gw.logs.some((l) => /cleartext-equivalent/.test(l.msg)), 'no warning once the file is private');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
