/*
 * The pure half of sql-users: the configured queries' placeholders checked
 * against their declared parameters (at config time, so a query can never be
 * string-built or fail on an untyped parameter), the values a question binds,
 * and database rows read into the directory contract's answers. A row of the
 * wrong shape throws: the question becomes a temporary failure, never a guess.
 */
import type { UserRecord } from '../../core/plugin-api/index.js';
import type { QUERY_PARAMETERS, SqlQuery } from './options.js';

type ParameterName = (typeof QUERY_PARAMETERS)[number];

/** A problem with a configured query, or undefined. */
export function queryProblem(query: SqlQuery): string | undefined {
  // Dovecot's and Postfix's SQL maps paste values into the text ('%u', '%d', '%s'): here
  // they would be matched literally, so say what to write instead.
  const pasted = /'%[a-zA-Z]'|%\{[a-z]+\}/.exec(query.sql);
  if (pasted) return `${pasted[0]} is pasted into the text; write $1 and give params: [address] instead`;
  const used = new Set([...query.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  for (const n of used) {
    if (n < 1 || n > query.params.length) {
      return `$${n} has no parameter (params names ${query.params.length}: ${query.params.join(', ')})`;
    }
  }
  for (let n = 1; n <= query.params.length; n++) {
    // PostgreSQL refuses a statement with a parameter it cannot give a type, i.e. one it never uses.
    if (!used.has(n)) return `params names $${n} (${query.params[n - 1]}) but the query does not use it`;
  }
  return undefined;
}

/** The parts of an address or login a query may bind. */
export interface QuestionParts {
  readonly address: string;
  readonly local: string;
  readonly domain: string;
}

/** Longest address asked about (RFC 5321 4.5.3.1: 64 + 1 + 255, with room). */
const MAX_ADDRESS = 320;

/**
 * The parts of `address` in lower case, or undefined when no row can hold it: no
 * domain, too long, or a NUL, which PostgreSQL's text cannot hold (sending it would
 * be an error of the query, read as an outage, that any client could cause).
 */
export function questionParts(address: string): QuestionParts | undefined {
  if (address.length > MAX_ADDRESS || address.includes('\0')) return undefined;
  const lower = address.toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at <= 0 || at === lower.length - 1) return undefined;
  return { address: lower, local: lower.slice(0, at), domain: lower.slice(at + 1) };
}

/** The values for a query's $1, $2, ... */
export function bind(query: SqlQuery, parts: QuestionParts): string[] {
  return query.params.map((p: ParameterName) => parts[p]);
}

/** A user row: the record, and what only authenticate reads. */
export interface UserRow {
  readonly record: UserRecord;
  readonly password?: string;
  /** false: the account may receive mail but not log in, by any service. */
  readonly loginEnabled: boolean;
  /** Per service (vpopmail's NO_SMTP, NO_POP): false refuses logins for that service only. */
  readonly serviceLogins: Readonly<Partial<Record<'smtp' | 'pop3', boolean>>>;
}

/**
 * May `row` log in for `service`? login_enabled speaks for every service, smtp_enabled and
 * pop3_enabled for one; a login that names no service must be allowed by all of them, so
 * a caller that does not say cannot slip past a per-service refusal.
 */
export function mayLogIn(row: UserRow, service: string | undefined): boolean {
  if (!row.loginEnabled) return false;
  if (service === 'smtp' || service === 'pop3') return row.serviceLogins[service] !== false;
  return !Object.values(row.serviceLogins).includes(false);
}

const KNOWN_COLUMNS = new Set([
  'address',
  'password',
  'mailbox',
  'forwards',
  'deliver_locally',
  'enabled',
  'login_enabled',
  'smtp_enabled',
  'pop3_enabled',
  'quota',
]);

function text(row: Record<string, unknown>, column: string): string | undefined {
  const v = row[column];
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw new Error(`column ${column}: expected text, got ${typeof v}`);
  // char(n) columns (vpopmail's layout) come padded with spaces.
  const trimmed = v.trimEnd();
  return trimmed === '' ? undefined : trimmed;
}

/** SQL booleans, and the flags older layouts keep in text or numbers ('Y'/'N', 1/0). */
function flag(row: Record<string, unknown>, column: string): boolean | undefined {
  const v = row[column];
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['y', 'yes', 't', 'true', '1'].includes(s)) return true;
    if (['n', 'no', 'f', 'false', '0'].includes(s)) return false;
  }
  throw new Error(`column ${column}: expected a boolean, got ${JSON.stringify(v)}`);
}

/** Octets: numbers, and bigint columns, which pg returns as decimal text. */
function octets(row: Record<string, unknown>, column: string): number | undefined {
  const v = row[column];
  if (v === null || v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`column ${column}: expected octets, got ${JSON.stringify(v)}`);
  return n === 0 ? undefined : n;
}

/** A text[] column, or text with addresses separated by commas or white space. */
function addressList(row: Record<string, unknown>, column: string): string[] | undefined {
  const v = row[column];
  if (v === null || v === undefined) return undefined;
  const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(/[\s,]+/) : undefined;
  if (!items?.every((i) => typeof i === 'string')) throw new Error(`column ${column}: expected addresses`);
  const list = (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
  for (const a of list)
    if (!/^[^@\s]+@[^@\s]+$/.test(a)) throw new Error(`column ${column}: ${JSON.stringify(a)} is not an address`);
  return list.length ? list : undefined;
}

/** The user row of `parts` (the query's first row) as a record. */
export function readUserRow(row: Record<string, unknown>, parts: QuestionParts): UserRow {
  const unknown = Object.keys(row).filter((c) => !KNOWN_COLUMNS.has(c) && c !== '?column?');
  const address = text(row, 'address')?.toLowerCase() ?? parts.address;
  if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new Error(`column address: ${JSON.stringify(address)} is not an address`);
  const mailbox = text(row, 'mailbox');
  const forwards = addressList(row, 'forwards');
  const deliverLocally = flag(row, 'deliver_locally');
  const enabled = flag(row, 'enabled');
  const quota = octets(row, 'quota');
  const attributes: Record<string, string> = {};
  for (const c of unknown) {
    const v = row[c];
    if (v !== null && v !== undefined) attributes[c] = String(v).trimEnd();
  }
  const record: UserRecord = {
    address,
    ...(mailbox !== undefined && { mailbox }),
    ...(forwards !== undefined && { forwards }),
    ...(deliverLocally !== undefined && { deliverLocally }),
    ...(enabled !== undefined && { enabled }),
    ...(quota !== undefined && { quota }),
    ...(Object.keys(attributes).length > 0 && { attributes }),
  };
  const password = text(row, 'password');
  const smtp = flag(row, 'smtp_enabled');
  const pop3 = flag(row, 'pop3_enabled');
  return {
    record,
    ...(password !== undefined && { password }),
    loginEnabled: flag(row, 'login_enabled') ?? true,
    serviceLogins: { ...(smtp !== undefined && { smtp }), ...(pop3 !== undefined && { pop3 }) },
  };
}

/**
 * Alias rows (column `target`, one or more addresses each) as a record that forwards
 * everything and keeps no copy. vpopmail's valias lines may be "&user@domain" (the
 * qmail forward form) or a program ("|...") or Maildir path ("/..."), which a gateway
 * cannot run: those are left out. No address left: undefined (not an alias).
 */
export function readAliasRows(rows: readonly Record<string, unknown>[], parts: QuestionParts): UserRecord | undefined {
  const targets: string[] = [];
  for (const row of rows) {
    const v = row.target;
    if (typeof v !== 'string') throw new Error('column target: expected text');
    const line = v.trim();
    if (line.startsWith('|') || line.startsWith('/')) continue;
    for (const item of line.split(/[\s,]+/)) {
      const t = item.replace(/^&/, '');
      if (t === '') continue;
      if (!/^[^@\s]+@[^@\s]+$/.test(t)) throw new Error(`column target: ${JSON.stringify(t)} is not an address`);
      if (!targets.includes(t)) targets.push(t);
    }
  }
  if (targets.length === 0) return undefined;
  return { address: parts.address, forwards: targets, deliverLocally: false };
}
