/*
 * Removing header fields from a stored message as it streams by: the fields a
 * message-hook plugin named with transaction.removeHeader (an exact name, or a
 * prefix ending in "*", without case) leave the header section, folded lines
 * and all; the body and every other field pass unchanged. Trace fields
 * (Received) are never removed (RFC 5321 4.4). Memory is bounded by the
 * longest field name looked at, never by a field's or the message's length.
 */
import { Transform, type TransformCallback } from 'node:stream';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
/** RFC 5322 2.1.1: a line is at most 998 octets; a longer "name" is no field name, so the header section ended. */
const MAX_NAME = 998;
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** Field names that are never removed: the trace the gateway and earlier hops wrote. */
const TRACE = new Set(['received']);

/** A checked removal: an exact field name or a prefix with a trailing "*". */
export function checkRemoval(name: string): string {
  const prefix = name.endsWith('*');
  const stem = prefix ? name.slice(0, -1) : name;
  if (!FIELD_NAME.test(stem) || stem.includes('*')) throw new RangeError(`invalid header field name "${name}"`);
  if (!prefix && TRACE.has(stem.toLowerCase())) {
    throw new RangeError(`"${name}" is a trace field; trace fields are never removed (RFC 5321 4.4)`);
  }
  return name;
}

/** Whether a field called `name` goes, given the removals (exact names or "Prefix-*"). */
export function isRemoved(name: string, removals: readonly string[]): boolean {
  const lower = name.toLowerCase();
  if (TRACE.has(lower)) return false;
  return removals.some((r) => (r.endsWith('*') ? lower.startsWith(r.slice(0, -1).toLowerCase()) : lower === r.toLowerCase()));
}

/**
 * The stream state: at a line start in the header section we hold back the bytes of the
 * field name (at most MAX_NAME) until its colon says whether the field stays; continuation
 * lines follow their field; the first line that is no field (the blank line) ends the work.
 */
export class RemoveFields extends Transform {
  private phase: 'lineStart' | 'name' | 'line' | 'body' = 'lineStart';
  /** The current field (and its continuation lines) is being dropped. */
  private dropping = false;
  private name: Buffer[] = [];
  private nameLength = 0;

  constructor(private readonly removals: readonly string[]) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let from = 0;
    let i = 0;
    const emit = (end: number): void => {
      if (end > from && !this.dropping) this.push(chunk.subarray(from, end));
      from = end;
    };
    while (i < chunk.length && this.phase !== 'body') {
      const b = chunk[i]!;
      if (this.phase === 'lineStart') {
        if (b === SP || b === HTAB) {
          this.phase = 'line';
          continue;
        }
        // A new field (or the end of the header section): what came before is decided.
        emit(i);
        this.dropping = false;
        if (b === CR || b === LF) {
          this.phase = 'body';
          break;
        }
        this.phase = 'name';
        from = i;
        this.name = [];
        this.nameLength = 0;
      }
      if (this.phase === 'name') {
        const colon = chunk.indexOf(COLON, i);
        const end = colon < 0 ? chunk.length : colon;
        // A line end or an over-long name before the colon: no field, the header section ended.
        const lf = chunk.subarray(i, end).indexOf(LF);
        if (lf >= 0 || this.nameLength + (end - i) > MAX_NAME) {
          this.flushName();
          this.phase = 'body';
          break;
        }
        if (colon < 0) {
          // The name goes on in the next chunk: keep its bytes (bounded) and decide there.
          this.name.push(Buffer.from(chunk.subarray(from)));
          this.nameLength += chunk.length - from;
          from = chunk.length;
          i = chunk.length;
          break;
        }
        const name = Buffer.concat([...this.name, chunk.subarray(from, colon)]).toString('latin1');
        if (!FIELD_NAME.test(name)) {
          // "Subject : x" or "a b: c": no field name, so the header section ended (as parseHeaderSection reads it).
          this.flushName();
          this.phase = 'body';
          break;
        }
        this.dropping = isRemoved(name, this.removals);
        if (!this.dropping) this.flushName();
        else this.name = [];
        this.nameLength = 0;
        this.phase = 'line';
        i = colon;
      }
      if (this.phase === 'line') {
        const lf = chunk.indexOf(LF, i);
        if (lf < 0) {
          i = chunk.length;
          break;
        }
        i = lf + 1;
        this.phase = 'lineStart';
      }
    }
    if (this.phase === 'body') this.dropping = false;
    emit(chunk.length);
    done();
  }

  override _flush(done: TransformCallback): void {
    // The message ended inside a field name: those bytes are no field, pass them on.
    this.flushName();
    done();
  }

  /** Passes on the held-back bytes of a name once it is known to stay. */
  private flushName(): void {
    for (const part of this.name) this.push(part);
    this.name = [];
    this.nameLength = 0;
  }
}
