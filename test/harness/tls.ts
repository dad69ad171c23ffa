/*
 * Test certificates, made with the openssl command line (as an admin would):
 * a self-signed certificate per host name, with the name in subjectAltName so
 * verifying clients (Python's ssl) accept it when told to trust that file.
 */
import { join } from 'node:path';
import { run } from './gateway.js';

/** A second listener, "smtps", on the test pipeline: for starttls' implicit_listeners. */
export const IMPLICIT_TLS_LISTENER = `
  - name: smtps
    address: 127.0.0.1
    port: 0
    pipeline: inbound`;

export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

export async function makeCertificate(dir: string, name: string, file = name): Promise<TestCertificate> {
  const cert = join(dir, `${file}.crt`);
  const key = join(dir, `${file}.key`);
  const r = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name},IP:127.0.0.1`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key };
}
