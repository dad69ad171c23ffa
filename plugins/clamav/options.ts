/*
 * clamav options: where clamd listens (TCP or a unix socket), what an infected
 * message gets (reject, quarantine, tag), the limits of a scan (size, time,
 * concurrent scans and the wait for one) and what a scanner failure means
 * (fail-closed 451, or fail-open with a header).
 */
import { Duration, Size, type Static, Type } from '../../core/plugin-api/index.js';

export const ClamavOptions = Type.Object(
  {
    socket: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "clamd's unix socket (clamd.conf LocalSocket, e.g. /run/clamav/clamd.ctl); when set, host and port are not used.",
      }),
    ),
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: "clamd's TCP address (clamd.conf TCPAddr)." }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 3310, description: "clamd's TCP port (clamd.conf TCPSocket)." }),
    action: Type.Union([Type.Literal('reject'), Type.Literal('quarantine'), Type.Literal('tag')], {
      default: 'reject',
      description:
        "What an infected message gets: reject (554 5.7.0 naming the virus), quarantine (accepted and held in the queue's quarantine area, see `qgate quarantine`), or tag (accepted and delivered with the header `X-Virus-Status: Infected (<name>)`).",
    }),
    max_size: Size({
      default: '25MB',
      description:
        "Largest message sent to clamd, in octets; keep it at or below clamd.conf StreamMaxLength (25M by default), which clamd enforces by answering an error. 0: no limit of ours. What a larger message gets is `oversize`'s choice.",
    }),
    oversize: Type.Union([Type.Literal('skip'), Type.Literal('tempfail')], {
      default: 'skip',
      description:
        'A message above max_size: skip (accepted unscanned with `X-Virus-Status: Unscanned (too large)`) or tempfail (451 4.7.1).',
    }),
    timeout: Duration({
      default: '20s',
      description:
        'Time limit for one scan, from the connection to clamd to its answer; past it the scan failed (see on_error). Keep timeout plus queue_timeout below the hook time limit (hook_timeout, 30 s by default).',
    }),
    max_concurrent: Type.Integer({
      minimum: 1,
      default: 8,
      description:
        'Scans sent to this clamd at once by this pipeline; more wait their turn in arrival order. clamd scans MaxThreads (10 by default) streams at once and queues the rest itself.',
    }),
    max_waiting: Type.Integer({
      minimum: 0,
      default: 100,
      description: 'Scans that may wait for a turn; one more is a scanner failure at once (see on_error).',
    }),
    queue_timeout: Duration({
      default: '5s',
      description: 'How long a scan may wait for its turn; past it the scan failed (see on_error).',
    }),
    on_error: Type.Union([Type.Literal('fail-closed'), Type.Literal('fail-open')], {
      default: 'fail-closed',
      description:
        'clamd down, too slow, busy or answering an error: fail-closed answers 451 4.7.1 (the client retries later; nothing unscanned gets in), fail-open accepts the message with `X-Virus-Status: Unscanned (<why>)` and logs a warning.',
    }),
    notify: Type.Optional(
      Type.String({
        pattern: '^[^\\s<>@]+@[^\\s<>@]+$',
        expected: 'an address like postmaster@example.net',
        description:
          'Address that gets a notice for every infected message (virus, action, queue id, client, sender, recipients), queued from <> like a bounce. Not set: no notices.',
      }),
    ),
    skip_trusted: Type.Boolean({
      default: false,
      description: 'Do not scan mail from trusted clients: authenticated (AUTH) or allowed to relay (relay plugin, RELAYCLIENT).',
    }),
  },
  { additionalProperties: false },
);

export type ClamavOptions = Static<typeof ClamavOptions>;
