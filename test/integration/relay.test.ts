/*
 * The relay plugin in a running gateway, in front of rcpthosts: a listed
 * client may send to other domains, anyone else gets 554 5.7.1. Relay
 * permission is decided at connect, so after a SIGHUP reload of the clients
 * file new sessions follow the new list and open ones keep what they got.
 * Bad entries are configuration errors that say where they are.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Gateway, runCli, startGateway, writeConfig } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

const DENIED = '554 5.7.1 <x@elsewhere.test>: Relay access denied';

function relayPipeline(relayOptions: string): string {
  return `
      - use: relay
        with:
          ${relayOptions}
      - use: rcpthosts
        with:
          domains: [example.test]`;
}

/** Opens a session (connect decides relay permission) and starts a transaction. */
async function connectAndMail(port: number, host = '127.0.0.1'): Promise<RawSmtp> {
  const smtp = await RawSmtp.open(port, host);
  assert.equal((await smtp.reply()).code, 220);
  assert.equal((await smtp.command('EHLO client.test')).code, 250);
  assert.equal((await smtp.command('MAIL FROM:<a@example.test>')).code, 250);
  return smtp;
}

/** The reply to RCPT TO:<x@elsewhere.test> in a new session from `host`. */
async function relayAttempt(port: number, host = '127.0.0.1'): Promise<string> {
  const smtp = await connectAndMail(port, host);
  const reply = (await smtp.command('RCPT TO:<x@elsewhere.test>')).text;
  smtp.close();
  return reply;
}

async function withGateway(plugins: string, test: (gw: Gateway) => Promise<void>, dir?: string): Promise<void> {
  const gw = await startGateway({ plugins, ...(dir ? { dir } : {}) });
  try {
    await test(gw);
  } finally {
    await gw.stop();
    gw.cleanup();
  }
}

describe('relay plugin', () => {
  it('a listed client may relay to other domains', () =>
    withGateway(relayPipeline('clients: [127.0.0.1]'), async (gw) => {
      const smtp = await connectAndMail(gw.port);
      assert.equal((await smtp.command('RCPT TO:<x@example.test>')).code, 250, 'our own domain, as before');
      // Needs the core to accept a recipient no plugin accepted when session.relayAllowed is set.
      assert.equal((await smtp.command('RCPT TO:<x@elsewhere.test>')).text, '250 2.1.5 Ok');
      smtp.close();
    }));

  it('a client outside the listed networks gets 554 5.7.1 Relay access denied', () =>
    withGateway(relayPipeline('clients: [10.0.0.0/8, "2001:db8::/32"]'), async (gw) => {
      const smtp = await connectAndMail(gw.port);
      assert.equal((await smtp.command('RCPT TO:<x@example.test>')).code, 250, 'our own domain is still fine');
      assert.equal((await smtp.command('RCPT TO:<x@elsewhere.test>')).text, DENIED);
      smtp.close();
    }));

  it('IPv6 rules match IPv6 clients, IPv4 rules IPv4 clients', async () => {
    const gw = await startGateway({
      plugins: relayPipeline('clients: ["::1"]'),
      extraListeners: `
  - name: v6
    address: "::1"
    port: 0
    pipeline: inbound`,
    });
    try {
      const v6Port = (await gw.waitForLog((l) => l.event === 'listening' && l.listener === 'v6')).port as number;
      assert.equal(await relayAttempt(gw.port, '127.0.0.1'), DENIED, '127.0.0.1 is not ::1');
      assert.equal(await relayAttempt(v6Port, '::1'), '250 2.1.5 Ok');
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('re-reads its clients file on SIGHUP: new sessions see the new list, open ones keep theirs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-relay-'));
    const clientsFile = join(dir, 'relay-clients');
    writeFileSync(clientsFile, '# nobody on this host\n10.0.0.0/8\n');
    await withGateway(
      relayPipeline('files: [relay-clients]'),
      async (gw) => {
        const reloaded = async (n: number) => {
          gw.process.kill('SIGHUP');
          await gw.waitForLog(() => gw.logs.filter((l) => l.event === 'reload' && Array.isArray(l.changed)).length >= n);
        };
        const before = await connectAndMail(gw.port);
        assert.equal((await before.command('RCPT TO:<x@elsewhere.test>')).text, DENIED);

        writeFileSync(clientsFile, '10.0.0.0/8\n127.0.0.0/8 # this host\n');
        await reloaded(1);
        assert.equal(await relayAttempt(gw.port), '250 2.1.5 Ok', 'a new session is allowed');
        assert.equal(
          (await before.command('RCPT TO:<y@elsewhere.test>')).text,
          '554 5.7.1 <y@elsewhere.test>: Relay access denied',
          'the session opened before the reload keeps what it was given at connect',
        );
        before.close();

        const allowed = await connectAndMail(gw.port);
        writeFileSync(clientsFile, '10.0.0.0/8\n');
        await reloaded(2);
        assert.equal(await relayAttempt(gw.port), DENIED, 'a new session is refused again');
        assert.equal((await allowed.command('RCPT TO:<x@elsewhere.test>')).text, '250 2.1.5 Ok', 'the open one still may');
        allowed.close();

        // A broken file: the error names file and line, the previous list stays in force.
        writeFileSync(clientsFile, '127.0.0.1\n# typo below\n127.0.0.0/33\n');
        gw.process.kill('SIGHUP');
        const failed = await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.problems));
        assert.match(
          String((failed.problems as string[])[0]),
          /plugins\[0\]\.with\.files\[0\]: .*relay-clients:3: "127\.0\.0\.0\/33" is not an IPv4 or IPv6 address or CIDR network/,
        );
        assert.equal(await relayAttempt(gw.port), DENIED, 'still the 10.0.0.0/8 list');
      },
      dir,
    );
  });

  it('a bad entry is a configuration error naming the YAML key or file:line', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'qgate-relay-config-')));
    try {
      writeFileSync(join(dir, 'relay-clients'), '127.0.0.1\n\n10.0.0.0/40\n');
      const inFile = writeConfig(dir, { plugins: relayPipeline('files: [relay-clients]') });
      const fileError = await runCli(['check', 'config', '--config', inFile], dir);
      assert.equal(fileError.code, 78, fileError.stderr);
      assert.match(
        fileError.stderr,
        /plugins\[0\]\.with\.files\[0\]: .*relay-clients:3: "10\.0\.0\.0\/40" is not an IPv4 or IPv6 address or CIDR network/,
      );

      const inYaml = writeConfig(dir, { plugins: relayPipeline('clients: [127.0.0.1, 10.0.0.0/40]') });
      const yamlError = await runCli(['check', 'config', '--config', inYaml], dir);
      assert.equal(yamlError.code, 78, yamlError.stderr);
      assert.match(
        yamlError.stderr,
        /plugins\[0\]\.with\.clients\[1\]: expected an IPv4 or IPv6 address or CIDR network \(192\.0\.2\.1, 10\.0\.0\.0\/8, 2001:db8::\/32\), got "10\.0\.0\.0\/40"/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
