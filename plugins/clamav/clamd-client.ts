/*
 * A clamd client for one command, INSTREAM (clamd(8)): the message is sent as
 * length-prefixed chunks read from the spooled file, with back-pressure (the
 * next chunk is read only once the socket took the last one), under one time
 * limit from connect to answer. Each way a scan can fail (clamd unreachable,
 * too slow, over StreamMaxLength, answering ERROR or nonsense) is a ScanFailure
 * of its own kind. Written here rather than taken from the `clamscan` package:
 * its scanStream() ignores back-pressure and never settles when clamd goes
 * silent (see the README's clamav section).
 */
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { MAX_REPLY, parseReply, ScanFailure, type ScanVerdict } from './reply.js';

export type ClamdAddress = { readonly socket: string } | { readonly host: string; readonly port: number };

export function describeAddress(address: ClamdAddress): string {
  return 'socket' in address ? address.socket : `${address.host}:${address.port}`;
}

const INSTREAM = Buffer.from('zINSTREAM\0');
const END_OF_STREAM = Buffer.alloc(4);

/** Scans `source` through clamd; resolves with the verdict, rejects with a ScanFailure. Destroys `source`. */
export function scanStream(address: ClamdAddress, source: Readable, timeoutMs: number): Promise<ScanVerdict> {
  return new Promise((resolve, reject) => {
    const where = describeAddress(address);
    const socket = 'socket' in address ? connect({ path: address.socket }) : connect({ host: address.host, port: address.port });
    const answer: Buffer[] = [];
    let answered = 0;
    let settled = false;

    const finish = (outcome: ScanVerdict | ScanFailure): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      source.destroy();
      if (outcome instanceof ScanFailure) reject(outcome);
      else resolve(outcome);
    };
    /** What clamd said so far, when it said anything: its answer wins over a reset that follows it. */
    const fromAnswer = (): ScanVerdict | ScanFailure | undefined =>
      answered > 0 ? parseReply(Buffer.concat(answer).toString('utf8')) : undefined;

    const timer = setTimeout(
      () => finish(new ScanFailure('timeout', `clamd at ${where} gave no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      answered += chunk.length;
      if (answered > MAX_REPLY) {
        finish(new ScanFailure('protocol', `clamd at ${where} answered more than ${MAX_REPLY} octets`));
        return;
      }
      answer.push(chunk);
      // z-commands end their answer with NUL.
      if (chunk.includes(0)) finish(fromAnswer()!);
    });
    socket.on('end', () => {
      finish(fromAnswer() ?? new ScanFailure('unavailable', `clamd at ${where} closed the connection without an answer`));
    });
    socket.on('error', (err) => {
      finish(fromAnswer() ?? new ScanFailure('unavailable', `clamd at ${where}: ${err.message}`, { cause: err }));
    });
    socket.on('connect', () => {
      send(socket, source, () => settled).catch((err: unknown) => {
        // A write after clamd closed (it stops reading at StreamMaxLength and answers first):
        // its answer, or the end of the connection, settles the scan. A read error is ours.
        if (err instanceof ReadError) finish(new ScanFailure('error', `reading the message: ${err.message}`, { cause: err }));
      });
    });
  });
}

class ReadError extends Error {}

async function send(socket: Socket, source: Readable, stopped: () => boolean): Promise<void> {
  socket.write(INSTREAM);
  const chunks = source[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (err) {
      if (stopped()) return;
      throw new ReadError((err as Error).message);
    }
    if (next.done || stopped()) break;
    const chunk = next.value;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(chunk.length);
    socket.write(length);
    if (!socket.write(chunk)) await drained(socket);
    if (stopped()) return;
  }
  if (!stopped()) socket.write(END_OF_STREAM);
}

/** Resolves when the socket wants more, or is gone (then the scan is settled by its events). */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
