/*
 * The shared grant store: one PostgreSQL table that several gateways use, so
 * a POP3 login on one lets the client relay through all. A grant is upserted
 * (the later end wins) and announced with NOTIFY; every node LISTENs and also
 * re-reads the live grants every second, so a lost notification or a dropped
 * connection delays a grant by a second at most. RCPT asks the node's copy in
 * memory, never the database. Expired rows are deleted by whichever node
 * sweeps first: no cron job. While the database is down, grants made on this
 * node still count here, and the poll keeps trying to reconnect.
 */
import pg from 'pg';
import type { Logger } from '../../core/plugin-api/index.js';
import { type GrantStore, GrantTable, parseGrant, type RelayGrant } from './store.js';

const POLL_MS = 1_000;

export interface PostgresGrantStore extends GrantStore {
  /** Drops (and reports) expired grants here and in the table. */
  sweep(now: number): Promise<void>;
}

export async function openPostgresStore(
  url: string,
  table: string,
  log: Logger,
  onExpired: (expired: readonly RelayGrant[]) => void,
): Promise<PostgresGrantStore> {
  // The table name is checked by the options' pattern ([a-z_][a-z0-9_]*): safe to put in SQL as it is.
  const grants = new GrantTable();
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000 });
  pool.on('error', (err) => log.warn({ err, event: 'relay-ctrl' }, 'PostgreSQL connection lost; retrying'));
  let listener: pg.Client | undefined;
  let ready = false;
  let closed = false;
  let polling = false;

  const prepare = async () => {
    try {
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${table} (address text PRIMARY KEY, granted_at bigint NOT NULL, until bigint NOT NULL, granted_by text NOT NULL)`,
      );
    } catch (err) {
      // Two nodes creating it at once: one of them gets a unique violation on the catalog.
      if (!['23505', '42P07'].includes((err as { code?: string }).code ?? '')) throw err;
    }
    ready = true;
  };

  const listen = async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('error', (err) => {
      log.warn({ err, event: 'relay-ctrl' }, 'PostgreSQL LISTEN connection lost; polling until it is back');
      if (listener === client) listener = undefined;
      client.end().catch(() => undefined);
    });
    client.on('notification', (message) => {
      const grant = message.payload ? parseGrant(message.payload) : undefined;
      if (grant) grants.put(grant);
    });
    await client.connect();
    await client.query(`LISTEN ${table}`);
    listener = client;
  };

  const poll = async () => {
    if (polling || closed) return;
    polling = true;
    try {
      if (!ready) await prepare();
      if (!listener) await listen();
      const { rows } = await pool.query<{ address: string; granted_at: string; until: string; granted_by: string }>(
        `SELECT address, granted_at, until, granted_by FROM ${table} WHERE until > $1`,
        [Date.now()],
      );
      for (const r of rows)
        grants.put({ address: r.address, at: Number(r.granted_at), until: Number(r.until), by: r.granted_by });
    } catch (err) {
      log.warn({ err, event: 'relay-ctrl' }, 'cannot read the relay grants from PostgreSQL; retrying');
    } finally {
      polling = false;
    }
  };

  await poll();
  const timer = setInterval(() => void poll(), POLL_MS);
  timer.unref();

  return {
    lookup: (address, now) => grants.lookup(address, now),
    async grant(grant) {
      // Here at once, whatever the database says: this node's client relays as promised.
      grants.put(grant);
      await pool.query(
        `INSERT INTO ${table} (address, granted_at, until, granted_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (address) DO UPDATE SET granted_at = EXCLUDED.granted_at, until = EXCLUDED.until, granted_by = EXCLUDED.granted_by
         WHERE ${table}.until < EXCLUDED.until`,
        [grant.address, grant.at, grant.until, grant.by],
      );
      await pool.query('SELECT pg_notify($1, $2)', [table, JSON.stringify(grant)]);
    },
    async sweep(now) {
      onExpired(grants.sweep(now));
      if (!ready) return;
      await pool.query(`DELETE FROM ${table} WHERE until <= $1`, [now]).catch((err: unknown) => {
        log.warn({ err, event: 'relay-ctrl' }, 'cannot delete expired relay grants from PostgreSQL');
      });
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await listener?.end().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
