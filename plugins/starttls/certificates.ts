/*
 * The TLS server contexts: the default certificate, the SNI ones, and the
 * self-signed certificate generated once for a gateway that has none. Built
 * from files each time load() runs, so a SIGHUP picks up renewed
 * certificates; sessions already in TLS keep the context they started with.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocketOptions } from 'node:tls';
import { generate } from 'selfsigned';
import { OptionError, readOptionFile } from '../../core/plugin-api/index.js';
import type { StarttlsOptions } from './options.js';

export interface CertificateSet {
  /** What the session is handed to start TLS with. */
  readonly socketOptions: TLSSocketOptions;
  readonly names: readonly string[];
}

/** Where a certificate and its key are named in the options (['cert'], ['sni', name, 'key'], ...). */
interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
  readonly certAt: readonly (string | number)[];
  readonly keyAt: readonly (string | number)[];
}

/**
 * OpenSSL says only "no start line" for a file that is not PEM (a DER file, a key given as
 * the certificate): say which file and what it should hold.
 */
function pem(file: string, label: 'CERTIFICATE' | 'PRIVATE KEY', text: string): string {
  const found =
    label === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/.test(text) : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
  if (!found) {
    throw new Error(
      `${file} is not a PEM ${label === 'CERTIFICATE' ? 'certificate' : 'private key'}: no "-----BEGIN ${label}-----" line` +
        (/BEGIN/.test(text) ? '' : ' (a DER file? convert it: openssl x509 -inform der -in FILE -out FILE.pem)'),
    );
  }
  return text;
}

function contextFor(files: CertificateFiles, base: SecureContextOptions): SecureContext {
  const cert = readOptionFile(files.cert, files.certAt, (text) => pem(files.cert, 'CERTIFICATE', text));
  const key = readOptionFile(files.key, files.keyAt, (text) => pem(files.key, 'PRIVATE KEY', text));
  try {
    return createSecureContext({ ...base, cert, key });
  } catch (err) {
    throw new OptionError(files.certAt, `certificate ${files.cert} with key ${files.key}: ${(err as Error).message}`);
  }
}

/** Creates the self-signed certificate file (certificate and key, PEM) if it does not exist; true if it did. */
export async function ensureSelfSigned(file: string): Promise<boolean> {
  if (existsSync(file)) return false;
  const name = hostname();
  const pems = await generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 10 * 365 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: name },
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${pems.private}${pems.cert}`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return true;
}

/** Reads every certificate named by the options; throws naming the one that failed. */
export function loadCertificates(options: StarttlsOptions, resolvePath: (p: string) => string): CertificateSet {
  const base: SecureContextOptions = {
    minVersion: options.min_version,
    // TLS 1.2 suites from the list (default: AEAD only); TLS 1.3 suites stay OpenSSL's unless it names some.
    ciphers: options.ciphers,
    honorCipherOrder: true,
  };
  const certFile = options.cert ?? options.generate;
  const keyFile = options.key ?? options.generate;
  if (!certFile || !keyFile) throw new Error('starttls needs cert and key (or generate, for a self-signed certificate)');
  const fallback = contextFor(
    {
      cert: resolvePath(certFile),
      key: resolvePath(keyFile),
      certAt: [options.cert ? 'cert' : 'generate'],
      keyAt: [options.key ? 'key' : 'generate'],
    },
    base,
  );
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  for (const [name, files] of Object.entries(options.sni)) {
    const context = contextFor(
      { cert: resolvePath(files.cert), key: resolvePath(files.key), certAt: ['sni', name, 'cert'], keyAt: ['sni', name, 'key'] },
      base,
    );
    const lower = name.toLowerCase();
    if (lower.startsWith('*.')) wildcard.set(lower.slice(1), context);
    else exact.set(lower, context);
  }
  const pick = (servername: string): SecureContext => {
    const name = servername.toLowerCase();
    const dot = name.indexOf('.');
    return exact.get(name) ?? (dot > 0 ? wildcard.get(name.slice(dot)) : undefined) ?? fallback;
  };
  return {
    socketOptions: {
      secureContext: fallback,
      ...(exact.size || wildcard.size ? { SNICallback: (name, cb) => cb(null, pick(name)) } : {}),
    },
    names: Object.keys(options.sni),
  };
}
