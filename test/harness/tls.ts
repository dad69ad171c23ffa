/*
 * Test certificates, made with the openssl command line (as an admin would):
 * a self-signed certificate per host name, with the name in subjectAltName so
 * verifying clients (Python's ssl) accept it when told to trust that file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
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

export interface TestChain extends TestCertificate {
  /** The root the chain leads to: what a verifying client trusts. */
  readonly root: string;
}

/**
 * A root CA, an intermediate signed by it and a leaf for `name` signed by the
 * intermediate. `cert` holds the leaf and then the intermediate, as a server
 * must send them: a client that trusts only the root can verify the leaf.
 */
export async function makeChain(dir: string, name: string): Promise<TestChain> {
  const f = (n: string) => join(dir, n);
  const openssl = async (...args: string[]) => {
    const r = await run('openssl', args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(
    f('leaf.ext'),
    `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${name},IP:127.0.0.1\n`,
  );
  await openssl(
    'req',
    '-x509',
    ...key,
    '-days',
    '2',
    '-subj',
    '/CN=qgate test root',
    '-keyout',
    f('root.key'),
    '-out',
    f('root.crt'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  await openssl('req', ...key, '-subj', '/CN=qgate test intermediate', '-keyout', f('inter.key'), '-out', f('inter.csr'));
  await openssl(
    'x509',
    '-req',
    '-in',
    f('inter.csr'),
    '-CA',
    f('root.crt'),
    '-CAkey',
    f('root.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('ca.ext'),
    '-out',
    f('inter.crt'),
  );
  await openssl('req', ...key, '-subj', `/CN=${name}`, '-keyout', f('leaf.key'), '-out', f('leaf.csr'));
  await openssl(
    'x509',
    '-req',
    '-in',
    f('leaf.csr'),
    '-CA',
    f('inter.crt'),
    '-CAkey',
    f('inter.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('leaf.ext'),
    '-out',
    f('leaf.crt'),
  );
  writeFileSync(f('chain.pem'), Buffer.concat([readFileSync(f('leaf.crt')), readFileSync(f('inter.crt'))]));
  return { cert: f('chain.pem'), key: f('leaf.key'), root: f('root.crt') };
}
