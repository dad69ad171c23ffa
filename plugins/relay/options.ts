/*
 * relay options: the client addresses and networks trusted to relay (qmail's
 * tcprules RELAYCLIENT, Postfix's mynetworks).
 */
import { type Static, Type } from '../../core/plugin-api/index.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}(?:/(?:3[0-2]|[12]?\\d))?`;
// Loose on purpose: the shape of an IPv6 address; clients.ts checks it properly (node:net isIP).
const IPV6 = '[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:/(?:12[0-8]|1[01]\\d|[1-9]?\\d))?';
export const CLIENT_PATTERN = `^(?:${IPV4}|${IPV6})$`;

export const RelayOptions = Type.Object(
  {
    clients: Type.Array(
      Type.String({
        pattern: CLIENT_PATTERN,
        expected: 'an IPv4 or IPv6 address or CIDR network (192.0.2.1, 10.0.0.0/8, 2001:db8::/32)',
      }),
      {
        default: [],
        description:
          'Client addresses and CIDR networks allowed to relay (qmail tcprules RELAYCLIENT, Postfix mynetworks): "127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32". IPv4 rules also match IPv4-mapped IPv6 clients (::ffff:10.1.2.3).',
      },
    ),
    files: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Files with more addresses and networks, one per line, # comments. Re-read on SIGHUP; a broken file keeps the previous list in force (logged).',
    }),
  },
  { additionalProperties: false },
);

export type RelayOptions = Static<typeof RelayOptions>;
