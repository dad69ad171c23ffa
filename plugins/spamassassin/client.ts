/*
 * A SPAMC/1.5 client: one request per connection to spamd over TCP or a unix
 * socket (CHECK, SYMBOLS, REPORT, PROCESS, PING), the message streamed from the
 * spool with back-pressure (Content-length is the spool size, known up front),
 * one deadline for the whole exchange, and the answer read up to a bound, so a
 * broken or hostile spamd costs at most `maxResponse` octets and `timeoutMs`.
 * Written here because no maintained npm client exists (spamc-stream, node-spamc
 * and spamassassin-client are unmaintained and buffer the message in memory).
 */
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseSpamdResponse, type SpamdResponse } from './response.js';

export type SpamdAddress = { readonly socket: string } | { readonly host: string; readonly port: number };

export type SpamdCommand = 'CHECK' | 'SYMBOLS' | 'REPORT' | 'PROCESS' | 'PING';

export interface SpamdRequest {
  readonly command: SpamdCommand;
  /** The message: its exact length in octets and a fresh stream of it. Not for PING. */
  readonly message?: { readonly size: number; stream(): Readable };
  /** The User: header (spamd's per-user preferences); left out when undefined. */
  readonly user?: string;
  /** For connecting, sending and reading the whole answer. */
  readonly timeoutMs: number;
  /** Longest answer taken, header and body; past it the exchange fails. */
  readonly maxResponse: number;
}

/** spamd could not be asked or did not answer properly: the caller fails open or closed. */
export class SpamdUnavailable extends Error {
  override readonly name = 'SpamdUnavailable';
}

/** The request head; `user` must be one header value (no line ends). */
export function requestHead(request: Pick<SpamdRequest, 'command' | 'message' | 'user'>): string {
  const lines = [`${request.command} SPAMC/1.5`];
  if (request.message) lines.push(`Content-length: ${request.message.size}`);
  if (request.user !== undefined) {
    if (/[\r\n]/.test(request.user)) throw new RangeError('the spamd user name holds a line end');
    lines.push(`User: ${request.user}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Asks spamd once. Rejects with SpamdUnavailable (connection, timeout, bound, protocol), never hangs. */
export function askSpamd(address: SpamdAddress, request: SpamdRequest): Promise<SpamdResponse> {
  return new Promise((resolve, reject) => {
    const where = 'socket' in address ? address.socket : `${address.host}:${address.port}`;
    // allowHalfOpen: we end our side after the message (spamc shuts down writing too) and read on.
    const socket: Socket =
      'socket' in address
        ? connect({ path: address.socket, allowHalfOpen: true })
        : connect({ host: address.host, port: address.port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err: Error | null, response?: SpamdResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(new SpamdUnavailable(`spamd at ${where}: ${err.message}`, { cause: err }));
      else resolve(response!);
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${request.timeoutMs} ms`)), request.timeoutMs);

    socket.on('connect', () => {
      socket.write(requestHead(request));
      if (!request.message) {
        socket.end();
        return;
      }
      // Back-pressure from spamd's reads throttles the file; a failure of either side is the socket's.
      pipeline(request.message.stream(), socket).catch((err: Error) => {
        // spamd may answer (an error) and close before taking all of the message: its answer counts.
        if (received === 0) finish(err);
      });
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > request.maxResponse) {
        finish(new Error(`answer longer than ${request.maxResponse} octets`));
        return;
      }
      chunks.push(chunk);
    });
    socket.on('end', () => {
      try {
        finish(null, parseSpamdResponse(Buffer.concat(chunks, received)));
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error('connection closed before the answer ended')));
  });
}
