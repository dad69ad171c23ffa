/*
 * The durable queue: every message that got a 250 survives a SIGKILL of the
 * gateway, intact; recovery removes partial files and nothing else; a full
 * disk gives 452 4.3.1 and leaves nothing half-written; the queue commands
 * show what is queued.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { smtplibSend } from '../harness/clients.js';
import { deliveryLines, maildirFiles, waitDone } from '../harness/delivery.js';
import { QGATE, run, runCli, startGateway, writeConfig } from '../harness/gateway.js';
import { queuedIds, readQueued, stateFile, tmpFiles, writeQueued } from '../harness/queue.js';
import { openTransaction } from '../harness/smtp.js';

describe('durable queue', () => {
  // Both ways of making a commit durable (the one the tests' file system gets by default is logged).
  for (const commitSync of ['directory', 'file'] as const) {
    it(`keeps every acknowledged message across a SIGKILL mid-load (commit_sync ${commitSync})`, async () => {
      const gw = await startGateway({ listener: { max_connections_per_ip: 100 }, queue: { commit_sync: commitSync } });
      try {
        const opened = await gw.waitForLog((l) => l.event === 'queue' && l.msg === 'queue opened');
        assert.equal(opened.commitSync, commitSync);
        const load = smtplibSend(gw.port, { count: 600, threads: 16, size: 20_000 });
        await load.answered(150);
        await gw.kill();
        await load.done;
        const acked = load.results.filter((r) => r.code === 250);
        assert.ok(acked.length >= 150, `only ${acked.length} acknowledged`);
        assert.ok(
          load.results.some((r) => r.error),
          'the kill interrupted some sessions',
        );

        // Leave debris like a crash would: a partial spool and an envelope-less message.
        writeFileSync(join(gw.queueDir, 'tmp', 'PARTIAL00000001.msg'), 'Subject: half');
        writeFileSync(join(gw.queueDir, 'messages', 'DAMAGED00000001.msg'), 'Subject: no envelope');

        const again = await startGateway({ dir: gw.dir });
        try {
          const recovered = await again.waitForLog((l) => l.event === 'queue');
          assert.ok((recovered.removed as string[]).includes('tmp/PARTIAL00000001.msg'));
          const damaged = await again.waitForLog((l) => l.event === 'queue' && Array.isArray(l.corrupt));
          assert.deepEqual(damaged.corrupt, ['messages/DAMAGED00000001.msg']);
          assert.ok(existsSync(join(again.queueDir, 'corrupt', 'DAMAGED00000001.msg')), 'set aside, not deleted');
          assert.deepEqual(tmpFiles(again.queueDir), []);
          const ids = new Set(queuedIds(again.queueDir));
          assert.equal(recovered.messages, ids.size);
          for (const r of acked) {
            assert.ok(ids.has(r.id!), `acknowledged message ${r.id} is missing after the crash`);
            const stored = readQueued(again.queueDir, r.id!);
            assert.equal(createHash('sha256').update(stored.content).digest('hex'), r.sha256, `message ${r.id} is damaged`);
          }
          // Whatever else is there is complete too (acknowledged in the kill window, reply lost).
          for (const id of ids) assert.ok(readQueued(again.queueDir, id).envelope.recipients.length === 1);
        } finally {
          await again.stop();
        }
      } finally {
        await gw.kill();
        gw.cleanup();
      }
    });
  }

  it('queue list, stat and show describe what is queued', async () => {
    const gw = await startGateway();
    try {
      const smtp = await openTransaction(gw.port, 'from@example.test', 'to@example.test');
      await smtp.command('DATA');
      smtp.write('Subject: listed\r\nFrom: from@example.test\r\n\r\nbody\r\n.\r\n');
      const id = /queued as (\w+)/.exec((await smtp.reply()).text)![1]!;
      smtp.close();
      const list = await runCli(['queue', 'list', '--config', gw.configFile]);
      assert.equal(list.code, 0);
      assert.match(
        list.stdout,
        new RegExp(`^${id}  \\S+  \\d+ octets  from <from@example\\.test>\\n    to <to@example\\.test>  pending, 0 attempts\\n$`),
      );
      // A reader that is gone before the list is written (`| head` that has its lines): no error.
      const closed = await run('bash', [
        '-c',
        `"${process.execPath}" "${QGATE}" queue list --config "${gw.configFile}" | true; echo "exit \${PIPESTATUS[0]}"`,
      ]);
      assert.equal(closed.stdout, 'exit 0\n', closed.stderr);
      assert.equal(closed.stderr, '');
      const json = await runCli(['queue', 'list', '--json', '--config', gw.configFile]);
      const listed = JSON.parse(json.stdout) as { id: string }[];
      assert.deepEqual(
        listed.map((m) => m.id),
        [id],
      );
      const stat = await runCli(['queue', 'stat', '--config', gw.configFile]);
      assert.match(stat.stdout, /^messages in queue: 1\nbytes in queue: \d+\noldest message: \S+\n$/);
      const show = await runCli(['queue', 'show', id, '--config', gw.configFile]);
      assert.equal(show.code, 0);
      assert.match(show.stdout, new RegExp(`^id: ${id}\\n`));
      assert.match(show.stdout, /\nsender: <from@example\.test>\nrecipient: <to@example\.test> {2}pending, 0 attempts\n/);
      assert.match(show.stdout, /\nReceived: from client\.test/);
      assert.match(show.stdout, /\nSubject: listed\n/);
      assert.doesNotMatch(show.stdout, /\nbody\n/, 'show prints headers only');
      const body = await runCli(['queue', 'show', id, '--body', '--config', gw.configFile]);
      assert.match(body.stdout, /\nbody\n$/);
      const missing = await runCli(['queue', 'show', 'NOSUCHMESSAGE00', '--config', gw.configFile]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no message NOSUCHMESSAGE00 in the queue/);
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('refuses to share a queue with another running gateway, naming the pid that holds it', async () => {
    const gw = await startGateway();
    try {
      const second = await runCli(['start', '--config', gw.configFile], gw.dir);
      assert.equal(second.code, 1);
      assert.equal(second.stderr, `qgate: queue ${gw.queueDir} is in use by the gateway with pid ${gw.process.pid}\n`);
      assert.equal(readFileSync(join(gw.queueDir, 'gateway.lock'), 'latin1'), `${gw.process.pid}\n`);
      // qgate queue finds the gateway by its lock and has it do the work through its admin API.
      const flush = await runCli(['queue', 'flush', '--config', gw.configFile]);
      assert.equal(flush.code, 0, flush.stderr);
      assert.match(flush.stdout, new RegExp(`by the gateway \\(pid ${gw.process.pid}\\)`));
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });

  it('a listener that cannot bind names itself and its address', async () => {
    const gw = await startGateway();
    const dir = mkdtempSync(join(tmpdir(), 'qgate-port-'));
    try {
      writeFileSync(
        join(dir, 'config.yaml'),
        `queue: { path: ./queue }\nlisteners:\n  - { name: clash, port: ${gw.port}, pipeline: p }\npipelines:\n  p: { plugins: [] }\n`,
      );
      const r = await runCli(['start', '--config', 'config.yaml'], dir);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `qgate: listener clash: cannot listen on 127.0.0.1:${gw.port}: the address is already in use\n`);
    } finally {
      await gw.stop();
      gw.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const isRoot = process.getuid?.() === 0;
  // tmpfs gets the directory fsync, ext4 (a small image on a loop device) the one-flush commit.
  const smallDisks = [
    { fileSystem: 'tmpfs', commitSync: 'directory' },
    { fileSystem: 'ext4', commitSync: 'file' },
  ];
  for (const { fileSystem, commitSync } of smallDisks) {
    it(`a full disk gives 452 4.3.1, nothing half-written, and the next small message is fine (${fileSystem})`, {
      skip: !isRoot && 'needs root to mount a small file system',
    }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qgate-full-'));
      const mount = join(dir, 'queue');
      mkdirSync(mount);
      if (fileSystem === 'tmpfs') execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
      else {
        const image = join(dir, 'queue.img');
        execFileSync('truncate', ['-s', '3M', image]);
        execFileSync('mkfs.ext4', ['-q', '-F', image]);
        execFileSync('mount', ['-o', 'loop', image, mount]);
      }
      try {
        const gw = await startGateway({ dir });
        try {
          const opened = await gw.waitForLog((l) => l.event === 'queue' && l.msg === 'queue opened');
          assert.deepEqual([opened.fileSystem, opened.commitSync], [fileSystem, commitSync]);
          const smtp = await openTransaction(gw.port);
          await smtp.command('DATA');
          smtp.write(`Subject: huge\r\n\r\n${`${'z'.repeat(78)}\r\n`.repeat(40_000)}.\r\n`);
          assert.match((await smtp.reply(20_000)).text, /^452 4\.3\.1 Error: insufficient system storage$/);
          assert.deepEqual(tmpFiles(gw.queueDir), []);
          assert.deepEqual(queuedIds(gw.queueDir), []);
          await smtp.command('MAIL FROM:<a@example.test>');
          await smtp.command('RCPT TO:<b@example.test>');
          await smtp.command('DATA');
          smtp.write('Subject: small\r\n\r\nfits\r\n.\r\n');
          assert.match((await smtp.reply()).text, /^250 2\.0\.0 Ok: queued as/);
          smtp.close();
          await gw.waitForLog((l) => l.level === 'error' && /check the queue disk/.test(l.msg));
        } finally {
          await gw.stop();
        }
      } finally {
        execFileSync('umount', [mount]);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('a queue disk with no space left', () => {
  const isRoot = process.getuid?.() === 0;
  it('the gateway starts anyway, says what to do, and delivers the queue, which frees space', {
    skip: !isRoot && 'needs root to mount a small tmpfs',
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-fullstart-'));
    const queue = join(dir, 'queue');
    mkdirSync(queue);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', queue]);
    try {
      // Three messages queued while delivery is off, then a clean stop.
      const first = await startGateway({ dir });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const smtp = await openTransaction(first.port, 'a@example.org', `user${i}@example.test`);
        await smtp.command('DATA');
        smtp.write(`Subject: ${i}\r\n\r\n${`${'q'.repeat(78)}\r\n`.repeat(1000)}.\r\n`);
        ids.push(/queued as (\w+)/.exec((await smtp.reply()).text)![1]!);
        smtp.close();
      }
      assert.equal(await first.stop(), 0);
      // Fill the disk to the last byte.
      spawnSync('dd', ['if=/dev/zero', `of=${join(queue, 'filler')}`, 'bs=4096'], { stdio: 'ignore' });
      assert.equal(statfsSync(queue).bavail, 0, 'the queue disk is full');

      const gw = await startGateway({
        dir,
        delivery: '\n  local_domains: [example.test]\n  maildir_root: ./mail\n  create_mailboxes: true',
      });
      try {
        const warning = await gw.waitForLog((l) => l.level === 'warn' && l.event === 'queue');
        assert.match(warning.msg, /^queue disk full: .*free space on the queue disk/);
        for (const id of ids) await gw.waitForLog((l) => l.event === 'done' && l.queueId === id && l.delivered === 1);
        for (let i = 0; i < 3; i++) {
          assert.equal(readdirSync(join(dir, 'mail', 'example.test', `user${i}`, 'Maildir', 'new')).length, 1);
        }
        assert.deepEqual(queuedIds(gw.queueDir), []);
        assert.ok(statfsSync(queue).bavail > 0, 'delivering the queue freed space');
        // Once there is room the pid is recorded, and qgate queue can reach the gateway again.
        await gw.waitForLog((l) => l.msg === 'pid recorded in gateway.lock', 15_000);
        assert.equal(readFileSync(join(queue, 'gateway.lock'), 'latin1'), `${gw.process.pid}\n`);
      } finally {
        await gw.stop();
      }
    } finally {
      execFileSync('umount', [queue]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the queue lock', () => {
  /** A live process that is not a gateway: what a stale pid may point at once the pid is reused. */
  const foreignProcess = () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    return { pid: child.pid!, stop: () => child.kill('SIGKILL') };
  };

  it('a stale pid that now belongs to another live process neither blocks a start nor gets signalled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-lock-'));
    const foreign = foreignProcess();
    try {
      mkdirSync(join(dir, 'queue'));
      // What a gateway killed with -9 leaves behind (gateway.pid: earlier releases).
      for (const name of ['gateway.lock', 'gateway.pid']) writeFileSync(join(dir, 'queue', name), `${foreign.pid}\n`);
      const gw = await startGateway({ dir });
      try {
        assert.equal(readFileSync(join(gw.queueDir, 'gateway.lock'), 'latin1'), `${gw.process.pid}\n`);
        assert.ok(!existsSync(join(gw.queueDir, 'gateway.pid')), 'the old pid file is gone');
      } finally {
        assert.equal(await gw.stop(), 0);
      }
      assert.ok(!existsSync(join(gw.queueDir, 'gateway.lock')), 'a clean stop removes the lock file');
      // No gateway holds the queue: qgate queue does the work itself, and signals nobody.
      writeFileSync(join(dir, 'queue', 'gateway.lock'), `${foreign.pid}\n`);
      const flush = await runCli(['queue', 'flush', '--config', gw.configFile]);
      assert.equal(flush.code, 0, flush.stderr);
      assert.match(flush.stdout, /no gateway is running/);
      assert.doesNotThrow(() => process.kill(foreign.pid, 0), 'the foreign process was not signalled');
    } finally {
      foreign.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts again at once after kill -9, every time', async () => {
    let gw = await startGateway();
    try {
      for (let i = 0; i < 5; i++) {
        await gw.kill();
        assert.ok(existsSync(join(gw.queueDir, 'gateway.lock')), 'kill -9 leaves the file; the kernel dropped the lock');
        gw = await startGateway({ dir: gw.dir });
        assert.equal(readFileSync(join(gw.queueDir, 'gateway.lock'), 'latin1'), `${gw.process.pid}\n`);
      }
    } finally {
      await gw.stop();
      gw.cleanup();
    }
  });
});

describe('a queue written by an earlier version', () => {
  it('flat entries are moved into their subdirectories at start and delivered; deferred ones keep their state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-flat-'));
    try {
      const delivery = '\n  local_domains: [example.test]\n  maildir_root: ./mail\n  create_mailboxes: true';
      const queue = join(dir, 'queue');
      const due = ['0MWT707BG0040AA', '0MWT707BG0041AB', '0MWT707BG0042AZ'];
      for (const id of due) {
        writeQueued(
          queue,
          { id, sender: 'sender@example.test', recipients: ['alice@example.test'] },
          `Subject: flat ${id}\r\n\r\nx\r\n`,
        );
      }
      // Deferred far ahead, its state flat too; and one a crash left half moved: entry in its bucket, state not.
      const deferred = '0MWT707BG0043AC';
      const halfMoved = '0MWT707BG0044AD';
      for (const id of [deferred, halfMoved]) {
        writeQueued(
          queue,
          { id, sender: 'sender@example.test', recipients: ['bob@example.test'] },
          `Subject: flat ${id}\r\n\r\nx\r\n`,
        );
        mkdirSync(join(queue, 'state'), { recursive: true });
        writeFileSync(
          join(queue, 'state', `${id}.json`),
          JSON.stringify({
            version: 2,
            id,
            recipients: [
              { address: 'bob@example.test', status: 'pending', attempts: 3, nextAttempt: '2099-01-01T00:00:00.000Z' },
            ],
          }),
        );
      }
      mkdirSync(join(queue, 'messages', 'D'));
      renameSync(join(queue, 'messages', `${halfMoved}.msg`), join(queue, 'messages', 'D', `${halfMoved}.msg`));
      // An orphan state (its message was finished and removed) goes.
      writeFileSync(join(queue, 'state', '0MWT707BG0045AE.json'), '{}');
      // An entry damaged in its bucket (a disk error): set aside by its run, not delivered.
      const damaged = '0MWT707BG0046AF';
      mkdirSync(join(queue, 'messages', 'F'));
      writeFileSync(join(queue, 'messages', 'F', `${damaged}.msg`), 'Subject: no envelope\r\n');

      // Read in place before any gateway of this version opened the queue.
      const configFile = writeConfig(dir, { delivery });
      const list = await runCli(['queue', 'list', '--json', '--config', configFile]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(
        (JSON.parse(list.stdout) as { id: string }[]).map((m) => m.id),
        [...due, deferred, halfMoved],
      );

      const gw = await startGateway({ dir, delivery });
      try {
        const opened = await gw.waitForLog((l) => l.event === 'queue');
        assert.equal(opened.messages, 6);
        assert.ok((opened.removed as string[]).includes('state/0MWT707BG0045AE.json'), 'the orphan state is removed');
        for (const id of due) await waitDone(gw, id);
        await gw.waitForLog((l) => l.level === 'error' && l.queueId === damaged && /corrupt/.test(l.msg));
        assert.ok(existsSync(join(queue, 'corrupt', `${damaged}.msg`)), 'the damaged entry is set aside, not deleted');
        assert.equal(maildirFiles(join(dir, 'mail'), 'example.test', 'alice').length, 3);
        // Nothing is left flat; the deferred messages wait in their buckets with their states.
        const flat = (sub: string) => readdirSync(join(queue, sub)).filter((n) => n.includes('.'));
        assert.deepEqual(flat('messages'), []);
        assert.deepEqual(flat('state'), []);
        for (const id of [deferred, halfMoved]) {
          assert.ok(existsSync(join(queue, 'messages', id.slice(-1), `${id}.msg`)), `${id} is in its bucket`);
          const state = JSON.parse(readFileSync(join(queue, 'state', id.slice(-1), `${id}.json`), 'utf8'));
          assert.equal(state.recipients[0].attempts, 3, `${id} keeps its state`);
        }
        assert.deepEqual(deliveryLines(gw, deferred), [], 'a deferred message is not tried before its time');
        const show = await runCli(['queue', 'show', halfMoved, '--json', '--config', configFile]);
        assert.equal(JSON.parse(show.stdout).state.recipients[0].attempts, 3);
      } finally {
        await gw.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is listed, bounced without a gateway, and its bounce reports each recipient from the reply it had', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-upgrade-'));
    try {
      const delivery = '\n  local_domains: [example.test]\n  maildir_root: ./mail\n  create_mailboxes: true';
      const configFile = writeConfig(dir, { delivery });
      const queue = join(dir, 'queue');
      const id = '0MWT707BG0038AI';
      writeQueued(
        queue,
        { id, sender: 'sender@example.test', recipients: ['far@remote.test', 'gone@remote.test'] },
        'Subject: from an earlier version\r\n\r\nbody\r\n',
      );
      // A version 1 state file: the last reply as one string, the host beside it.
      mkdirSync(join(queue, 'state'));
      writeFileSync(
        join(queue, 'state', `${id}.json`),
        JSON.stringify({
          version: 1,
          id,
          recipients: [
            {
              address: 'far@remote.test',
              status: 'pending',
              attempts: 2,
              nextAttempt: '2099-01-01T00:00:00.000Z',
              lastReply: '451 4.4.1 no host accepted an SMTP connection',
            },
            {
              address: 'gone@remote.test',
              status: 'failed',
              attempts: 1,
              lastReply: '550 5.1.1 <gone@remote.test>: User unknown',
              deliveredTo: 'mx.remote.test',
            },
          ],
        }),
      );
      const list = await runCli(['queue', 'list', '--config', configFile]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(
        list.stdout,
        /to <far@remote\.test> {2}pending, 2 attempts, next \S+, last: 451 4\.4\.1 no host accepted an SMTP connection\n/,
      );
      assert.match(
        list.stdout,
        /to <gone@remote\.test> {2}failed, 1 attempt, last: 550 5\.1\.1 <gone@remote\.test>: User unknown \(mx\.remote\.test\)\n/,
      );

      const bounce = await runCli(['queue', 'bounce', id, '--config', configFile]);
      assert.equal(bounce.code, 0, bounce.stderr);
      assert.match(bounce.stdout, /no gateway is running/);
      const state = JSON.parse(readFileSync(stateFile(queue, id), 'utf8'));
      assert.equal(state.version, 2);
      assert.deepEqual(state.recipients[0].reply, { code: 550, enhanced: '5.0.0', text: 'Message bounced by the administrator' });

      const gw = await startGateway({ dir, delivery });
      try {
        const bounced = await gw.waitForLog((l) => l.event === 'bounce' && l.queueId === id);
        assert.deepEqual(bounced.recipients, ['far@remote.test', 'gone@remote.test']);
        await waitDone(gw, bounced.bounceId as string);
        const [file] = maildirFiles(join(dir, 'mail'), 'example.test', 'sender');
        const report = readFileSync(file!, 'utf8').replace(/\n(?=[ \t])/g, '');
        assert.match(
          report,
          /Final-Recipient: rfc822; far@remote\.test\nAction: failed\nStatus: 5\.0\.0\nDiagnostic-Code: smtp; 550 5\.0\.0 Message bounced by the administrator\n/,
        );
        assert.match(
          report,
          /Final-Recipient: rfc822; gone@remote\.test\nAction: failed\nStatus: 5\.1\.1\nRemote-MTA: dns; mx\.remote\.test\nDiagnostic-Code: smtp; 550 5\.1\.1 <gone@remote\.test>: User unknown\n/,
        );
        assert.deepEqual(queuedIds(gw.queueDir), []);
      } finally {
        await gw.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
