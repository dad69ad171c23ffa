/*
 * The message as delivered: the stored message (the gateway's Received field,
 * then what the client sent) with the header fields plugins added in the
 * message hook right after that Received field, so the trace field stays on
 * top (RFC 5321 4.4), and the client's header section after it without the
 * fields plugins removed (transaction.removeHeader), otherwise unchanged. Local
 * and remote delivery, the deliver hook, forwards and the original a bounce
 * returns all read it. A stream: it looks only at the first header field and
 * passes every byte on as it comes; nothing is held in memory.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { HeaderField } from '../model/index.js';
import { RemoveFields } from './removed-fields.js';

const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const RECEIVED = 'received:';

/** The added fields as header lines. */
export function headerLines(fields: readonly HeaderField[]): Buffer {
  return Buffer.from(fields.map((f) => `${f.name}: ${f.value}\r\n`).join(''));
}

/**
 * Where the added fields go, found by looking at the first bytes: after the
 * first field when it is a Received field (the gateway's own), else on top (a
 * bounce, which has no Received field; an entry written by hand).
 */
class AfterReceived extends Transform {
  /** The first bytes, until there are enough to tell whether the message starts with "Received:". */
  private start: Buffer = Buffer.alloc(0);
  private phase: 'start' | 'received' | 'done' = 'start';
  /** The last byte seen ended a line: the next one either continues the field (SP, HTAB) or starts the next. */
  private atLineStart = false;

  constructor(private readonly lines: Buffer) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.phase === 'start') {
      this.start = Buffer.concat([this.start, chunk]);
      if (this.start.length < RECEIVED.length) {
        done();
        return;
      }
      chunk = this.start;
      this.start = Buffer.alloc(0);
      this.phase = isReceived(chunk) ? 'received' : 'done';
      if (this.phase === 'done') this.push(this.lines);
    }
    if (this.phase === 'received') {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (this.atLineStart && b !== SP && b !== HTAB) {
          this.phase = 'done';
          if (i > 0) this.push(chunk.subarray(0, i));
          this.push(this.lines);
          chunk = chunk.subarray(i);
          break;
        }
        this.atLineStart = b === LF;
      }
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.phase === 'start') {
      // Shorter than "Received:": the fields go on top.
      this.push(this.lines);
      if (this.start.length) this.push(this.start);
    } else if (this.phase === 'received') {
      // The message ends with its Received field; one without a line end (written by hand) gets one.
      if (!this.atLineStart) this.push('\r\n');
      this.push(this.lines);
    }
    done();
  }
}

function isReceived(start: Buffer): boolean {
  return start.subarray(0, RECEIVED.length).toString('latin1').toLowerCase() === RECEIVED;
}

/**
 * `stored` without the client's fields named in `removed` (removed-fields.ts) and with
 * `added` after its Received field; `stored` itself when nothing was added or removed.
 */
export function deliveredMessage(stored: Readable, added: readonly HeaderField[], removed: readonly string[] = []): Readable {
  let out = stored;
  // Removal first, so a field a plugin added is never removed again (remove, then add: a replacement).
  if (removed.length) out = chain(out, new RemoveFields(removed));
  if (added.length) out = chain(out, new AfterReceived(headerLines(added)));
  return out;
}

function chain(from: Readable, to: Transform): Readable {
  // Errors travel on (a damaged entry must fail the attempt, not end the message early).
  from.on('error', (err) => to.destroy(err));
  to.on('close', () => {
    if (!from.destroyed) from.destroy();
  });
  return from.pipe(to);
}

/** A stream that fails at once: the message to deliver is missing. */
export function missingMessage(what: string): Readable {
  return new Readable({
    read() {
      this.destroy(new Error(`${what} is missing or damaged`));
    },
  });
}
