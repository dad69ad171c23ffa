/*
 * The engine's side of TLS sessions, with openssl s_client as the client:
 * client-initiated renegotiation is refused (TLS 1.2; 1.3 has none) for
 * STARTTLS and implicit TLS, whether the plugin hands over a secure context
 * (starttls) or plain certificate options; `s_client -crlf` on input that
 * already ends in CRLF ("QUIT\r\r\n") is understood; and a TLS client that
 * half-closes still gets its replies.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, REPO, startGateway } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';
import { IMPLICIT_TLS_LISTENER, makeCertificate } from '../harness/tls.js';

/** A running openssl s_client, fed line by line, its output watched. */
class SClient {
  readonly child: ChildProcess;
  output = '';
  exited = false;
  private readonly waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.child = spawn('openssl', ['s_client', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (t: string) => {
      this.output += t;
      this.wake();
    };
    this.child.stdout!.setEncoding('latin1').on('data', take);
    this.child.stderr!.setEncoding('latin1').on('data', take);
    this.child.stdin!.on('error', () => undefined);
    this.child.on('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(text: string): void {
    if (!this.exited) this.child.stdin!.write(text);
  }

  /** Waits until `pattern` has matched `times` times, or the program exited, or `ms` passed; true if it matched. */
  async waitFor(pattern: RegExp, times = 1, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    const global = new RegExp(pattern.source, 'g');
    for (;;) {
      if ((this.output.match(global)?.length ?? 0) >= times) return true;
      if (this.exited || Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the program to end by itself; true if it did within `ms`. */
  async waitExit(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.exited;
  }

  stop(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/**
 * Says EHLO, then asks for a renegotiation ("R", s_client's command letter)
 * and sends NOOP, three times. Returns how many NOOPs were answered.
 */
async function renegotiateAndNoop(client: SClient): Promise<number> {
  client.write('EHLO client.test\n');
  assert.ok(await client.waitFor(/250 SMTPUTF8/), `no EHLO reply: ${client.output}`);
  let answered = 0;
  for (let i = 1; i <= 3; i++) {
    client.write('R\n');
    if (!(await client.waitFor(/RENEGOTIATING/, i))) break;
    client.write('NOOP\n');
    if (!(await client.waitFor(/250 2\.0\.0 Ok/, i, 3000))) break;
    answered++;
  }
  return answered;
}

describe('TLS sessions', () => {
  let gw: Gateway;
  let implicitPort: number;
  let filesPort: number;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-tls-session-'));
    const cert = await makeCertificate(dir, 'localhost');
    gw = await startGateway({
      dir,
      plugins: `
      - use: starttls
        with: { cert: ${cert.cert}, key: ${cert.key}, implicit_listeners: [smtps] }
      - use: rcpthosts
        with: { domains: [example.test] }`,
      extraListeners: `${IMPLICIT_TLS_LISTENER}
  - name: files
    address: 127.0.0.1
    port: 0
    pipeline: files`,
      extraPipelines: `
  files:
    plugins:
      - use: ${join(REPO, 'test', 'fixtures', 'plugins', 'tls-from-files.js')}
        with: { cert: ${cert.cert}, key: ${cert.key} }
      - use: rcpthosts
        with: { domains: [example.test] }`,
    });
    implicitPort = await gw.portOf('smtps');
    filesPort = await gw.portOf('files');
  });

  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  const cases: Array<{ why: string; args: () => string[] }> = [
    {
      why: 'after STARTTLS',
      args: () => ['-connect', `127.0.0.1:${gw.port}`, '-starttls', 'smtp'],
    },
    { why: 'on implicit TLS (a context from the starttls plugin)', args: () => ['-connect', `127.0.0.1:${implicitPort}`] },
    { why: 'on implicit TLS (plain cert and key options)', args: () => ['-connect', `127.0.0.1:${filesPort}`] },
  ];
  for (const c of cases) {
    it(`refuses client-initiated renegotiation ${c.why} (openssl s_client -tls1_2, "R")`, async () => {
      const client = new SClient(['-tls1_2', '-crlf', '-servername', 'localhost', ...c.args()]);
      try {
        const answered = await renegotiateAndNoop(client);
        assert.equal(answered, 0, `a command was answered after renegotiating:\n${client.output}`);
        assert.ok(await client.waitFor(/no renegotiation|421 4\.7\.0/), client.output);
      } finally {
        client.stop();
      }
      await gw.waitForLog((l) => l.event === 'tls' && l.msg === 'client-initiated TLS renegotiation refused; closing');
    });
  }

  it('understands "QUIT\\r\\r\\n" from openssl s_client -starttls smtp -crlf and ends the session', async () => {
    // Input that already ends in CRLF gets one more CR from -crlf, as admins paste it.
    const client = new SClient([
      '-connect',
      `127.0.0.1:${gw.port}`,
      '-starttls',
      'smtp',
      '-crlf',
      '-quiet',
      '-ign_eof',
      '-servername',
      'localhost',
    ]);
    try {
      client.write('EHLO client.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nQUIT\r\n');
      // -ign_eof: s_client ends only when the server closes, which QUIT must make it do.
      assert.ok(await client.waitFor(/221 2\.0\.0 Bye/, 1, 8000), client.output);
      assert.ok(await client.waitExit(5000), 'the server closed the session');
      // (-quiet still shows the last line of the plaintext EHLO reply, before STARTTLS.)
      const replies = client.output.split(/\r?\n/).filter((l) => /^\d{3} /.test(l));
      assert.deepEqual(replies.slice(-4), ['250 SMTPUTF8', '250 2.1.0 Ok', '250 2.1.5 Ok', '221 2.0.0 Bye'], client.output);
      assert.ok(!replies.some((l) => /^5/.test(l)), client.output);
    } finally {
      client.stop();
    }
  });

  it('answers a TLS client that half-closes after its last command', async () => {
    const smtp = await RawSmtp.openTls(implicitPort, { servername: 'localhost' });
    assert.equal((await smtp.reply()).code, 220);
    smtp.socket.end(
      'EHLO client.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: tls\r\n\r\nx\r\n.\r\nQUIT\r\n',
    );
    const codes: number[] = [];
    while (!smtp.closed || smtp.pending) {
      try {
        codes.push((await smtp.reply(5000)).code);
      } catch {
        break;
      }
    }
    assert.deepEqual(codes, [250, 250, 250, 354, 250, 221]);
  });
});
