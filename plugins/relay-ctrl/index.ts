/*
 * relay-ctrl: POP-before-SMTP (qmail's relay-ctrl). A successful POP3 login
 * (the pop3-login hook) records its client address; for `window` after it,
 * RCPT from that address may relay (session.relayAllowed, which rcpthosts
 * honours), checked at each RCPT so the window ends on time even inside a
 * session. The grants live in a store that survives restarts (a journal file)
 * or that several gateways share (PostgreSQL). Logs each grant, each session
 * that uses one, and each expiry. Put it before rcpthosts in SMTP pipelines.
 */
import { dirname, join } from 'node:path';
import { definePlugin, next, OptionError } from '../../core/plugin-api/index.js';
import { acquireFileStore, releaseFileStore } from './file-store.js';
import { RelayCtrlOptions } from './options.js';
import { openPostgresStore } from './postgres-store.js';
import type { GrantStore, RelayGrant } from './store.js';

/** How often expired grants are swept (and logged): a tenth of the window, between 1 s and 1 min. */
function sweepInterval(windowMs: number): number {
  return Math.min(60_000, Math.max(1_000, Math.floor(windowMs / 10)));
}

export default definePlugin({
  name: 'relay-ctrl',
  description: 'POP-before-SMTP: a POP3 login lets its client address relay for a while (qmail relay-ctrl).',
  options: RelayCtrlOptions,
  setup(ctx, options) {
    let file: string | undefined;
    if (options.store === 'file') {
      if (options.file) file = ctx.resolvePath(options.file);
      else if (ctx.gateway.queuePath) file = join(dirname(ctx.gateway.queuePath), 'relay-ctrl.jsonl');
      else throw new OptionError([{ path: ['file'], message: 'give the journal file (no queue directory to put it beside)' }]);
    } else if (!options.postgres_url) {
      throw new OptionError([{ path: ['postgres_url'], message: 'store: postgres needs postgres_url' }]);
    }
    let store: GrantStore | undefined;
    let sweeper: NodeJS.Timeout | undefined;
    /** The grant this session relays by, so a later RCPT past its end takes the permission back. */
    const using = ctx.note<RelayGrant>('grant');

    const logExpired = (expired: readonly RelayGrant[]) => {
      for (const g of expired) {
        ctx.log.info(
          { event: 'relay-ctrl', action: 'expired', client: g.address, by: g.by, until: new Date(g.until).toISOString() },
          `relay grant for ${g.address} expired`,
        );
      }
    };

    ctx.on('init', async () => {
      if (file) {
        const opened = await acquireFileStore(file);
        store = opened.store;
        logExpired(opened.expired);
        const fileStore = opened.store;
        sweeper = setInterval(() => logExpired(fileStore.sweep(Date.now())), sweepInterval(options.window));
      } else {
        const pg = await openPostgresStore(options.postgres_url!, options.postgres_table, ctx.log, logExpired);
        store = pg;
        sweeper = setInterval(() => void pg.sweep(Date.now()), sweepInterval(options.window));
      }
      sweeper.unref();
    });

    ctx.on('shutdown', async () => {
      if (sweeper) clearInterval(sweeper);
      if (file) await releaseFileStore(file);
      else await store?.close();
      store = undefined;
    });

    ctx.on('pop3-login', async (login) => {
      if (!login.ok || !store) return;
      const at = Date.now();
      const grant: RelayGrant = { address: login.client.address, at, until: at + options.window, by: `pop3 ${login.user}` };
      await store.grant(grant);
      ctx.log.info(
        { event: 'relay-ctrl', action: 'grant', client: grant.address, by: grant.by, until: new Date(grant.until).toISOString() },
        `${grant.address} may relay until ${new Date(grant.until).toISOString()} (POP3 login of ${login.user})`,
      );
    });

    ctx.on('relayGrant', async (request) => {
      if (!store) return undefined;
      const at = Date.now();
      const grant: RelayGrant = { address: request.address, at, until: at + request.forMs, by: request.by };
      await store.grant(grant);
      ctx.log.info(
        { event: 'relay-ctrl', action: 'grant', client: grant.address, by: grant.by, until: new Date(grant.until).toISOString() },
        `${grant.address} may relay until ${new Date(grant.until).toISOString()} (${grant.by})`,
      );
      return { until: grant.until };
    });

    ctx.on('rcpt', (session) => {
      if (!store) return next();
      const grant = store.lookup(session.remote.address, Date.now());
      const held = session.notes.get(using);
      if (grant) {
        if (!session.relayAllowed || held) {
          if (!held) {
            ctx.log.info(
              {
                event: 'relay-ctrl',
                action: 'use',
                client: grant.address,
                by: grant.by,
                until: new Date(grant.until).toISOString(),
              },
              `${grant.address} relays by its grant (${grant.by})`,
            );
          }
          session.notes.set(using, grant);
          session.relayAllowed = true;
        }
      } else if (held) {
        // The window ended inside this session: the permission this plugin gave ends with it.
        session.notes.delete(using);
        session.relayAllowed = false;
      }
      // Not accept(): rcpthosts and the recipient checks after this plugin still run.
      return next();
    });
  },
});
