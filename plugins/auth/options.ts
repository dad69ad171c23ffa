/*
 * auth options: mechanisms, when AUTH is offered and required, what an
 * authenticated session may do, and the failed-login throttle.
 */
import { Duration, type Static, Type } from '../../core/plugin-api/index.js';

export const Mechanism = Type.Union([Type.Literal('PLAIN'), Type.Literal('LOGIN'), Type.Literal('CRAM-MD5')]);

export const AuthOptions = Type.Object(
  {
    mechanisms: Type.Array(Mechanism, {
      default: ['PLAIN', 'LOGIN'],
      minItems: 1,
      uniqueItems: true,
      description:
        'SASL mechanisms offered. CRAM-MD5 needs a cleartext-equivalent secret stored for each user (see file-users), so it is off unless listed.',
    }),
    require_tls: Type.Boolean({
      default: true,
      description: 'Offer AUTH only inside TLS; AUTH in plaintext gets 538 5.7.11 (smtpd_tls_auth_only).',
    }),
    required: Type.Boolean({
      default: false,
      description: 'MAIL before a successful AUTH gets 530 5.7.0 (a submission port).',
    }),
    relay: Type.Boolean({
      default: true,
      description: 'An authenticated session may relay to any domain (permit_sasl_authenticated).',
    }),
    max_failures: Type.Integer({
      default: 5,
      minimum: 1,
      description:
        'Failed AUTH attempts from one client address, within failure_window, before 421 and disconnect. Password checks still running count too, so parallel connections get no more tries.',
    }),
    failure_window: Duration({
      default: '15m',
      description: 'How long a failed attempt counts against the client address.',
    }),
    failure_delay: Duration({
      default: '1s',
      zero: true,
      description: 'Pause before answering a failed attempt, times the number of failures so far (slows guessing).',
    }),
  },
  { additionalProperties: false },
);

export type AuthOptions = Static<typeof AuthOptions>;
