/*
 * The clamav plugin's parts without clamd: clamd's answers parsed (a table), the
 * scan slots (bound, order, wait limit, full wait list), and the INSTREAM client
 * against small TCP servers that play clamd's failures: an ERROR answer, the size
 * limit (answer, then close while we still send), nonsense, a close without an
 * answer, silence (timeout), nothing listening, and a reader slower than the file,
 * which must hold the client back (back-pressure) rather than fill memory.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { scanStream } from '../../../plugins/clamav/clamd-client.js';
import { parseReply, ScanFailure } from '../../../plugins/clamav/reply.js';
import { ScanSlots } from '../../../plugins/clamav/slots.js';

describe('clamd answers', () => {
  const cases: { raw: string; expect: string; why: string }[] = [
    { raw: 'stream: OK\0', expect: 'clean', why: 'the only clean answer' },
    { raw: 'stream: Eicar-Test-Signature FOUND\0', expect: 'infected Eicar-Test-Signature', why: 'a signature name' },
    {
      raw: 'stream: Win.Test.EICAR_HDB-1.UNOFFICIAL FOUND\0',
      expect: 'infected Win.Test.EICAR_HDB-1.UNOFFICIAL',
      why: 'unofficial database names keep their suffix',
    },
    { raw: 'stream: OK\n', expect: 'clean', why: 'the newline form (nINSTREAM) as well' },
    { raw: 'INSTREAM size limit exceeded. ERROR\0', expect: 'size-limit', why: 'StreamMaxLength' },
    { raw: "Can't allocate memory ERROR\0", expect: 'error', why: 'any other ERROR' },
    { raw: 'stream: OKAY\0', expect: 'protocol', why: 'not quite OK is not OK' },
    { raw: 'UNKNOWN COMMAND\0', expect: 'protocol', why: 'an old clamd without INSTREAM' },
    { raw: '', expect: 'protocol', why: 'nothing' },
    { raw: 'stream:  FOUND\0', expect: 'protocol', why: 'FOUND without a name' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.raw)} -> ${c.expect} (${c.why})`, () => {
      const r = parseReply(c.raw);
      const got = r instanceof ScanFailure ? r.kind : r.kind === 'clean' ? 'clean' : `infected ${r.virus}`;
      assert.equal(got, c.expect);
    });
  }
});

describe('scan slots', () => {
  it('runs at most `limit` at once, the rest in arrival order', async () => {
    const slots = new ScanSlots(2, 10);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (n: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(n);
      await new Promise((r) => setTimeout(r, 10));
      running--;
    };
    await Promise.all([1, 2, 3, 4, 5].map((n) => slots.run(1000, task(n))));
    assert.equal(peak, 2);
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
    assert.equal(slots.active, 0);
  });

  it('refuses a scan that waited too long, or finds the wait list full, as busy', async () => {
    const slots = new ScanSlots(1, 1);
    let release!: () => void;
    const holding = slots.run(1000, () => new Promise<void>((r) => (release = r)));
    const waiting = slots.run(50, async () => 'late');
    const full = slots.run(1000, async () => 'full');
    await assert.rejects(full, (e: unknown) => e instanceof ScanFailure && e.kind === 'busy' && /max_waiting/.test(e.message));
    await assert.rejects(
      waiting,
      (e: unknown) => e instanceof ScanFailure && e.kind === 'busy' && /within 50 ms/.test(e.message),
    );
    assert.equal(slots.queued, 0);
    release();
    await holding;
    assert.equal(await slots.run(10, async () => 'next'), 'next');
  });
});

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A fake clamd on a free port; `onConnection` plays its part. */
async function fake(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A message of `size` octets, produced on demand; `produced()` tells how much was read. */
function source(size: number): { stream: Readable; produced: () => number } {
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) return this.push(null);
      const n = Math.min(65536, size - produced);
      produced += n;
      this.push(Buffer.alloc(n, 0x61));
    },
  });
  return { stream, produced: () => produced };
}

/** Reads a whole INSTREAM request and returns the payload octets it carried, then answers `answer`. */
function instreamServer(answer: string, onPayload?: (bytes: number) => void) {
  return (socket: Socket) => {
    let buffered = Buffer.alloc(0);
    let payload = 0;
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!started) {
        if (buffered.length < 10) return;
        assert.equal(buffered.subarray(0, 10).toString(), 'zINSTREAM\0');
        buffered = buffered.subarray(10);
        started = true;
      }
      while (buffered.length >= 4) {
        const n = buffered.readUInt32BE(0);
        if (n === 0) {
          onPayload?.(payload);
          socket.end(answer);
          return;
        }
        if (buffered.length < 4 + n) return;
        payload += n;
        buffered = buffered.subarray(4 + n);
      }
    });
  };
}

const address = (port: number) => ({ host: '127.0.0.1', port });

describe('the INSTREAM client', () => {
  it('sends the whole message as length-prefixed chunks and reads the verdict', async () => {
    let seen = 0;
    const port = await fake(instreamServer('stream: Eicar-Test-Signature FOUND\0', (n) => (seen = n)));
    const verdict = await scanStream(address(port), source(300_000).stream, 5000);
    assert.deepEqual(verdict, { kind: 'infected', virus: 'Eicar-Test-Signature' });
    assert.equal(seen, 300_000);
  });

  const failures: { name: string; play: (s: Socket) => void; kind: string; message: RegExp }[] = [
    {
      name: 'clamd answers ERROR',
      play: instreamServer('lstat() failed: No such file or directory. ERROR\0'),
      kind: 'error',
      message: /lstat\(\) failed/,
    },
    {
      name: 'the size limit: clamd answers and closes while we still send',
      play: (s) => s.once('data', () => s.end('INSTREAM size limit exceeded. ERROR\0')),
      kind: 'size-limit',
      message: /size limit exceeded/,
    },
    { name: 'an answer that is none', play: instreamServer('HELLO\0'), kind: 'protocol', message: /no INSTREAM reply/ },
    {
      name: 'an endless answer',
      play: (s) => s.write(Buffer.alloc(10_000, 0x41)),
      kind: 'protocol',
      message: /more than 4096 octets/,
    },
    {
      name: 'a close without an answer',
      play: (s) => s.once('data', () => s.end()),
      kind: 'unavailable',
      message: /without an answer/,
    },
    { name: 'silence', play: () => undefined, kind: 'timeout', message: /no answer within 300 ms/ },
  ];
  for (const f of failures) {
    it(`${f.name}: a ScanFailure of kind ${f.kind}`, async () => {
      const port = await fake(f.play);
      await assert.rejects(
        scanStream(address(port), source(2_000_000).stream, 300),
        (e: unknown) => e instanceof ScanFailure && e.kind === f.kind && f.message.test(e.message),
      );
    });
  }

  it('nothing listening: unavailable at once', async () => {
    const port = await fake(() => undefined);
    servers.pop()!.close();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(
      scanStream(address(port), source(10).stream, 5000),
      (e: unknown) => e instanceof ScanFailure && e.kind === 'unavailable',
    );
  });

  it('reads the message no faster than clamd takes it (back-pressure)', async () => {
    // clamd that reads nothing: the client may have read what the socket buffers hold, not 200 MB.
    const port = await fake((s) => s.pause());
    const message = source(200 * 1024 * 1024);
    const scan = scanStream(address(port), message.stream, 1500);
    await assert.rejects(scan, (e: unknown) => e instanceof ScanFailure && e.kind === 'timeout');
    assert.ok(message.produced() < 32 * 1024 * 1024, `read ${message.produced()} octets of a message clamd did not take`);
  });
});
