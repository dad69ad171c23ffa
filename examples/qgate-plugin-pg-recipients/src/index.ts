/*
 * pg-recipients: refuses recipients listed in a PostgreSQL table at RCPT TO
 * (550 5.7.1), like a Postfix check_recipient_access table in SQL. The pool is
 * opened in init (not in setup: `qgate check config` runs setup and must not
 * connect) and closed in shutdown. A database that is down or slow never
 * accepts and never refuses: the recipient gets 451 4.3.0 and the client tries
 * again later. An error on an idle pooled connection is logged, never thrown.
 */
import pg from 'pg';
import { definePlugin, next, reject, tempfail } from 'qgate';
import { PgRecipientsOptions } from './options.js';

export default definePlugin({
  name: 'pg-recipients',
  description: 'Refuses recipients listed in a PostgreSQL table.',
  options: PgRecipientsOptions,
  setup(ctx, options) {
    let pool: pg.Pool | undefined;

    ctx.on('init', () => {
      pool = new pg.Pool({
        ...(options.connection ? { connectionString: options.connection } : {}),
        max: options.max_connections,
        connectionTimeoutMillis: options.query_timeout,
        query_timeout: options.query_timeout,
        application_name: 'qgate',
      });
      // Without a listener, an idle connection that the server drops would be an uncaught 'error'.
      pool.on('error', (err) => ctx.log.warn({ err }, 'idle PostgreSQL connection failed; the pool opens a new one'));
    });

    ctx.on('rcpt', async (_session, _transaction, { address }) => {
      if (!pool) return tempfail('Temporary lookup failure', 451, '4.3.0', 'pool not open');
      let rows: { reason?: unknown }[];
      try {
        ({ rows } = await pool.query<{ reason?: unknown }>(options.query, [address.address.toLowerCase()]));
      } catch (err) {
        ctx.log.warn({ err, recipient: address.address }, 'PostgreSQL lookup failed; the recipient gets 451 4.3.0');
        return tempfail(`<${address.address}>: Temporary lookup failure`, 451, '4.3.0', `PostgreSQL: ${(err as Error).message}`);
      }
      if (rows.length === 0) return next();
      const reason = typeof rows[0]!.reason === 'string' ? `: ${rows[0]!.reason}` : '';
      return reject(550, '5.7.1', `<${address.address}>: ${options.message}`, `listed in PostgreSQL${reason}`);
    });

    ctx.on('shutdown', async () => {
      await pool?.end();
      pool = undefined;
    });
  },
});
