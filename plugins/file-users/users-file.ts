/*
 * Reads a users file into a lookup table. Two formats: YAML
 *   domains: [example.net]
 *   users:
 *     alice@example.net: { password: "$argon2id$...", cram_md5: "secret", mailbox: /srv/mail/alice,
 *                          forwards: [a@elsewhere.test], deliver_locally: true, enabled: true, quota: 1073741824 }
 * and flat, one "address:hash" per line with # comments (like Dovecot's
 * passwd-file). Every problem names the file and line.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { type PasswordPolicy, passwordScheme } from '../../core/plugin-api/index.js';

/** A users file may hold {PLAIN} passwords: the admin wrote them there, next to the CRAM-MD5 secrets. */
export const PASSWORD_POLICY: PasswordPolicy = { plaintext: true };

export interface UserEntry {
  readonly address: string;
  /** Stored password hash ("$argon2id$...", "$2b$...", "{SSHA}...", "{PLAIN}..."). */
  readonly password?: string;
  /** Cleartext-equivalent secret for CRAM-MD5. */
  readonly cramMd5?: string;
  readonly mailbox?: string;
  readonly forwards?: readonly string[];
  readonly deliverLocally?: boolean;
  /** false: a disabled account (AUTH fails, RCPT 550, delivery 5.2.1). */
  readonly enabled?: boolean;
  /** Mailbox size limit in octets. */
  readonly quota?: number;
}

export interface UserTable {
  readonly users: ReadonlyMap<string, UserEntry>;
  readonly domains: ReadonlySet<string>;
}

/** Each field of a user and the type of its value. */
const FIELDS: ReadonlyMap<string, 'string' | 'boolean' | 'octets' | 'addresses'> = new Map([
  ['password', 'string'],
  ['cram_md5', 'string'],
  ['mailbox', 'string'],
  ['forwards', 'addresses'],
  ['deliver_locally', 'boolean'],
  ['enabled', 'boolean'],
  ['quota', 'octets'],
] as const);

const EXPECTED = {
  string: 'a string',
  boolean: 'true or false',
  octets: 'a number of octets',
  addresses: 'a list of addresses (user@domain)',
};

function fits(kind: 'string' | 'boolean' | 'octets' | 'addresses', value: unknown): boolean {
  if (kind === 'string' || kind === 'boolean') return typeof value === kind;
  if (kind === 'octets') return Number.isSafeInteger(value) && (value as number) >= 0;
  return Array.isArray(value) && value.every((a) => typeof a === 'string' && /^[^@\s]+@[^@\s]+$/.test(a));
}

function checkHash(file: string, line: number, address: string, password: string): void {
  if (!passwordScheme(password, PASSWORD_POLICY)) {
    throw new Error(
      `${file}:${line}: ${address}: unknown password scheme (expected $argon2id$, $2b$/$2y$ bcrypt, $6$/$5$ SHA-crypt, {SSHA} or {PLAIN})`,
    );
  }
}

function readYaml(file: string, text: string): UserTable {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new Error(`${file}:${e.linePos?.[0].line ?? 0}:${e.linePos?.[0].col ?? 0}: ${e.message.split('\n')[0]}`);
  }
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined) =>
    node?.range ? lines.linePos(node.range[0]).line : 0;
  const root = doc.contents;
  if (root !== null && !isMap(root)) throw new Error(`${file}:1: expected a map with "users:" and "domains:"`);
  const users = new Map<string, UserEntry>();
  const domains = new Set<string>();
  const domainList = doc.get('domains', true);
  if (domainList !== undefined) {
    const list = (doc.toJS() as { domains?: unknown }).domains;
    if (!Array.isArray(list) || list.some((d) => typeof d !== 'string')) {
      throw new Error(`${file}:${lineOf(domainList as never)}: domains: expected a list of domain names`);
    }
    for (const d of list as string[]) domains.add(d.toLowerCase());
  }
  const userMap = doc.get('users', true);
  if (userMap !== undefined && userMap !== null && !isMap(userMap)) {
    throw new Error(`${file}:${lineOf(userMap as never)}: users: expected a map of address: { password: ... }`);
  }
  for (const pair of isMap(userMap) ? userMap.items : []) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const line = lineOf(pair.key as never);
    const address = key.toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new Error(`${file}:${line}: "${key}" is not an address (user@domain)`);
    const fields = (isMap(pair.value) ? pair.value.toJSON() : undefined) as Record<string, unknown> | undefined;
    if (!fields) throw new Error(`${file}:${line}: ${address}: expected { password: ... }`);
    for (const [name, value] of Object.entries(fields)) {
      const kind = FIELDS.get(name);
      if (!kind) throw new Error(`${file}:${line}: ${address}: unknown field "${name}"`);
      if (!fits(kind, value)) throw new Error(`${file}:${line}: ${address}.${name}: expected ${EXPECTED[kind]}`);
    }
    const entry: UserEntry = {
      address,
      ...(typeof fields.password === 'string' ? { password: fields.password } : {}),
      ...(typeof fields.cram_md5 === 'string' ? { cramMd5: fields.cram_md5 } : {}),
      ...(typeof fields.mailbox === 'string' ? { mailbox: fields.mailbox } : {}),
      ...(Array.isArray(fields.forwards) ? { forwards: fields.forwards as string[] } : {}),
      ...(typeof fields.deliver_locally === 'boolean' ? { deliverLocally: fields.deliver_locally } : {}),
      ...(typeof fields.enabled === 'boolean' ? { enabled: fields.enabled } : {}),
      ...(typeof fields.quota === 'number' ? { quota: fields.quota } : {}),
    };
    if (entry.password) checkHash(file, line, address, entry.password);
    users.set(address, entry);
  }
  return { users, domains };
}

function readFlat(file: string, text: string): UserTable {
  const users = new Map<string, UserEntry>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const address = (colon > 0 ? line.slice(0, colon) : '').toLowerCase();
    const password = colon > 0 ? line.slice(colon + 1) : '';
    if (!/^[^@\s]+@[^@\s]+$/.test(address) || !password) {
      throw new Error(`${file}:${i + 1}: expected "user@domain:password-hash"`);
    }
    checkHash(file, i + 1, address, password);
    users.set(address, { address, password });
  });
  return { users, domains: new Set() };
}

export function readUsersFile(file: string): UserTable {
  return parseUsersFile(file, readFileSync(file, 'utf8'));
}

/** The table of a users file already read; `file` says which format and names it in errors. */
export function parseUsersFile(file: string, text: string): UserTable {
  return /\.ya?ml$/i.test(file) ? readYaml(file, text) : readFlat(file, text);
}
