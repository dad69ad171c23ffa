/*
 * pg-recipients with the real PostgreSQL client (pg) against a database that
 * cannot be reached: every recipient gets 451 4.3.0, never 250 and never 550,
 * the failure is logged, and shutdown closes the pool.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { testPipeline } from 'qgate/testing';
import pgRecipients from '../src/index.js';

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('pg-recipients with the database down', () => {
  it('answers 451 4.3.0 for each recipient, logs why, and closes the pool at shutdown', async () => {
    const port = await closedPort();
    const t = await testPipeline({
      plugins: [
        { plugin: pgRecipients, with: { connection: `postgres://qgate@127.0.0.1:${port}/mail`, query_timeout: '2s' } },
        { use: 'rcpthosts', with: { domains: ['example.test'] } },
      ],
    });
    try {
      const result = await t.sendMail({ from: 'a@example.org', to: ['b@example.test', 'c@example.test'] });
      assert.deepEqual(
        result.rcpt.map((r) => r.full),
        ['451 4.3.0 <b@example.test>: Temporary lookup failure', '451 4.3.0 <c@example.test>: Temporary lookup failure'],
      );
      assert.equal(result.data, undefined, 'no DATA without a recipient');
      const warning = t.logs.find((l) => l.plugin === 'pg-recipients' && l.level === 'warn');
      assert.match(String(warning?.msg), /PostgreSQL lookup failed/);
      assert.match(String(result.decisions.find((d) => d.plugin === 'pg-recipients')?.reason), /^PostgreSQL: .*ECONNREFUSED/);
    } finally {
      await t.close();
    }
  });
});
