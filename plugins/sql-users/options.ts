/*
 * sql-users options: where the database is (a secret: a URL from the YAML, an
 * environment variable or a file), which table layout it holds (a preset) or
 * the queries themselves, the pool's bounds and time limits, and the answer cache.
 */
import { DirectoryCache, Duration, Secret, type Static, Type } from '../../core/plugin-api/index.js';

/** The values a query may take, by name, in the order of its $1, $2, ... */
export const QUERY_PARAMETERS = ['address', 'local', 'domain'] as const;

export const SqlQuery = Type.Object(
  {
    sql: Type.String({
      minLength: 1,
      maxLength: 8192,
      description: 'One SQL statement with $1, $2, ... placeholders; never values pasted into the text.',
    }),
    params: Type.Array(Type.Union(QUERY_PARAMETERS.map((p) => Type.Literal(p))), {
      minItems: 1,
      maxItems: 3,
      description: 'What $1, $2, ... are: address (local@domain, lower case), local, domain.',
    }),
  },
  { additionalProperties: false },
);

export type SqlQuery = Static<typeof SqlQuery>;

export const SqlUsersOptions = Type.Object(
  {
    url: Secret({
      description:
        'PostgreSQL connection URL (postgres://user:password@host:port/database?sslmode=...), or { env: NAME } / { file: path } to keep it out of the YAML.',
    }),
    preset: Type.Union([Type.Literal('qgate'), Type.Literal('vpopmail'), Type.Literal('dovecot')], {
      default: 'qgate',
      description:
        "Table layout: qgate (plugins/sql-users/schema.sql), vpopmail (vpopmail's pw_* table and valias) or dovecot (Dovecot's users table).",
    }),
    queries: Type.Object(
      {
        user: Type.Optional(SqlQuery),
        alias: Type.Optional(SqlQuery),
        domain: Type.Optional(SqlQuery),
      },
      {
        default: {},
        additionalProperties: false,
        description:
          "Replaces the preset's queries: user (one row: address, password, mailbox, forwards, deliver_locally, enabled, login_enabled, smtp_enabled, pop3_enabled, quota), alias (rows of target), domain (a row if the domain is this directory's).",
      },
    ),
    plaintext: Type.Boolean({
      default: false,
      description: 'Accept {PLAIN}/{CLEARTEXT} passwords (and the cleartext column of the vpopmail preset).',
    }),
    max_connections: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Pool size: connections at most.' }),
    connect_timeout: Duration({
      default: '5s',
      description: 'Time to get a connection (a free one of the pool, or a new one); past it the question is unavailable.',
    }),
    query_timeout: Duration({
      default: '5s',
      description: 'Time for one query to answer; past it the question is unavailable (and the server cancels it).',
    }),
    idle_timeout: Duration({ default: '30s', description: 'An idle connection is closed after this.' }),
    cache: DirectoryCache(),
  },
  { additionalProperties: false },
);

export type SqlUsersOptions = Static<typeof SqlUsersOptions>;
