/*
 * sql-users: a user directory in PostgreSQL (pg), for lookupUser (RCPT checks,
 * local delivery: users, aliases, catch-alls, forwards, Maildirs, quotas) and
 * authenticate (SMTP AUTH, POP3). Queries come from a preset or the YAML, always
 * with $n parameters. A database that is down or slow answers unavailable (451 at
 * RCPT, 454 at AUTH), logged once per outage; pool errors never reach the
 * process. Lookups are cached (positive and negative TTL); password checks never.
 */
import pg from 'pg';
import {
  AnswerCache,
  cacheSettings,
  definePlugin,
  OptionError,
  OutageTracker,
  type UnavailableResult,
  type UserRecord,
  unavailable,
  verifyCramMd5,
  verifyPassword,
} from '../../core/plugin-api/index.js';
import { type SqlQuery, SqlUsersOptions } from './options.js';
import { PRESETS } from './presets.js';
import {
  bind,
  mayLogIn,
  type QuestionParts,
  queryProblem,
  questionParts,
  readAliasRows,
  readUserRow,
  type UserRow,
} from './rows.js';

type QueryName = 'user' | 'alias' | 'domain';

/** SQLSTATE class 42: the statement itself is wrong (syntax, unknown table or column, no privilege). */
const STATEMENT_ERROR = /^42/;

/** A user@host:port/database description of the URL for logs, without the password. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `PostgreSQL ${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host || 'localhost'}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

export default definePlugin({
  name: 'sql-users',
  description: 'Users, aliases and password hashes from PostgreSQL (qgate, vpopmail or Dovecot layout).',
  options: SqlUsersOptions,
  setup(ctx, options) {
    if (!/^postgres(ql)?:\/\//.test(options.url)) {
      throw new OptionError(['url'], 'expected a postgres:// or postgresql:// URL');
    }
    const preset = PRESETS[options.preset];
    const queries: { user: SqlQuery; alias?: SqlQuery; domain: SqlQuery } = {
      user: options.queries.user ?? preset.user,
      domain: options.queries.domain ?? preset.domain,
      ...((options.queries.alias ?? preset.alias) && { alias: options.queries.alias ?? preset.alias }),
    };
    const problems = (Object.entries(queries) as [QueryName, SqlQuery][])
      .map(([name, q]) => ({ name, problem: queryProblem(q) }))
      .filter((p) => p.problem !== undefined);
    if (problems.length) {
      throw new OptionError(problems.map((p) => ({ path: ['queries', p.name, 'sql'], message: p.problem! })));
    }
    const policy = { plaintext: options.plaintext };
    const what = describeUrl(options.url);
    const outage = new OutageTracker(() => ctx.log, what);
    const cache = new AnswerCache<UserRecord>(cacheSettings(options.cache));

    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.max_connections,
      connectionTimeoutMillis: options.connect_timeout,
      idleTimeoutMillis: options.idle_timeout,
      // Client side: the answer must come within this; server side too, so a slow
      // query does not go on holding a connection after the gateway gave up on it.
      query_timeout: options.query_timeout,
      statement_timeout: options.query_timeout,
      application_name: 'qgate',
    });
    // An idle connection that breaks (the server restarted) is reported here; without a
    // listener it would be an uncaught 'error' event and end the process. The pool drops
    // it; the next question opens a new one and tells whether the server is back.
    pool.on('error', (err) => ctx.log.debug({ err: err.message }, `${what}: an idle connection closed`));

    /** Rows of one query, or unavailable when the database cannot answer. */
    async function rows(name: QueryName, parts: QuestionParts): Promise<Record<string, unknown>[] | UnavailableResult> {
      const query = queries[name]!;
      try {
        const result = await pool.query({ text: query.sql, values: bind(query, parts) });
        outage.succeeded();
        return result.rows as Record<string, unknown>[];
      } catch (err) {
        const reason = `${name} query: ${(err as Error).message}`;
        outage.failed(reason);
        return unavailable(reason);
      }
    }

    async function userRow(parts: QuestionParts): Promise<UserRow | undefined | UnavailableResult> {
      const found = await rows('user', parts);
      if (!Array.isArray(found)) return found;
      return found[0] === undefined ? undefined : readUserRow(found[0], parts);
    }

    /** user, else alias (or catch-all), else "no such user" in this directory's domains, else not ours. */
    async function lookup(parts: QuestionParts): Promise<UserRecord | null | undefined | UnavailableResult> {
      const user = await userRow(parts);
      if (user !== undefined) return 'record' in user ? user.record : user;
      if (queries.alias) {
        const aliasRows = await rows('alias', parts);
        if (!Array.isArray(aliasRows)) return aliasRows;
        const alias = readAliasRows(aliasRows, parts);
        if (alias) return alias;
      }
      const domain = await rows('domain', parts);
      if (!Array.isArray(domain)) return domain;
      return domain.length > 0 ? null : undefined;
    }

    ctx.on('init', async () => {
      // A query that names a column or table the database does not have would make every
      // question "unavailable": refuse to start instead. A database that is down is an outage.
      const probe = questionParts('postmaster@example.invalid')!;
      for (const [name, query] of Object.entries(queries) as [QueryName, SqlQuery][]) {
        try {
          await pool.query({ text: query.sql, values: bind(query, probe) });
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'string' && STATEMENT_ERROR.test(code)) {
            throw new Error(`sql-users: queries.${name} is refused by ${what}: ${(err as Error).message}`);
          }
          outage.failed(`${name} query: ${(err as Error).message}`);
          return;
        }
      }
    });

    ctx.on('shutdown', async () => {
      await pool.end();
    });

    ctx.on('lookupUser', async ({ address }) => {
      const parts = questionParts(address);
      if (!parts) return undefined;
      return cache.answer(parts.address, () => lookup(parts));
    });

    ctx.on('authenticate', async (credentials) => {
      const parts = questionParts(credentials.username);
      if (!parts) return undefined;
      const user = await userRow(parts);
      if (user === undefined || !('record' in user)) return user;
      // A disabled account cannot log in, whatever its password (535 5.7.8 from plugins/auth,
      // -ERR [AUTH] from POP3); nor one refused for the service asking (vpopmail's NO_POP, NO_SMTP).
      if (user.record.enabled === false || !mayLogIn(user, credentials.service) || user.password === undefined) {
        return { ok: false };
      }
      if (credentials.mechanism === 'CRAM-MD5') {
        // CRAM-MD5 needs the cleartext on the server: only a {PLAIN} password, and only if allowed.
        const cleartext = options.plaintext ? /^\{(?:PLAIN|CLEARTEXT)\}(.*)$/is.exec(user.password)?.[1] : undefined;
        const ok = cleartext !== undefined && verifyCramMd5(cleartext, credentials.challenge ?? '', credentials.response ?? '');
        return ok ? { ok, user: user.record.address } : { ok: false };
      }
      const ok = await verifyPassword(user.password, credentials.password ?? '', policy);
      return ok ? { ok, user: user.record.address } : { ok: false };
    });
  },
});
