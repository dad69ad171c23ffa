/*
 * rcpthosts options: the domains this gateway accepts mail for.
 */
import { type Static, Type } from '../../core/plugin-api/index.js';

export const DOMAIN_PATTERN = '^(\\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[^\\]]+\\])$';
export const DOMAIN_EXPECTED = 'a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1])';

export const RcpthostsOptions = Type.Object(
  {
    domains: Type.Array(
      Type.String({
        pattern: DOMAIN_PATTERN,
        expected: DOMAIN_EXPECTED,
      }),
      {
        default: [],
        description:
          'Domains to accept mail for (qmail control/rcpthosts). "example.com" is exact, ".example.com" covers its sub-domains. With neither `domains` nor `files`: delivery.local_domains and the domains of delivery.routes (not "*").',
      },
    ),
    files: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Files with more domains, one per line, # comments (control/rcpthosts, control/morercpthosts). Re-read on SIGHUP.',
    }),
    refuse_routing: Type.Boolean({
      default: true,
      description:
        'Refuse with 553 5.7.1 recipients that hide a route ("%" hack, "!" bang path, source route, quoted "@") unless the client may relay.',
    }),
    postmaster: Type.Boolean({
      default: true,
      description: 'Accept the bare `RCPT TO:<postmaster>` (RFC 5321 4.5.1 requires it).',
    }),
  },
  { additionalProperties: false },
);

export type RcpthostsOptions = Static<typeof RcpthostsOptions>;
