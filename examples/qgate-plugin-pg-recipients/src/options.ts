/*
 * pg-recipients options: where the database is, the query that says whether a
 * recipient is refused, and the bounds on the pool and on each query.
 */
import { Duration, type Static, Type } from 'qgate';

export const PgRecipientsOptions = Type.Object(
  {
    connection: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'PostgreSQL connection string (postgres://user@host/db); unset: the PG* environment variables.',
      }),
    ),
    query: Type.String({
      minLength: 1,
      default: 'SELECT reason FROM refused_recipients WHERE address = $1',
      description:
        'Run with $1 = the recipient address, lower-cased. A row refuses the recipient; its "reason" column, if any, goes to the log.',
    }),
    message: Type.String({
      minLength: 1,
      default: 'Recipient address rejected: Access denied',
      description: "Text of the 550 5.7.1 reply (Postfix's wording for an access-table refusal).",
    }),
    max_connections: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Size of the connection pool.' }),
    query_timeout: Duration({
      default: '5s',
      description: 'Time limit for connecting plus one query; past it the recipient gets 451 4.3.0 (keep it under hook_timeout).',
    }),
  },
  { additionalProperties: false },
);

export type PgRecipientsOptions = Static<typeof PgRecipientsOptions>;
