/*
 * log.format "text": one pino record (the JSON object) as one line for
 * people, like a Postfix maillog line: time, level, event, then the fields
 * that explain a message in a fixed order, then the rest as key=value.
 * Pure. It never lets a value break the line: control characters, quotes and
 * spaces are quoted and escaped, so a client's HELO cannot forge a log line.
 * Machines read log.format "json"; this format drops error stacks.
 */

/** Fields written first, in this order, when present: the ones an admin greps for. */
const LEADING = [
  'queueId',
  'result',
  'listener',
  'session',
  'client',
  'port',
  'helo',
  'user',
  'sender',
  'recipient',
  'recipients',
  'refused',
  'destination',
  'size',
  'reply',
  'plugin',
  'reason',
  'end',
] as const;

/** Fields the line's head carries, or that say nothing to a reader. */
const HEAD = new Set(['time', 'level', 'event', 'msg', 'service', 'pid', 'hostname']);

/** Envelope addresses are written in angle brackets, so the null sender shows as <>. */
const ADDRESSES = new Set(['sender', 'recipient', 'recipients', 'to', 'bounceTo']);

export type LogRecord = Readonly<Record<string, unknown>>;

export function formatTextLine(record: LogRecord): string {
  const parts: string[] = [String(record.time ?? '-'), String(record.level ?? '-')];
  const event = typeof record.event === 'string' ? record.event : undefined;
  const msg = typeof record.msg === 'string' ? record.msg : undefined;
  parts.push(quote(event ?? '-'));
  // The message adds nothing where it repeats the event or the result ("queued", "delivery deferred").
  if (msg && msg !== event && msg !== record.result && msg !== `${event} ${String(record.result)}`) {
    parts.push(quote(msg));
  }
  const done = new Set<string>(HEAD);
  for (const key of LEADING) {
    if (record[key] === undefined) continue;
    parts.push(field(key, record[key]));
    done.add(key);
  }
  for (const [key, value] of Object.entries(record)) {
    if (done.has(key) || value === undefined) continue;
    parts.push(field(key, value));
  }
  return `${parts.join(' ')}\n`;
}

function field(key: string, value: unknown): string {
  return `${key}=${render(key, value)}`;
}

function render(key: string, value: unknown): string {
  if (ADDRESSES.has(key)) {
    if (typeof value === 'string') return quote(`<${value}>`);
    if (Array.isArray(value)) return quote(value.map((a) => `<${typeof a === 'string' ? a : JSON.stringify(a)}>`).join(','));
  }
  if (key === 'err' && value && typeof value === 'object') {
    const err = value as { type?: unknown; message?: unknown; code?: unknown };
    const code = typeof err.code === 'string' ? ` (${err.code})` : '';
    return quote(`${String(err.type ?? 'Error')}: ${String(err.message ?? '')}${code}`);
  }
  if (key === 'decisions' && Array.isArray(value)) {
    // plugin/hook:action: the whole story of a message in one short field.
    return quote(
      value.map((d: { plugin?: unknown; hook?: unknown; action?: unknown }) => `${d.plugin}/${d.hook}:${d.action}`).join(','),
    );
  }
  if (key === 'refused' && Array.isArray(value)) {
    return quote(value.map((r: { address?: unknown; code?: unknown }) => `<${r.address}>:${r.code}`).join(','));
  }
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) {
    return quote(value.join(','));
  }
  return quote(JSON.stringify(value));
}

/** A value as is when it is one plain word, else in double quotes with JSON escapes. */
function quote(text: string): string {
  // Printable ASCII other than space, quote, backslash and '=' stands alone; anything else is quoted.
  if (text !== '' && /^[\x21\x23-\x3c\x3e-\x5b\x5d-\x7e]+$/.test(text)) return text;
  // JSON escapes C0 controls (CR, LF, NUL, ESC), quotes and backslashes; DEL, C1 controls and the
  // Unicode line separators, which a terminal or viewer may also act on, are escaped the same way.
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
