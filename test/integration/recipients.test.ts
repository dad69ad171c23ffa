/*
 * Recipient validation at RCPT, end to end with Python's smtplib: unknown
 * users in local domains get 550 and no bounce is ever queued for them;
 * aliases, extensions, postmaster, existing Maildirs and directory users are
 * accepted, and delivered where the same resolution leads; a directory that
 * is down or hangs gives 451; local parts that cannot be a mailbox name get
 * 553 whatever create_mailboxes says; a relay route's recipient list (a file
 * re-read on SIGHUP, or the directory) is enforced; and configuration
 * mistakes stop start-up with file:line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, QGATE, REPO, run, startGateway, writeConfig } from '../harness/gateway.js';
import { type Peer, startPeer, storedMessages } from '../harness/peer.js';
import { queuedIds } from '../harness/queue.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'plugins');
const PROBE = join(REPO, 'test', 'clients', 'rcpt_probe.py');

interface ProbeResult {
  readonly rcpt: { address: string; code: number; text: string }[];
  readonly data: { code: number; text: string } | null;
  readonly closed: boolean;
}

/** One transaction with smtplib: MAIL, a RCPT per address, DATA if `data` is given. */
async function probe(port: number, recipients: readonly string[], data?: string): Promise<ProbeResult> {
  const args = [PROBE, '--port', String(port), '--from', 'sender@example.org'];
  if (data !== undefined) args.push('--data', data);
  const r = await run('python3', [...args, '--', ...recipients]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ProbeResult;
}

/** "code text" of each RCPT reply, by address. */
async function rcptReplies(port: number, recipients: readonly string[]): Promise<Record<string, string>> {
  const result = await probe(port, recipients);
  return Object.fromEntries(result.rcpt.map((r) => [r.address, `${r.code} ${r.text}`]));
}

function codes(replies: Record<string, string>): Record<string, number> {
  return Object.fromEntries(Object.entries(replies).map(([a, line]) => [a, Number(line.slice(0, 3))]));
}

function queueIdOf(result: ProbeResult): string {
  assert.equal(result.data?.code, 250, JSON.stringify(result));
  return /queued as (\w+)/.exec(result.data!.text)![1]!;
}

function newFiles(maildir: string): string[] {
  const dir = join(maildir, 'new');
  return existsSync(dir) ? readdirSync(dir).map((n) => join(dir, n)) : [];
}

function makeMaildir(path: string): void {
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(path, sub), { recursive: true });
}

const UNKNOWN = (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in local recipient table`;
const UNKNOWN_RELAY = (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in relay recipient table`;
const BAD_NAME = (a: string) => `553 5.1.3 <${a}>: Recipient address rejected: Not a valid mailbox name`;
const LOOKUP_FAILED = (a: string) => `451 4.3.0 <${a}>: Temporary lookup failure`;

describe('recipients in local domains', () => {
  let gw: Gateway;
  let dir: string;
  let alice: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgate-rcpt-local-'));
    alice = join(dir, 'mail', 'example.test', 'alice', 'Maildir');
    makeMaildir(alice);
    makeMaildir(join(dir, 'mail', 'dir.test', 'eve', 'Maildir'));
    writeFileSync(
      join(dir, 'aliases.yaml'),
      [
        'info: alice',
        'team: [alice, carol@example.net]',
        'outside: friend@example.net',
        'mixed: [ghost, alice]',
        'ghosts: [ghost1, ghost2]',
        'ping: pong',
        'pong: ping',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'users.yaml'),
      `domains: [dir.test]\nusers:\n  dora@example.test: { mailbox: ${JSON.stringify(join(dir, 'boxes', 'dora'))} }\n` +
        `  fred@dir.test: { mailbox: ${JSON.stringify(join(dir, 'boxes', 'fred'))} }\n`,
    );
    gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test, dir.test]`,
      extraListeners: `
  - name: relay
    address: 127.0.0.1
    port: 0
    pipeline: trusted`,
      extraPipelines: `
  trusted:
    plugins:
      - use: relay
        with: { clients: [127.0.0.1] }
  delivery:
    plugins:
      - use: file-users
        with: { file: users.yaml }`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test, dir.test]
  maildir_root: ./mail
  aliases: aliases.yaml
  postmaster: alice@example.test
  routes:
    - { domain: example.net, host: 127.0.0.1, port: 9, tls: none }
  retry_base_remote: 1h`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('a message to an unknown user next to a known one: 550 for the unknown, the known one delivered, no bounce', async () => {
    const result = await probe(
      gw.port,
      ['alice@example.test', 'nobody@example.test'],
      'Subject: next to an unknown\r\n\r\nhello\r\n',
    );
    assert.deepEqual(
      result.rcpt.map((r) => `${r.code} ${r.text}`),
      ['250 2.1.5 Ok', UNKNOWN('nobody@example.test')],
    );
    const id = queueIdOf(result);
    await gw.waitForLog((l) => l.event === 'done' && l.queueId === id, 20_000);
    const delivered = newFiles(alice).filter((f) => readFileSync(f, 'utf8').includes('Subject: next to an unknown'));
    assert.equal(delivered.length, 1);
    assert.ok(!gw.logs.some((l) => l.event === 'bounce'), 'no bounce was queued');
    assert.deepEqual(queuedIds(gw.queueDir), []);

    const line = await gw.waitForLog((l) => l.event === 'message' && l.queueId === id);
    assert.deepEqual(line.refused, [{ address: 'nobody@example.test', code: 550 }]);
    const core = (line.decisions as { plugin: string; action: string; reason?: string; code?: number }[]).filter(
      (d) => d.plugin === 'core',
    );
    assert.deepEqual(
      core.map((d) => [d.action, d.reason, d.code]),
      [
        ['accept', 'local recipient: alice@example.test', undefined],
        ['reject', 'no such user: nobody@example.test', 550],
      ],
    );
  });

  it('accepts users, extensions, aliases, postmaster and abuse, directory users and <postmaster>', async () => {
    const accepted = [
      'alice@example.test', // an existing Maildir
      'alice-news@example.test', // extension, qmail style
      'alice+tag@example.test', // extension, Postfix style
      'info@example.test', // alias to a user
      'team@example.test', // alias to a user and an address elsewhere
      'outside@example.test', // alias to an address elsewhere only
      'mixed@example.test', // alias with one deliverable target of two
      'postmaster@example.test',
      'abuse@example.test',
      'dora@example.test', // known to the directory, Maildir elsewhere and not made yet
      'fred@dir.test', // a domain the directory is the authority for
      'postmaster', // RFC 5321 4.5.1
    ];
    const replies = await rcptReplies(gw.port, accepted);
    assert.deepEqual(codes(replies), Object.fromEntries(accepted.map((a) => [a, 250])), JSON.stringify(replies, null, 1));
  });

  it('an extension of a directory user is accepted at RCPT and delivered to the Maildir the directory names', async () => {
    // Neither user has a Maildir under maildir_root: RCPT and delivery must both find them in the directory.
    const result = await probe(
      gw.port,
      ['dora-news@example.test', 'fred+tag@dir.test'],
      'Subject: extension of a directory user\r\n\r\nx\r\n',
    );
    assert.deepEqual(
      result.rcpt.map((r) => r.code),
      [250, 250],
    );
    const id = queueIdOf(result);
    const done = await gw.waitForLog((l) => l.event === 'done' && l.queueId === id, 20_000);
    assert.deepEqual([done.delivered, done.failed], [2, 0]);
    for (const user of ['dora@example.test', 'fred@dir.test']) {
      const box = join(dir, 'boxes', user.slice(0, user.indexOf('@')));
      const copies = newFiles(box).filter((f) => readFileSync(f, 'utf8').includes('Subject: extension of a directory user'));
      assert.equal(copies.length, 1, `one copy in ${box}`);
      assert.match(readFileSync(copies[0]!, 'utf8'), new RegExp(`^Delivered-To: ${user}$`, 'm'));
    }
    assert.ok(!existsSync(join(dir, 'mail', 'example.test', 'dora')), 'nothing under maildir_root');
    assert.ok(!gw.logs.some((l) => l.event === 'bounce' && l.queueId === id), 'no bounce');
  });

  it('refuses unknown users, aliases with no deliverable target, and alias loops', async () => {
    const replies = await rcptReplies(gw.port, [
      'nobody@example.test',
      'nobody-news@example.test',
      'ghosts@example.test',
      'ping@example.test',
      'eve@dir.test',
      'zed@dir.test',
    ]);
    assert.deepEqual(replies, {
      'nobody@example.test': UNKNOWN('nobody@example.test'),
      'nobody-news@example.test': UNKNOWN('nobody-news@example.test'),
      'ghosts@example.test': UNKNOWN('ghosts@example.test'),
      'ping@example.test': '550 5.4.6 <ping@example.test>: Recipient address rejected: Alias loop',
      // The directory is the authority for dir.test: its "no" wins over an existing Maildir, as in delivery.
      'eve@dir.test': UNKNOWN('eve@dir.test'),
      'zed@dir.test': UNKNOWN('zed@dir.test'),
    });
  });

  it('refuses local parts that cannot be a mailbox name with 553, and creates nothing', async () => {
    const replies = await rcptReplies(gw.port, [
      'a/b@example.test',
      '"a/b"@example.test',
      '"."@example.test',
      '".."@example.test',
      '".hidden"@example.test',
      '""@example.test',
      '..@example.test',
      '.hidden@example.test',
    ]);
    assert.deepEqual(replies, {
      'a/b@example.test': BAD_NAME('a/b@example.test'),
      '"a/b"@example.test': BAD_NAME('"a/b"@example.test'),
      '"."@example.test': BAD_NAME('"."@example.test'),
      '".."@example.test': BAD_NAME('".."@example.test'),
      '".hidden"@example.test': BAD_NAME('".hidden"@example.test'),
      '""@example.test': BAD_NAME('""@example.test'),
      // Not a dot-atom (RFC 5321 4.1.2): the parser refuses these before any check.
      '..@example.test': '501 5.1.3 Bad recipient address syntax',
      '.hidden@example.test': '501 5.1.3 Bad recipient address syntax',
    });
    assert.deepEqual(readdirSync(join(dir, 'mail', 'example.test')), ['alice']);
  });

  it('checks recipients of a client that may relay too; other domains stay its business', async () => {
    const replies = await rcptReplies(await gw.portOf('relay'), [
      'nobody@example.test',
      'alice@example.test',
      'x@elsewhere.test',
    ]);
    assert.deepEqual(codes(replies), { 'nobody@example.test': 550, 'alice@example.test': 250, 'x@elsewhere.test': 250 });
  });

  it('ends a dictionary attack after max_errors unknown recipients', async () => {
    const guesses = Array.from({ length: 25 }, (_, i) => `guess${i}@example.test`);
    const result = await probe(gw.port, guesses);
    assert.equal(result.closed, true);
    assert.equal(result.rcpt.length, 20);
    assert.deepEqual(
      result.rcpt.map((r) => r.code),
      [...Array(19).fill(550), 421],
    );
    assert.equal(result.rcpt[19]!.text, '4.7.0 mx.qgate.test Error: too many errors');
  });
});

describe('create_mailboxes: true (the shipped default)', () => {
  it('accepts any valid local part but refuses unsafe ones: no mail bomb through a/b', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-rcpt-create-'));
    const gw = await startGateway({
      dir,
      delivery: `
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`,
    });
    try {
      const result = await probe(
        gw.port,
        ['victim@example.test', 'a/b@example.test', '"../victim"@example.test', '"."@example.test'],
        'Subject: bomb\r\n\r\nx\r\n',
      );
      assert.deepEqual(
        result.rcpt.map((r) => `${r.code} ${r.text}`),
        ['250 2.1.5 Ok', BAD_NAME('a/b@example.test'), BAD_NAME('"../victim"@example.test'), BAD_NAME('"."@example.test')],
      );
      const id = queueIdOf(result);
      await gw.waitForLog((l) => l.event === 'done' && l.queueId === id, 20_000);
      assert.deepEqual(readdirSync(join(dir, 'mail', 'example.test')), ['victim']);
      assert.equal(newFiles(join(dir, 'mail', 'example.test', 'victim', 'Maildir')).length, 1, 'one copy, once');
      assert.deepEqual(codes(await rcptReplies(gw.port, ['anyone@example.test', 'anyone-ext@example.test'])), {
        'anyone@example.test': 250,
        'anyone-ext@example.test': 250,
      });
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

describe('a directory that cannot answer', () => {
  it('is down: 451 4.3.0, for local domains and for a route that asks it, never unknown and never accept', async () => {
    const gw = await startGateway({
      plugins: `
      - use: rcpthosts
        with:
          domains: [example.test, relay.test]`,
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(FIXTURES, 'down-directory.js')}`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]
  create_mailboxes: true
  routes:
    - { domain: relay.test, host: 127.0.0.1, port: 9, tls: none, recipients: directory }`,
    });
    try {
      const replies = await rcptReplies(gw.port, ['alice@example.test', 'bob@relay.test']);
      assert.deepEqual(replies, {
        'alice@example.test': LOOKUP_FAILED('alice@example.test'),
        'bob@relay.test': LOOKUP_FAILED('bob@relay.test'),
      });
      await gw.waitForLog((l) => l.level === 'error' && /down-directory failed in lookupUser/.test(l.msg));
      const warning = await gw.waitForLog((l) => l.event === 'recipient' && l.level === 'warn');
      assert.match(String(warning.reason), /ECONNREFUSED/);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('hangs: 451 4.3.0 once its time limit is up', async () => {
    const gw = await startGateway({
      extraPipelines: `
  delivery:
    plugins:
      - use: ${join(FIXTURES, 'hung-directory.js')}
        timeout: 300ms`,
      delivery: `
  pipeline: delivery
  local_domains: [example.test]`,
    });
    try {
      const started = Date.now();
      assert.deepEqual(await rcptReplies(gw.port, ['alice@example.test']), {
        'alice@example.test': LOOKUP_FAILED('alice@example.test'),
      });
      assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

describe('recipient lists of relay routes', () => {
  let gw: Gateway;
  let peer: Peer;
  let list: string;
  before(async () => {
    peer = await startPeer('accept');
    const dir = mkdtempSync(join(tmpdir(), 'qgate-rcpt-route-'));
    list = join(dir, 'relay-recipients.txt');
    writeFileSync(list, '# the mailstore behind relay.test\nbob@relay.test\n@team.relay.test\n');
    writeFileSync(join(dir, 'users.yaml'), 'users:\n  dan@dir.relay.test: {}\n');
    const route = (domain: string, recipients?: string) =>
      `\n    - { domain: ${domain}, host: 127.0.0.1, port: ${peer.port}, tls: none${recipients ? `, recipients: ${recipients}` : ''} }`;
    gw = await startGateway({
      dir,
      plugins: `
      - use: rcpthosts
        with:
          domains: [relay.test, .relay.test, open.test]`,
      extraPipelines: `
  delivery:
    plugins:
      - use: file-users
        with: { file: users.yaml }`,
      delivery: `
  pipeline: delivery
  routes:${route('relay.test', 'relay-recipients.txt')}${route('.relay.test', 'relay-recipients.txt')}${route('dir.relay.test', 'directory')}${route('open.test')}`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
    await peer.stop();
  });

  it('accepts listed recipients and refuses the others with 550 5.1.1', async () => {
    const replies = await rcptReplies(gw.port, [
      'bob@relay.test',
      'Bob+tag@relay.test',
      'anyone@team.relay.test',
      'mallory@relay.test',
      'x@other.relay.test',
      'dan@dir.relay.test',
      'erin@dir.relay.test',
      'anyone@open.test',
    ]);
    assert.deepEqual(codes(replies), {
      'bob@relay.test': 250,
      'Bob+tag@relay.test': 250,
      'anyone@team.relay.test': 250,
      'mallory@relay.test': 550,
      'x@other.relay.test': 550,
      'dan@dir.relay.test': 250,
      'erin@dir.relay.test': 550,
      'anyone@open.test': 250,
    });
    assert.equal(replies['mallory@relay.test'], UNKNOWN_RELAY('mallory@relay.test'));
    assert.equal(replies['erin@dir.relay.test'], UNKNOWN_RELAY('erin@dir.relay.test'));
  });

  it('relays the message to the listed recipient only, and bounces nothing', async () => {
    const result = await probe(gw.port, ['bob@relay.test', 'mallory@relay.test'], 'Subject: routed\r\n\r\nx\r\n');
    assert.deepEqual(
      result.rcpt.map((r) => r.code),
      [250, 550],
    );
    const id = queueIdOf(result);
    await gw.waitForLog((l) => l.event === 'done' && l.queueId === id, 20_000);
    const stored = (await storedMessages(peer.store)).filter((m) => m.data.toString().includes('Subject: routed'));
    assert.deepEqual(
      stored.map((m) => m.rcptTos),
      [['bob@relay.test']],
    );
    assert.ok(!gw.logs.some((l) => l.event === 'bounce'));
  });

  it('re-reads the list on SIGHUP; a broken list keeps the previous one', async () => {
    const outcomes = (key: 'changed' | 'problems') => gw.logs.filter((l) => l.event === 'reload' && Array.isArray(l[key])).length;
    const before = outcomes('changed');
    writeFileSync(list, 'mallory@relay.test\n');
    gw.process.kill('SIGHUP');
    await gw.waitForLog(() => outcomes('changed') > before);
    assert.deepEqual(codes(await rcptReplies(gw.port, ['mallory@relay.test', 'bob@relay.test'])), {
      'mallory@relay.test': 250,
      'bob@relay.test': 550,
    });

    writeFileSync(list, 'mallory@relay.test\nnot an address\n');
    gw.process.kill('SIGHUP');
    const failed = await gw.waitForLog((l) => l.event === 'reload' && Array.isArray(l.problems));
    assert.match(
      String((failed.problems as string[])[0]),
      /delivery\.routes\[\d\]\.recipients: recipient list: relay-recipients\.txt:2: expected one address per line/,
    );
    assert.deepEqual(codes(await rcptReplies(gw.port, ['mallory@relay.test', 'bob@relay.test'])), {
      'mallory@relay.test': 250,
      'bob@relay.test': 550,
    });
  });
});

describe('configuration mistakes stop start-up', () => {
  /** `qgate start`, which must exit at once; killed after 15 s if it does not. */
  function start(configFile: string): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [QGATE, 'start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  }

  const cases: { why: string; delivery: string; file?: string; expected: RegExp }[] = [
    {
      why: 'a bad line in a recipient list, named by file and line',
      delivery: `
  routes:
    - { domain: relay.test, host: 127.0.0.1, recipients: list.txt }`,
      file: 'bob@relay.test\nbob@relay.test OK\n',
      expected:
        /config\.yaml:\d+:\d+ delivery\.routes\[0\]\.recipients: recipient list: list\.txt:2: expected one address per line .*, got "bob@relay\.test OK"/,
    },
    {
      why: 'a missing recipient list',
      delivery: `
  routes:
    - { domain: relay.test, host: 127.0.0.1, recipients: missing.txt }`,
      expected: /delivery\.routes\[0\]\.recipients: recipient list: ENOENT/,
    },
    {
      why: 'a recipient list on the smarthost',
      delivery: `
  routes:
    - { domain: "*", host: 127.0.0.1, recipients: list.txt }`,
      file: 'bob@relay.test\n',
      expected: /delivery\.routes\[0\]\.recipients: a recipient list needs a route for named domains, not the "\*" smarthost/,
    },
    {
      why: '"directory" without a directory',
      delivery: `
  routes:
    - { domain: relay.test, host: 127.0.0.1, recipients: directory }`,
      expected: /delivery\.routes\[0\]\.recipients: "directory" needs delivery\.pipeline with a directory plugin/,
    },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qgate-rcpt-config-'));
      try {
        if (c.file !== undefined) writeFileSync(join(dir, 'list.txt'), c.file);
        const result = await start(writeConfig(dir, { delivery: c.delivery }));
        assert.equal(result.code, 78, result.stderr);
        assert.match(result.stderr, c.expected);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
