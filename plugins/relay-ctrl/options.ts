/*
 * relay-ctrl options: how long a POP3 login lets its client relay, and where
 * the grants are kept (a file on this host, or PostgreSQL shared by nodes).
 */
import { Duration, type Static, Type } from '../../core/plugin-api/index.js';

export const RelayCtrlOptions = Type.Object(
  {
    window: Duration({
      default: '20m',
      description:
        "How long after a POP3 login its client address may relay (relay-ctrl's RELAY_CTRL_EXPIRY, 20 minutes there too).",
    }),
    store: Type.Union([Type.Literal('file'), Type.Literal('postgres')], {
      default: 'file',
      description:
        '"file": a journal on this host that survives restarts; "postgres": a table several gateways share (a login on one lets the client relay through all).',
    }),
    file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'store: file: the journal; default relay-ctrl.jsonl beside the queue directory.',
      }),
    ),
    postgres_url: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'store: postgres: the connection string (postgres://user@host/db); the PG* environment fills in what it leaves out.',
      }),
    ),
    postgres_table: Type.String({
      pattern: '^[a-z_][a-z0-9_]{0,62}$',
      default: 'qgate_relay_ctrl',
      description: 'store: postgres: the table (created if missing).',
    }),
  },
  { additionalProperties: false },
);

export type RelayCtrlOptions = Static<typeof RelayCtrlOptions>;
