/*
 * spamassassin options: where spamd listens (spamc -d/-p or -U), the
 * thresholds (tag, reject), the Subject prefix, the size limit (spamc -s), the
 * time limit, fail-open or fail-closed, and whether trusted clients are scanned.
 */
import { Duration, Size, type Static, Type } from '../../core/plugin-api/index.js';

export const SpamassassinOptions = Type.Object(
  {
    host: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Host of spamd on TCP (spamc -d); not used with `socket`.',
    }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 783, description: "spamd's TCP port (spamc -p)." }),
    socket: Type.Optional(
      Type.String({ minLength: 1, description: "spamd's unix socket (spamc -U, spamd --socketpath); replaces host and port." }),
    ),
    user: Type.Optional(
      Type.String({
        pattern: '^[^\\r\\n]+$',
        description: 'Sent as the User: header (spamc -u): whose preferences spamd applies. Left out when not set.',
      }),
    ),
    tag: Type.Optional(
      Type.Number({
        description:
          "Score at or above which a message is tagged as spam (X-Spam-Flag: YES). Not set: spamd's own required_score.",
      }),
    ),
    reject: Type.Optional(
      Type.Number({
        description: 'Score at or above which the message is refused with 550 5.7.1. Not set (the default): never refused.',
      }),
    ),
    subject_prefix: Type.String({
      default: '',
      pattern: '^[^\\r\\n]*$',
      description:
        'Put before the Subject of tagged mail, e.g. "[SPAM]" (SpamAssassin rewrite_header Subject). "": the Subject is left alone.',
    }),
    max_size: Size({
      default: 512000,
      minimum: 1,
      description:
        'Larger messages are not sent to spamd and get `X-Spam-Status: skipped (...)` (spamc -s; its default is 500 KB).',
    }),
    timeout: Duration({
      default: '20s',
      description:
        "Time for spamd to take the message and answer (connect included); past it spamd counts as down. Keep it under the plugin's hook timeout (hook_timeout, 30s).",
    }),
    on_error: Type.Union([Type.Literal('fail-open'), Type.Literal('fail-closed')], {
      default: 'fail-open',
      description:
        'spamd down, timing out or answering an error: fail-open accepts the message with `X-Spam-Status: unchecked (...)` and logs a warning; fail-closed answers 451 4.7.1 so the client retries later.',
    }),
    skip_trusted: Type.Boolean({
      default: false,
      description:
        'Do not scan mail from trusted clients: authenticated (AUTH) or allowed to relay (relay plugin, RELAYCLIENT); it passes unscanned and untouched.',
    }),
    max_response: Size({
      default: 65536,
      minimum: 1024,
      description:
        "Longest answer taken from spamd; a longer one counts as spamd failing (a broken spamd can't make us buffer more).",
    }),
  },
  { additionalProperties: false },
);

export type SpamassassinOptions = Static<typeof SpamassassinOptions>;
