/*
 * The SPAMC client against spamd stand-ins that misbehave on purpose (a real
 * spamd cannot be made to): one that never answers (the deadline), one that
 * answers without end (the response bound), one that closes at once, one that
 * answers an error before reading the message; and the request it writes,
 * byte for byte, over TCP and a unix socket. The real spamd is in
 * test/integration/spamassassin.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { askSpamd, requestHead, type SpamdAddress, SpamdUnavailable } from '../../../plugins/spamassassin/client.js';

const MESSAGE = 'Subject: hi\r\n\r\nbody\r\n';
const message = (text = MESSAGE) => ({ size: Buffer.byteLength(text), stream: () => Readable.from([Buffer.from(text)]) });
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function fakeSpamd(onConnection: (socket: Socket) => void, path?: string): Promise<SpamdAddress> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  servers.push(server);
  if (path) {
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return { socket: path };
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { host: '127.0.0.1', port: address.port };
}

/** Reads the whole request (until the client ends its side), then answers. */
function answering(answer: string, seen?: (request: string) => void) {
  return (socket: Socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      seen?.(Buffer.concat(chunks).toString('latin1'));
      socket.end(answer);
    });
    socket.on('error', () => {});
  };
}

const OK = 'SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE';

describe('requestHead', () => {
  it('SPAMC/1.5 with Content-length and User', () => {
    assert.equal(
      requestHead({ command: 'SYMBOLS', message: message(), user: 'alice' }),
      `SYMBOLS SPAMC/1.5\r\nContent-length: ${MESSAGE.length}\r\nUser: alice\r\n\r\n`,
    );
    assert.equal(requestHead({ command: 'PING' }), 'PING SPAMC/1.5\r\n\r\n');
  });
  it('refuses a user name that would end the header line', () => {
    assert.throws(() => requestHead({ command: 'CHECK', user: 'a\r\nSpam: True' }), RangeError);
  });
});

describe('askSpamd', () => {
  it('sends the head and the message as they are, and reads the answer (TCP)', async () => {
    let request = '';
    const address = await fakeSpamd(answering(OK, (r) => (request = r)));
    const answer = await askSpamd(address, { command: 'SYMBOLS', message: message(), timeoutMs: 2000, maxResponse: 4096 });
    assert.equal(request, `SYMBOLS SPAMC/1.5\r\nContent-length: ${MESSAGE.length}\r\n\r\n${MESSAGE}`);
    assert.deepEqual(answer.verdict, { spam: true, score: 1000, required: 5 });
    assert.equal(answer.body.toString(), 'GTUBE');
  });

  it('over a unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spamc-'));
    try {
      const address = await fakeSpamd(answering(OK), join(dir, 'spamd.sock'));
      const answer = await askSpamd(address, { command: 'CHECK', message: message(), timeoutMs: 2000, maxResponse: 4096 });
      assert.equal(answer.verdict?.score, 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a spamd that never answers: SpamdUnavailable at the deadline, not later', async () => {
    const address = await fakeSpamd((socket) => socket.on('error', () => {}));
    const t0 = performance.now();
    await assert.rejects(
      askSpamd(address, { command: 'SYMBOLS', message: message(), timeoutMs: 300, maxResponse: 4096 }),
      (err: Error) => err instanceof SpamdUnavailable && /within 300 ms/.test(err.message),
    );
    const took = performance.now() - t0;
    assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
  });

  it('a spamd that answers without end: refused at max_response, memory stays bounded', async () => {
    const address = await fakeSpamd((socket) => {
      socket.on('error', () => {});
      socket.write('SPAMD/1.1 0 EX_OK\r\nContent-length: 999999999\r\n\r\n');
      const junk = Buffer.alloc(16384, 0x41);
      const pump = () => {
        while (!socket.destroyed && socket.write(junk));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    });
    await assert.rejects(
      askSpamd(address, { command: 'SYMBOLS', message: message(), timeoutMs: 5000, maxResponse: 65536 }),
      (err: Error) => err instanceof SpamdUnavailable && /longer than 65536 octets/.test(err.message),
    );
  });

  it('a spamd that closes at once', async () => {
    const address = await fakeSpamd((socket) => socket.destroy());
    await assert.rejects(
      askSpamd(address, { command: 'SYMBOLS', message: message(), timeoutMs: 2000, maxResponse: 4096 }),
      SpamdUnavailable,
    );
  });

  it('nothing listening: SpamdUnavailable naming the address', async () => {
    const address = await fakeSpamd(() => {});
    servers.at(-1)!.close();
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(
      askSpamd(address, { command: 'CHECK', message: message(), timeoutMs: 2000, maxResponse: 4096 }),
      (err: Error) => err instanceof SpamdUnavailable && /ECONNREFUSED/.test(err.message),
    );
  });

  it("an error answered before the message was read is spamd's answer, not a write failure", async () => {
    const address = await fakeSpamd((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('SPAMD/1.0 76 Bad header line: (EOF)\r\n'));
    });
    const big = `Subject: x\r\n\r\n${'y'.repeat(4 * 1024 * 1024)}\r\n`;
    const answer = await askSpamd(address, { command: 'CHECK', message: message(big), timeoutMs: 5000, maxResponse: 4096 });
    assert.equal(answer.code, 76);
  });
});
