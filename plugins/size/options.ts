/*
 * size options: the largest message this gateway takes (qmail databytes,
 * Postfix message_size_limit), overall and per listener.
 */
import { Size, type Static, Type } from '../../core/plugin-api/index.js';

export const SizeOptions = Type.Object(
  {
    limit: Size({
      default: 10240000,
      description:
        'Largest message in octets as the client sends it, without dot-stuffing (RFC 1870); advertised in EHLO as SIZE followed by this number (qmail databytes). The default, 10240000, is Postfix\'s message_size_limit. 0: no limit, plain "SIZE" is advertised.',
    }),
    listeners: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Size(), {
      default: {},
      additionalProperties: false,
      description:
        'Limit per listener name, overriding `limit` there (qmail: databytes per tcpserver instance), e.g. { submission: "50MB" }. 0: no limit on that listener. A name that is no listener is a configuration error.',
    }),
  },
  { additionalProperties: false },
);

export type SizeOptions = Static<typeof SizeOptions>;
