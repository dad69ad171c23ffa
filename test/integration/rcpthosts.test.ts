/*
 * rcpthosts in a running gateway: domains from YAML and from control files,
 * re-read on SIGHUP without dropping sessions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startGateway } from '../harness/gateway.js';
import { openTransaction } from '../harness/smtp.js';

describe('rcpthosts plugin', () => {
  it('reads control files and re-reads them on SIGHUP, while a session stays open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-rcpthosts-'));
    writeFileSync(join(dir, 'rcpthosts'), '# ours\nfiles.test\n');
    writeFileSync(join(dir, 'morercpthosts'), '.more.test\n');
    const gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test]
          files: [rcpthosts, morercpthosts]`,
    });
    try {
      const smtp = await openTransaction(gw.port);
      assert.equal((await smtp.command('RCPT TO:<x@files.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<x@a.more.test>')).code, 250);
      assert.equal((await smtp.command('RCPT TO:<x@later.test>')).code, 554);
      writeFileSync(join(dir, 'rcpthosts'), 'files.test\nlater.test\n');
      gw.process.kill('SIGHUP');
      await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.changed));
      assert.equal((await smtp.command('RCPT TO:<x@later.test>')).code, 554, 'the open session keeps the list it started with');
      const fresh = await openTransaction(gw.port, 'a@example.test', 'x@later.test');
      fresh.close();
      // A file that vanished on reload: the old list stays in force.
      unlinkSync(join(dir, 'rcpthosts'));
      gw.process.kill('SIGHUP');
      await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.problems));
      const kept = await openTransaction(gw.port, 'a@example.test', 'y@later.test');
      kept.close();
      smtp.close();
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});
