/*
 * header-stamp options: which header field, what it says, on which listeners,
 * and what to do with a message that arrives already carrying it.
 */
import { type Static, Type } from 'qgate';

export const HeaderStampOptions = Type.Object(
  {
    field: Type.String({
      pattern: '^[!-9;-~]+$',
      default: 'X-Gateway-Stamp',
      description: 'Name of the header field added to every accepted message (RFC 5322 field name).',
    }),
    value: Type.String({
      minLength: 1,
      default: 'by {hostname} on {listener}; client={client}; tls={tls}; user={user}',
      description:
        'Its value. Placeholders: {hostname}, {listener}, {client} (IP address), {helo}, {tls} (protocol or "none"), {user} (authenticated user or "-"), {queue_id}.',
    }),
    forged: Type.Union([Type.Literal('reject'), Type.Literal('keep')], {
      default: 'reject',
      description:
        'A message that already carries the field did not get it here, and filters behind the gateway trust it: "reject" refuses it with 554 5.7.1, "keep" accepts it and adds ours above.',
    }),
    listeners: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Listeners whose messages are stamped; empty: all.',
    }),
  },
  { additionalProperties: false },
);

export type HeaderStampOptions = Static<typeof HeaderStampOptions>;
