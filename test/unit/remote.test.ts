/*
 * Remote delivery (core/delivery/remote/) against real SMTP servers: aiosmtpd
 * peers that accept, refuse, drop, greet 421, offer STARTTLS or AUTH; then the
 * connection cache reusing, expiring and closing connections.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ConnectionCache } from '../../core/delivery/remote/cache.js';
import { loadSmtpClient, SmtpClientConnection } from '../../core/delivery/remote/client.js';
import {
  deliverRemote,
  type RecipientOutcome,
  type RemoteDelivery,
  type RemoteHost,
} from '../../core/delivery/remote/deliver.js';
import { replyLine, replyText } from '../../core/model/index.js';
import { type Peer, type PeerMode, startPeer, storedMessages } from '../harness/peer.js';

const CRLF = '\r\n';
/** Lines starting with dots, a lone dot and a lone "..": all must survive dot-stuffing. */
const MESSAGE = Buffer.from(
  [
    'From: sender@origin.test',
    'To: rcpt@dest.test',
    'Subject: remote delivery',
    '',
    '.leading dot',
    '..two dots',
    '.',
    '..',
    'last line',
    '',
  ].join(CRLF),
);

function delivery(port: number, extra: Partial<RemoteDelivery> = {}): RemoteDelivery {
  return {
    hosts: [{ host: '127.0.0.1', port, name: `mx-${port}.dest.test` }],
    helo: 'qgate.origin.test',
    tls: 'opportunistic',
    sender: 'sender@origin.test',
    recipients: ['rcpt@dest.test'],
    message: () => Readable.from([MESSAGE]),
    size: MESSAGE.length,
    timeouts: { connectMs: 2_000, greetingMs: 2_000, socketMs: 5_000 },
    ...extra,
  };
}

function results(outcomes: readonly RecipientOutcome[]): string[] {
  return outcomes.map((o) => `${o.recipient} ${o.result}`);
}

/** The peer's log from `offset` on, once it matches `until` (its stderr arrives on its own time). */
async function peerLog(p: Peer, offset: number, until: RegExp): Promise<string> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const text = p.log().slice(offset);
    if (until.test(text)) return text;
    if (Date.now() > deadline) assert.fail(`peer log never matched ${until}:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The peer's log lines for its connection number `n`, once one of them matches `until`. */
async function connectionLog(p: Peer, n: number, until: RegExp): Promise<string> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const address = new RegExp(`(\\('127\\.0\\.0\\.1', \\d+\\)) session ${n}$`, 'm').exec(p.log())?.[1];
    const lines = address
      ? p
          .log()
          .split('\n')
          .filter((line) => line.includes(address))
          .join('\n')
      : '';
    if (until.test(lines)) return lines;
    if (Date.now() > deadline) assert.fail(`peer log for session ${n} never matched ${until}:\n${p.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Numbers of the connections the peer logged from `offset` on. */
function sessionsLogged(p: Peer, offset: number): number[] {
  return [
    ...p
      .log()
      .slice(offset)
      .matchAll(/\) session (\d+)$/gm),
  ].map((m) => Number(m[1]));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A port on 127.0.0.1 with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Accepts connections and never says a word, like a host behind a broken firewall. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('SmtpClientConnection steps', () => {
  test('a step leaves the connection as it settles, fails when the connection ends, and none starts after', async () => {
    const server = await silentServer();
    try {
      await loadSmtpClient();
      const session = new SmtpClientConnection({ host: '127.0.0.1', port: server.port, secure: false, ignoreTLS: true });
      const inFlight = (session as unknown as { inFlight: Set<unknown> }).inFlight;
      assert.equal(await session.step<number>((resolve) => resolve(1)), 1);
      assert.equal(inFlight.size, 0, 'a settled step keeps nothing attached to the connection');
      // The server never greets: the connect step is in flight until the server hangs up.
      const connecting = session.step<void>((resolve, reject) => session.conn.connect((err) => (err ? reject(err) : resolve())));
      assert.equal(inFlight.size, 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await server.close();
      await assert.rejects(connecting);
      await session.gone;
      assert.equal(session.broken, true);
      let started = false;
      await assert.rejects(session.step(() => (started = true)));
      assert.equal(started, false, 'no command on a connection that has ended');
      assert.equal(inFlight.size, 0);
    } finally {
      await server.close();
    }
  });
});

describe('deliverRemote against aiosmtpd peers', () => {
  const modes: PeerMode[] = [
    'accept',
    'tempfail-then-accept',
    'reject-rcpt',
    'reject-data',
    'drop-mid-data',
    'greet-421',
    'starttls',
    'auth',
  ];
  const peers = new Map<PeerMode, Peer>();
  const peer = (mode: PeerMode): Peer => peers.get(mode)!;
  const stored = (mode: PeerMode) => storedMessages(peer(mode).store);

  before(async () => {
    const started = await Promise.allSettled(modes.map(async (mode) => peers.set(mode, await startPeer(mode))));
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) throw failure.reason;
  });

  after(async () => {
    await Promise.all([...peers.values()].map((p) => p.stop()));
  });

  test('delivers the message byte for byte, dot-stuffing undone by the peer', async () => {
    const before = (await stored('accept')).length;
    const r = await deliverRemote(delivery(peer('accept').port, { recipients: ['one@dest.test', 'two@dest.test'] }));
    assert.deepEqual(results(r.outcomes), ['one@dest.test delivered', 'two@dest.test delivered']);
    const host = `mx-${peer('accept').port}.dest.test`;
    assert.equal(r.host, host);
    assert.equal(r.tls, undefined);
    for (const o of r.outcomes) {
      assert.equal(o.reply.host, host);
      assert.deepEqual([o.reply.code, o.reply.enhanced], [250, '2.0.0']);
      assert.match(replyLine(o.reply), /^250 2\.0\.0 Ok: queued as \d+$/);
    }
    const messages = await stored('accept');
    assert.equal(messages.length, before + 1);
    const m = messages.at(-1)!;
    assert.deepEqual(m.data, MESSAGE);
    assert.equal(m.mailFrom, 'sender@origin.test');
    assert.deepEqual(m.rcptTos, ['one@dest.test', 'two@dest.test']);
    assert.deepEqual(m.mailOptions, [`SIZE=${MESSAGE.length}`]);
    assert.equal(m.helo, 'qgate.origin.test');
  });

  test('a small body and its final dot leave in one write', async () => {
    // Each write is a system call and a wakeup of the server; nodemailer makes one per chunk.
    const writev = Socket.prototype._writev!;
    const batches: string[] = [];
    Socket.prototype._writev = function (this: Socket, chunks, callback) {
      batches.push(Buffer.concat(chunks.map((c) => Buffer.from(c.chunk as Buffer))).toString('latin1'));
      return writev.call(this, chunks, callback);
    };
    try {
      const r = await deliverRemote(delivery(peer('accept').port, { recipients: ['onewrite@dest.test'] }));
      assert.deepEqual(results(r.outcomes), ['onewrite@dest.test delivered']);
    } finally {
      Socket.prototype._writev = writev;
    }
    assert.ok(
      batches.some((b) => b.startsWith('From: sender@origin.test') && b.endsWith('last line\r\n.\r\n')),
      `no write carried the body and the final dot: ${JSON.stringify(batches)}`,
    );
  });

  test('streams a large message in many chunks', async () => {
    const line = `${'x'.repeat(70)}${CRLF}.${'y'.repeat(20)}${CRLF}`;
    const chunk = Buffer.from(line.repeat(700));
    const r = await deliverRemote(
      delivery(peer('accept').port, { message: () => Readable.from(Array.from({ length: 40 }, () => chunk)), size: undefined }),
    );
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    const m = (await stored('accept')).at(-1)!;
    assert.deepEqual(m.data, Buffer.concat(Array.from({ length: 40 }, () => chunk)));
    assert.deepEqual(m.mailOptions, []);
  });

  test('the null sender goes out as MAIL FROM:<>', async () => {
    const r = await deliverRemote(delivery(peer('accept').port, { sender: '' }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    // aiosmtpd hands its handler the null reverse-path as "<>".
    assert.equal((await stored('accept')).at(-1)!.mailFrom, '<>');
  });

  test('451 at the end of DATA defers; the next attempt delivers', async () => {
    const first = await deliverRemote(delivery(peer('tempfail-then-accept').port));
    assert.deepEqual(first.outcomes, [
      {
        recipient: 'rcpt@dest.test',
        result: 'deferred',
        reply: {
          code: 451,
          enhanced: '4.3.0',
          text: 'Temporary failure, try again later',
          host: `mx-${peer('tempfail-then-accept').port}.dest.test`,
        },
      },
    ]);
    assert.equal((await stored('tempfail-then-accept')).length, 0);
    const second = await deliverRemote(delivery(peer('tempfail-then-accept').port));
    assert.deepEqual(results(second.outcomes), ['rcpt@dest.test delivered']);
    assert.deepEqual((await stored('tempfail-then-accept'))[0]!.data, MESSAGE);
  });

  test('550 to one RCPT fails that recipient; the others are delivered in the same transaction', async () => {
    const r = await deliverRemote(
      delivery(peer('reject-rcpt').port, { recipients: ['good1@dest.test', 'bad1@dest.test', 'good2@dest.test'] }),
    );
    assert.deepEqual(results(r.outcomes), ['good1@dest.test delivered', 'bad1@dest.test failed', 'good2@dest.test delivered']);
    assert.equal(replyLine(r.outcomes[1]!.reply), '550 5.1.1 <bad1@dest.test>: mailbox unavailable');
    assert.equal(r.outcomes[1]!.reply.enhanced, '5.1.1');
    const messages = await stored('reject-rcpt');
    assert.equal(messages.length, 1);
    assert.deepEqual(messages[0]!.rcptTos, ['good1@dest.test', 'good2@dest.test']);
  });

  test('no DATA when every RCPT is rejected', async () => {
    const before = (await stored('reject-rcpt')).length;
    const logged = peer('reject-rcpt').log().length;
    const r = await deliverRemote(delivery(peer('reject-rcpt').port, { recipients: ['bad1@dest.test', 'bad2@dest.test'] }));
    assert.deepEqual(results(r.outcomes), ['bad1@dest.test failed', 'bad2@dest.test failed']);
    assert.equal((await stored('reject-rcpt')).length, before);
    const session = await peerLog(peer('reject-rcpt'), logged, /connection lost/);
    assert.doesNotMatch(session, />> b'DATA'/);
  });

  test('554 at the end of DATA fails every recipient', async () => {
    const r = await deliverRemote(delivery(peer('reject-data').port, { recipients: ['a@dest.test', 'b@dest.test'] }));
    assert.deepEqual(results(r.outcomes), ['a@dest.test failed', 'b@dest.test failed']);
    for (const o of r.outcomes) assert.equal(replyLine(o.reply), '554 5.6.0 Message content rejected');
  });

  test('a connection dropped in the middle of DATA defers every recipient', async () => {
    const logged = peer('drop-mid-data').log().length;
    const chunk = Buffer.from(`${'z'.repeat(998)}${CRLF}`.repeat(64));
    const r = await deliverRemote(
      delivery(peer('drop-mid-data').port, {
        recipients: ['a@dest.test', 'b@dest.test'],
        message: () => Readable.from(Array.from({ length: 64 }, () => chunk)),
        size: undefined,
      }),
    );
    assert.deepEqual(results(r.outcomes), ['a@dest.test deferred', 'b@dest.test deferred']);
    for (const o of r.outcomes) {
      assert.equal(o.reply.host, `mx-${peer('drop-mid-data').port}.dest.test`);
      assert.deepEqual([o.reply.code, o.reply.enhanced], [451, '4.4.2']);
      assert.match(replyText(o.reply), /failed during the transaction/);
    }
    await peerLog(peer('drop-mid-data'), logged, /dropping the connection in the middle of DATA/);
  });

  test('a 421 greeting sends the transaction to the next host', async () => {
    const hosts: RemoteHost[] = [
      { host: '127.0.0.1', port: peer('greet-421').port, name: 'mx1.dest.test' },
      { host: '127.0.0.1', port: peer('accept').port, name: 'mx2.dest.test' },
    ];
    const r = await deliverRemote(delivery(0, { hosts }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    assert.equal(r.host, 'mx2.dest.test');
    assert.equal(r.outcomes[0]!.reply.host, 'mx2.dest.test');
  });

  test('a refused connection sends the transaction to the next host', async () => {
    const hosts: RemoteHost[] = [
      { host: '127.0.0.1', port: await closedPort(), name: 'mx1.dest.test' },
      { host: '127.0.0.1', port: peer('accept').port, name: 'mx2.dest.test' },
    ];
    const r = await deliverRemote(delivery(0, { hosts }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    assert.equal(r.host, 'mx2.dest.test');
  });

  test('a host that never greets is given up after greetingMs', async () => {
    const silent = await silentServer();
    try {
      const hosts: RemoteHost[] = [
        { host: '127.0.0.1', port: silent.port, name: 'mx1.dest.test' },
        { host: '127.0.0.1', port: peer('accept').port, name: 'mx2.dest.test' },
      ];
      const started = Date.now();
      const r = await deliverRemote(delivery(0, { hosts, timeouts: { connectMs: 1_000, greetingMs: 300, socketMs: 5_000 } }));
      assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
      assert.equal(r.host, 'mx2.dest.test');
      assert.ok(Date.now() - started < 2_000);
    } finally {
      await silent.close();
    }
  });

  test('when no host greets 2xx every recipient is deferred without a host', async () => {
    const hosts: RemoteHost[] = [
      { host: '127.0.0.1', port: await closedPort(), name: 'mx1.dest.test' },
      { host: '127.0.0.1', port: peer('greet-421').port, name: 'mx2.dest.test' },
    ];
    const r = await deliverRemote(delivery(0, { hosts, recipients: ['a@dest.test', 'b@dest.test'] }));
    assert.deepEqual(results(r.outcomes), ['a@dest.test deferred', 'b@dest.test deferred']);
    assert.equal(r.host, undefined);
    for (const o of r.outcomes) {
      assert.equal(o.reply.host, undefined);
      assert.deepEqual([o.reply.code, o.reply.enhanced], [451, '4.4.1']);
      assert.match(replyText(o.reply), /mx1\.dest\.test: connect ECONNREFUSED/);
      assert.match(replyText(o.reply), /mx2\.dest\.test: 421 4\.3\.2/);
    }
  });

  test('STARTTLS is used when offered and reported', async () => {
    const r = await deliverRemote(delivery(peer('starttls').port));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    assert.ok(r.tls);
    assert.match(r.tls.protocol, /^TLSv1\.[23]$/);
    assert.ok(r.tls.cipher.length > 0);
    const m = (await stored('starttls')).at(-1)!;
    assert.equal(m.tls, true);
    assert.deepEqual(m.data, MESSAGE);
  });

  test("tls: 'none' never starts TLS", async () => {
    const r = await deliverRemote(delivery(peer('starttls').port, { tls: 'none' }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    assert.equal(r.tls, undefined);
    assert.equal((await stored('starttls')).at(-1)!.tls, false);
  });

  test('opportunistic TLS retries in the clear when the handshake fails', async () => {
    // Verification of the self-signed certificate fails the handshake.
    const r = await deliverRemote(delivery(peer('starttls').port, { rejectUnauthorized: true }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    assert.equal(r.tls, undefined);
    assert.equal((await stored('starttls')).at(-1)!.tls, false);
  });

  test("tls: 'required' defers when the server does not offer STARTTLS", async () => {
    const before = (await stored('accept')).length;
    const r = await deliverRemote(delivery(peer('accept').port, { tls: 'required' }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test deferred']);
    assert.deepEqual([r.outcomes[0]!.reply.code, r.outcomes[0]!.reply.enhanced], [451, '4.7.4']);
    assert.match(replyText(r.outcomes[0]!.reply), /did not start TLS/);
    assert.equal(r.outcomes[0]!.reply.host, `mx-${peer('accept').port}.dest.test`);
    assert.equal((await stored('accept')).length, before);
  });

  test("tls: 'required' verifies the certificate unless told otherwise", async () => {
    const strict = await deliverRemote(delivery(peer('starttls').port, { tls: 'required' }));
    assert.deepEqual(results(strict.outcomes), ['rcpt@dest.test deferred']);
    assert.equal(strict.outcomes[0]!.reply.enhanced, '4.7.5');
    assert.match(replyText(strict.outcomes[0]!.reply), /TLS negotiation .* failed: .*certificate/);
    const lenient = await deliverRemote(delivery(peer('starttls').port, { tls: 'required', rejectUnauthorized: false }));
    assert.deepEqual(results(lenient.outcomes), ['rcpt@dest.test delivered']);
    assert.ok(lenient.tls);
  });

  test('AUTH with the right password delivers', async () => {
    const r = await deliverRemote(delivery(peer('auth').port, { auth: { user: 'u', pass: 'p' } }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test delivered']);
    const m = (await stored('auth')).at(-1)!;
    assert.equal(m.auth, 'u');
    assert.deepEqual(m.data, MESSAGE);
  });

  test('535 to AUTH defers: the credentials are wrong, not the message', async () => {
    const r = await deliverRemote(delivery(peer('auth').port, { auth: { user: 'u', pass: 'wrong' } }));
    assert.deepEqual(results(r.outcomes), ['rcpt@dest.test deferred']);
    assert.deepEqual([r.outcomes[0]!.reply.code, r.outcomes[0]!.reply.enhanced], [451, '4.7.0']);
    assert.match(replyText(r.outcomes[0]!.reply), /535 5\.7\.8 Authentication credentials invalid/);
  });

  test('530 to MAIL FROM without AUTH fails every recipient', async () => {
    const r = await deliverRemote(delivery(peer('auth').port, { recipients: ['a@dest.test', 'b@dest.test'] }));
    assert.deepEqual(results(r.outcomes), ['a@dest.test failed', 'b@dest.test failed']);
    for (const o of r.outcomes) assert.equal(replyLine(o.reply), '530 5.7.0 Authentication required');
  });

  test('addresses SMTP cannot carry fail before any connection', async () => {
    const r = await deliverRemote(
      delivery(peer('accept').port, { recipients: ['bad<>@dest.test', 'ok@dest.test', 'cr\r\n@dest.test'] }),
    );
    assert.deepEqual(results(r.outcomes), ['bad<>@dest.test failed', 'ok@dest.test delivered', 'cr\r\n@dest.test failed']);
    assert.deepEqual(
      [r.outcomes[0]!.reply.code, r.outcomes[0]!.reply.enhanced, r.outcomes[0]!.reply.host],
      [550, '5.1.3', undefined],
    );
    assert.deepEqual((await stored('accept')).at(-1)!.rcptTos, ['ok@dest.test']);
  });

  test('no recipients means no connection', async () => {
    let opened = 0;
    const r = await deliverRemote(
      delivery(peer('accept').port, {
        recipients: [],
        message: () => {
          opened++;
          return Readable.from([MESSAGE]);
        },
      }),
    );
    assert.deepEqual(r.outcomes, []);
    assert.equal(opened, 0);
  });

  test('leaves no socket or timer behind', async () => {
    const handles = () =>
      process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TLSWrap' || kind === 'Timeout');
    const baseline = handles();
    await deliverRemote(delivery(peer('starttls').port, { recipients: ['a@dest.test'] }));
    await deliverRemote(delivery(peer('drop-mid-data').port));
    await deliverRemote(delivery(peer('greet-421').port));
    assert.deepEqual(handles(), baseline);
  });
});

describe('deliverRemote with a ConnectionCache', () => {
  const modes: PeerMode[] = ['accept', 'reject-rcpt', 'reject-data', 'one-message-421', 'one-message-drop', 'starttls', 'auth'];
  const peers = new Map<PeerMode | 'hangs-up', Peer>();
  const peer = (mode: PeerMode | 'hangs-up'): Peer => peers.get(mode)!;
  let serial = 0;
  /** A recipient no other delivery uses, to find its message in the peer's store. */
  const fresh = () => `cache${++serial}@dest.test`;
  /** The connection the message to `recipient` came on. */
  const sessionOf = async (mode: PeerMode | 'hangs-up', recipient: string): Promise<number> => {
    const m = (await storedMessages(peer(mode).store)).find((x) => x.rcptTos.includes(recipient));
    assert.ok(m, `${recipient} was not stored`);
    return m.session;
  };
  /** Delivers to a fresh recipient, which it returns. */
  const deliverOne = async (
    mode: PeerMode | 'hangs-up',
    cache: ConnectionCache | undefined,
    extra: Partial<RemoteDelivery> = {},
  ): Promise<string> => {
    const recipient = fresh();
    const r = await deliverRemote(delivery(peer(mode).port, { recipients: [recipient], ...extra }), cache);
    assert.deepEqual(results(r.outcomes), [`${recipient} delivered`]);
    return recipient;
  };
  /** Delivers to a fresh recipient and tells which connection carried it. */
  const send = async (
    mode: PeerMode | 'hangs-up',
    cache: ConnectionCache | undefined,
    extra: Partial<RemoteDelivery> = {},
  ): Promise<number> => sessionOf(mode, await deliverOne(mode, cache, extra));

  before(async () => {
    const started = await Promise.allSettled([
      ...modes.map(async (mode) => peers.set(mode, await startPeer(mode))),
      (async () => peers.set('hangs-up', await startPeer('accept', { idleTimeoutMs: 300 })))(),
    ]);
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) throw failure.reason;
  });

  after(async () => {
    await Promise.all([...peers.values()].map((p) => p.stop()));
  });

  test('without a cache every delivery has a connection of its own, ended with QUIT', async () => {
    const first = await send('accept', undefined);
    const second = await send('accept', undefined);
    assert.notEqual(first, second);
    for (const n of [first, second]) {
      const lines = await connectionLog(peer('accept'), n, /connection lost/);
      assert.match(lines, />> b'QUIT'/);
      assert.doesNotMatch(lines, />> b'RSET'/);
    }
  });

  test('deliveries in a row share one connection, MAIL right after the reply to DATA (no RSET)', async () => {
    const cache = new ConnectionCache();
    try {
      const first = await send('accept', cache);
      assert.equal(cache.size, 1);
      const second = await send('accept', cache);
      const third = await send('accept', cache);
      assert.equal(second, first);
      assert.equal(third, first);
      assert.equal(cache.size, 1);
      const lines = await connectionLog(peer('accept'), first, /(DATA stored as.*){3}/s);
      // RFC 5321 4.1.1.5: after a completed transaction RSET would change nothing.
      assert.doesNotMatch(lines, />> b'RSET'/);
      assert.match(lines, /DATA stored as.*\n.*>> b'MAIL FROM.*DATA stored as.*\n.*>> b'MAIL FROM/s);
      assert.doesNotMatch(lines, />> b'QUIT'/);
      assert.equal((await connectionLog(peer('accept'), first, /EHLO/)).match(/>> b'EHLO/g)?.length, 1);
    } finally {
      await cache.close();
    }
  });

  test('close() QUITs the idle connections and resolves once they are closed', async () => {
    const cache = new ConnectionCache();
    const plain = await send('accept', cache);
    const secure = await send('starttls', cache);
    assert.equal(cache.size, 2);
    await cache.close();
    assert.equal(cache.size, 0);
    for (const [mode, n] of [
      ['accept', plain],
      ['starttls', secure],
    ] as const) {
      const lines = await connectionLog(peer(mode), n, /connection lost/);
      assert.match(lines, />> b'QUIT'.*connection lost/s);
    }
    // A closed cache keeps nothing: the next delivery QUITs as without one.
    const after = await send('accept', cache);
    assert.equal(cache.size, 0);
    assert.match(await connectionLog(peer('accept'), after, /connection lost/), />> b'QUIT'/);
  });

  test('a delivery after idleMs opens a new connection; the idle one was QUIT', async () => {
    const cache = new ConnectionCache({ idleMs: 100 });
    try {
      const recipient = await deliverOne('accept', cache);
      assert.equal(cache.size, 1);
      const first = await sessionOf('accept', recipient);
      assert.match(await connectionLog(peer('accept'), first, /connection lost/), />> b'QUIT'/);
      assert.equal(cache.size, 0);
      const second = await send('accept', cache);
      assert.notEqual(second, first);
    } finally {
      await cache.close();
    }
  });

  test('a connection the server closed while idle is dropped; the next delivery opens a new one', async () => {
    const cache = new ConnectionCache({ idleMs: 10_000 });
    try {
      const recipient = await deliverOne('hangs-up', cache);
      assert.equal(cache.size, 1);
      const first = await sessionOf('hangs-up', recipient);
      // The peer hangs up on a client silent for 300 ms.
      await connectionLog(peer('hangs-up'), first, /connection timeout/);
      await until(() => cache.size === 0, 'the cache noticed the server hang up');
      const second = await send('hangs-up', cache);
      assert.notEqual(second, first);
      assert.doesNotMatch(await connectionLog(peer('hangs-up'), first, /connection lost/), />> b'(RSET|QUIT)'/);
    } finally {
      await cache.close();
    }
  });

  for (const mode of ['one-message-421', 'one-message-drop'] as const) {
    test(`a reused connection that ends at MAIL (${mode}) is replaced by a fresh one that delivers`, async () => {
      const cache = new ConnectionCache();
      try {
        const first = await send(mode, cache);
        assert.equal(cache.size, 1);
        const second = await send(mode, cache);
        assert.notEqual(second, first);
        const lines = await connectionLog(peer(mode), first, /connection lost/);
        assert.match(lines, /ending the connection at MAIL number 2/);
        assert.doesNotMatch(lines, />> b'(RSET|QUIT)'/);
        // The fresh connection ended cleanly, so it waits in turn.
        assert.equal(cache.size, 1);
      } finally {
        await cache.close();
      }
    });
  }

  test('concurrent deliveries never share a connection', async () => {
    const cache = new ConnectionCache();
    try {
      const round = () => Promise.all([send('accept', cache), send('accept', cache), send('accept', cache)]);
      const first = await round();
      assert.equal(new Set(first).size, 3);
      // Two wait (maxPerDestination); the third was QUIT.
      assert.equal(cache.size, 2);
      const second = await round();
      assert.equal(new Set(second).size, 3);
      assert.equal(second.filter((n) => first.includes(n)).length, 2);
      assert.equal(cache.size, 2);
    } finally {
      await cache.close();
    }
  });

  test('every RCPT refused: RSET, and the connection carries the next delivery', async () => {
    const cache = new ConnectionCache();
    try {
      const logged = peer('reject-rcpt').log().length;
      const refused = await deliverRemote(delivery(peer('reject-rcpt').port, { recipients: ['bad1@dest.test'] }), cache);
      assert.deepEqual(results(refused.outcomes), ['bad1@dest.test failed']);
      assert.equal(cache.size, 1);
      const n = await send('reject-rcpt', cache);
      assert.deepEqual(sessionsLogged(peer('reject-rcpt'), logged), [n]);
      const lines = await connectionLog(peer('reject-rcpt'), n, /DATA stored as/);
      // RSET ends the refused transaction (the server may still hold its MAIL); the next one needs none.
      assert.match(lines, /RCPT TO:<bad1@dest\.test> rejected.*>> b'RSET'.*\n.*>> b'MAIL FROM/s);
      assert.equal(lines.match(/>> b'RSET'/g)?.length, 1);
    } finally {
      await cache.close();
    }
  });

  test('a refused MAIL or DATA ends the connection with QUIT', async () => {
    const cache = new ConnectionCache();
    try {
      for (const mode of ['reject-data', 'auth'] as const) {
        const logged = peer(mode).log().length;
        for (let i = 0; i < 2; i++) {
          const r = await deliverRemote(delivery(peer(mode).port), cache);
          assert.deepEqual(results(r.outcomes), ['rcpt@dest.test failed']);
          assert.equal(cache.size, 0);
        }
        const sessions = sessionsLogged(peer(mode), logged);
        assert.equal(sessions.length, 2);
        for (const n of sessions) assert.match(await connectionLog(peer(mode), n, /connection lost/), />> b'QUIT'/);
      }
    } finally {
      await cache.close();
    }
  });

  test('STARTTLS and AUTH carry over to the reused connection', async () => {
    const cache = new ConnectionCache();
    try {
      const first = await send('starttls', cache);
      const recipient = fresh();
      const r = await deliverRemote(delivery(peer('starttls').port, { recipients: [recipient] }), cache);
      assert.equal(await sessionOf('starttls', recipient), first);
      assert.ok(r.tls);
      assert.match(r.tls.protocol, /^TLSv1\.[23]$/);
      const m = (await storedMessages(peer('starttls').store)).find((x) => x.rcptTos.includes(recipient))!;
      assert.equal(m.tls, true);

      const auth = { user: 'u', pass: 'p' };
      const authed = await send('auth', cache, { auth });
      assert.equal(await send('auth', cache, { auth }), authed);
      const lines = await connectionLog(peer('auth'), authed, /(DATA stored as.*){2}/s);
      assert.equal(lines.match(/AUTH \w+ accepted/g)?.length, 1);
    } finally {
      await cache.close();
    }
  });

  test('a connection serves only deliveries that would open the same one', async () => {
    const cache = new ConnectionCache();
    try {
      const base = await send('accept', cache);
      const otherHelo = await send('accept', cache, { helo: 'other.origin.test' });
      const noTls = await send('accept', cache, { tls: 'none' });
      assert.equal(new Set([base, otherHelo, noTls]).size, 3);
      assert.equal(await send('accept', cache, { helo: 'other.origin.test' }), otherHelo);
      assert.equal(await send('accept', cache), base);
      assert.equal(await send('accept', cache, { tls: 'none' }), noTls);
      // Only the most preferred host's connection is taken, never one to a backup.
      const hosts: RemoteHost[] = [
        { host: '127.0.0.1', port: await closedPort(), name: 'mx1.dest.test' },
        { host: '127.0.0.1', port: peer('accept').port, name: `mx-${peer('accept').port}.dest.test` },
      ];
      const viaBackup = await send('accept', cache, { hosts });
      assert.notEqual(viaBackup, base);
    } finally {
      await cache.close();
    }
  });

  test('maxReuse bounds the transactions on one connection', async () => {
    const cache = new ConnectionCache({ maxReuse: 2 });
    try {
      const sessions = [await send('accept', cache), await send('accept', cache), await send('accept', cache)];
      assert.equal(sessions[1], sessions[0]);
      assert.notEqual(sessions[2], sessions[0]);
      assert.match(await connectionLog(peer('accept'), sessions[0]!, /connection lost/), />> b'QUIT'/);
    } finally {
      await cache.close();
    }
  });

  test('an idle connection keeps no socket or timer of the process active', async () => {
    const handles = () =>
      process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TLSWrap' || kind === 'Timeout');
    const cache = new ConnectionCache();
    try {
      const baseline = handles();
      await send('accept', cache);
      await send('starttls', cache);
      assert.equal(cache.size, 2);
      assert.deepEqual(handles(), baseline);
    } finally {
      await cache.close();
    }
  });
});
