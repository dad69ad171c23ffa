/*
 * Exactly-once local delivery across crashes: 200 messages to two local
 * mailboxes, queued by Python's smtplib, then delivered by a gateway killed
 * with SIGKILL at a random moment of its deliveries, restarted and killed
 * again, 10 times. After a last restart has drained the queue, every message
 * is in each Maildir exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { smtplibSend } from '../harness/clients.js';
import { maildirFiles } from '../harness/delivery.js';
import { startGateway } from '../harness/gateway.js';
import { queuedIds } from '../harness/queue.js';

const ROUNDS = 10;
const MESSAGES = 200;
const MAILBOXES = ['alice', 'bob'];

/** Message number -> how many copies, from the Message-ID <N@client.test> of each file in new/ and cur/. */
function copies(mail: string, user: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const file of [...maildirFiles(mail, 'example.test', user, 'new'), ...maildirFiles(mail, 'example.test', user, 'cur')]) {
    const m = /^Message-ID: <(\d+)@client\.test>$/m.exec(readFileSync(file, 'latin1'));
    assert.ok(m, `${file} is not one of ours`);
    const n = Number(m[1]);
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return counts;
}

describe('SIGKILL during local delivery', () => {
  it(`${ROUNDS} kills at random moments while ${MESSAGES} messages are delivered: none lost, none delivered twice`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgate-localcrash-'));
    const mail = join(dir, 'mail');
    const delivery = `
  local_domains: [example.test]
  maildir_root: ./mail
  create_mailboxes: true`;
    const kills: number[] = [];
    try {
      // Queued first, with delivery off, so that every kill lands among deliveries.
      const intake = await startGateway({ dir, listener: { max_connections_per_ip: 100 }, delivery: '\n  enabled: false' });
      let acknowledged: Set<number>;
      try {
        const load = smtplibSend(intake.port, {
          count: MESSAGES,
          threads: 8,
          size: 40_000,
          to: MAILBOXES.map((u) => `${u}@example.test`),
        });
        acknowledged = new Set((await load.done).filter((r) => r.code === 250).map((r) => r.n));
      } finally {
        await intake.stop();
      }
      assert.equal(acknowledged.size, MESSAGES, 'every message was queued');

      for (let round = 0; round < ROUNDS; round++) {
        const gw = await startGateway({ dir, delivery });
        try {
          // A random moment among this run's deliveries: after 1 to 40 of them.
          const after = 1 + Math.floor(Math.random() * 40);
          kills.push(after);
          await gw.waitForLog(() => gw.logs.filter((l) => l.event === 'delivery').length >= after, 20_000).catch(() => undefined);
        } finally {
          await gw.kill();
        }
      }
      const last = await startGateway({ dir, delivery });
      try {
        const deadline = Date.now() + 30_000;
        while (queuedIds(last.queueDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(queuedIds(last.queueDir), [], 'the queue drains after the last restart');
      } finally {
        await last.stop();
      }
      const when = `killed after ${kills.join(', ')} deliveries`;
      for (const user of MAILBOXES) {
        const counts = copies(mail, user);
        const lost = [...acknowledged].filter((n) => !counts.has(n));
        const twice = [...counts].filter(([, c]) => c > 1).map(([n, c]) => `${n} (${c} copies)`);
        assert.deepEqual(lost, [], `acknowledged but never delivered to ${user}; ${when}`);
        assert.deepEqual(twice, [], `delivered to ${user} more than once; ${when}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
