/*
 * starttls options: where the certificates are, which TLS versions and
 * ciphers to allow, and which listeners speak TLS from the first byte.
 */
import { type Static, Type } from '../../core/plugin-api/index.js';

/**
 * The TLS 1.2 suites of Mozilla's "intermediate" server profile, without its DHE-RSA
 * ones: those need DH parameters, which would be one more file to configure for suites
 * that ECDHE already covers for every client that speaks TLS 1.2. AEAD only: CBC suites
 * (SHA1, SHA256, SHA384 MACs) are open to LUCKY13-style padding oracles.
 */
export const MOZILLA_INTERMEDIATE_TLS12 = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const Certificate = Type.Object(
  {
    cert: Type.String({ minLength: 1, description: 'PEM certificate file, leaf first, then the chain.' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file.' }),
  },
  { additionalProperties: false },
);

export const StarttlsOptions = Type.Object(
  {
    cert: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM certificate file (leaf first, then the chain). Re-read on SIGHUP.' }),
    ),
    key: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key file. Re-read on SIGHUP.' })),
    generate: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Without cert and key: a file to keep a self-signed certificate in, generated (and logged) once when missing. For trying qgate out; clients cannot verify it.',
      }),
    ),
    sni: Type.Record(Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$' }), Certificate, {
      default: {},
      additionalProperties: false,
      expectedKey: 'a host name (mail.example.net) or a wildcard (*.example.net)',
      description:
        'Certificates per host name the client asks for (SNI): { "mail.example.net": { cert, key } }; "*.example.net" covers one label. Others get the default certificate.',
    }),
    min_version: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], {
      default: 'TLSv1.2',
      description: 'Oldest protocol version accepted.',
    }),
    ciphers: Type.String({
      minLength: 1,
      default: MOZILLA_INTERMEDIATE_TLS12,
      description:
        'OpenSSL cipher list for TLS 1.2. The default is forward-secret AEAD only (ECDHE with AES-GCM or ChaCha20-Poly1305, Mozilla "intermediate" without DHE): no CBC suites (LUCKY13). TLS 1.3 suites are OpenSSL\'s unless the list names some (TLS_...).',
    }),
    implicit_listeners: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Listeners (by name) that speak TLS from the first byte (port 465, RFC 8314). The others offer STARTTLS (RFC 3207). A name that is no listener is a configuration error.',
    }),
    required: Type.Boolean({
      default: false,
      description: 'Refuse MAIL before STARTTLS with 530 5.7.0 (Postfix smtpd_tls_security_level = encrypt).',
    }),
  },
  { additionalProperties: false },
);

export type StarttlsOptions = Static<typeof StarttlsOptions>;
