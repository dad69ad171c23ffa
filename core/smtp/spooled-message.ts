/*
 * The spooled message as the message and queue hooks see it: its size and
 * path, a stream of it, and its header section, read and parsed once, on the
 * first request, from at most the first 256 KiB of the spool. It only reads
 * the spool: storing and committing are the queue's.
 */
import type { SpooledMessage } from '../hooks/types.js';
import { parseHeaderSection } from '../message/headers.js';
import type { HeaderField } from '../model/index.js';
import type { Spool } from '../queue/queue.js';

/** A header section longer than this is cut here: hooks see the fields that fit. */
const MAX_HEADER_READ = 256 * 1024;
const BLANK_LINE = Buffer.from('\r\n\r\n');

export function spooledMessage(spool: Spool): SpooledMessage {
  let headers: Promise<readonly HeaderField[]> | undefined;
  return {
    get size() {
      return spool.size;
    },
    get path() {
      return spool.path;
    },
    createReadStream: () => spool.createReadStream(),
    readHeaders() {
      headers ??= (async () => {
        const head = await headerBytes(spool.createReadStream(), MAX_HEADER_READ);
        return parseHeaderSection(head.toString('utf8'));
      })();
      return headers;
    },
  };
}

/**
 * The start of a message: the reads up to the one that holds the blank line
 * ending its header section, or the first `max` octets, whichever is shorter.
 * Stops reading there (a for-await break destroys a stream).
 */
export async function headerBytes(reads: AsyncIterable<Buffer | string>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  let tail: Buffer = Buffer.alloc(0);
  for await (const read of reads) {
    const chunk = typeof read === 'string' ? Buffer.from(read) : read;
    chunks.push(chunk);
    total += chunk.length;
    if (total >= max) break;
    // The blank line may straddle two reads: look at the new bytes and the three before them,
    // so each byte is searched about once however many reads the header takes.
    const window = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    if (window.indexOf(BLANK_LINE) >= 0) break;
    tail = window.subarray(Math.max(0, window.length - 3));
  }
  return Buffer.concat(chunks, total).subarray(0, max);
}
