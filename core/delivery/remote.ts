/*
 * Remote delivery: one SMTP transaction to one destination, as qmail-remote
 * does it. Hosts are tried in the caller's (MX preference) order; the first
 * one that greets 2xx gets the whole transaction and its replies decide the
 * fate of every recipient. Reply texts that are not a server's own words end in
 * a qmail-style (#x.y.z) status.
 */
import { isIP, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

export interface RemoteHost {
  readonly host: string;
  readonly port: number;
  readonly name?: string /* for Remote-MTA, e.g. the MX name */;
}

export interface RemoteDelivery {
  readonly hosts: readonly RemoteHost[];
  readonly helo: string; // our name for EHLO
  readonly tls: 'opportunistic' | 'required' | 'none';
  readonly auth?: { readonly user: string; readonly pass: string };
  readonly sender: string; // "" for the null sender
  readonly recipients: readonly string[];
  readonly message: () => Readable; // fresh stream of the message (CRLF); the client dot-stuffs
  readonly size?: number; // for SIZE= when the server offers SIZE
  readonly timeouts?: { readonly connectMs?: number; readonly greetingMs?: number; readonly socketMs?: number };
  readonly rejectUnauthorized?: boolean; // certificate verification for STARTTLS (default false for opportunistic, true for required unless overridden)
}

export type RecipientOutcome =
  | { readonly recipient: string; readonly result: 'delivered'; readonly reply: string; readonly host: string }
  | { readonly recipient: string; readonly result: 'deferred'; readonly reply: string; readonly host?: string } // 4xx or connection/timeout/TLS trouble
  | { readonly recipient: string; readonly result: 'failed'; readonly reply: string; readonly host: string }; // 5xx for this recipient (or for the whole transaction)

export interface RemoteResult {
  readonly outcomes: readonly RecipientOutcome[];
  readonly tls?: { protocol: string; cipher: string };
  readonly host?: string;
}

/** qmail-remote waits 60 s for a connection; RFC 5321 4.5.3.2 gives the greeting 5 and DATA 10 minutes. */
const DEFAULT_CONNECT_MS = 60_000;
const DEFAULT_GREETING_MS = 300_000;
const DEFAULT_SOCKET_MS = 600_000;
/** The outcome is known once QUIT is sent; a silent server must not hold the caller longer than this. */
const QUIT_WAIT_MS = 5_000;

type SMTPError = SMTPConnection.SMTPError;
type Logger = Exclude<SMTPConnection.Options['logger'], boolean | undefined>;
/** nodemailer marks each RCPT rejection with the recipient it belongs to. */
type RcptRejection = SMTPError & { recipient?: string };
/** nodemailer records RCPT progress on the envelope object it is given. */
type TrackedEnvelope = SMTPConnection.Envelope & { rejectedErrors?: RcptRejection[] };

/** A transaction-wide verdict, applied to every recipient without a RCPT reply of its own. */
interface Verdict {
  readonly result: 'delivered' | 'deferred' | 'failed';
  readonly reply: string;
}

type HostAttempt =
  /** No 2xx greeting: the next host gets its chance. */
  | { readonly kind: 'unreachable'; readonly reason: string }
  | {
      readonly kind: 'greeted';
      readonly outcomes: readonly RecipientOutcome[];
      readonly tls?: { protocol: string; cipher: string };
      /** The STARTTLS handshake broke the session; opportunistic TLS retries in the clear. */
      readonly tlsBroke: boolean;
    };

export async function deliverRemote(d: RemoteDelivery): Promise<RemoteResult> {
  const outcomes: RecipientOutcome[] = [];
  // Local refusals carry host '': no remote host was involved.
  // CR, LF, < or > cannot be written in a MAIL or RCPT command, so no server will ever take them.
  if (!sendable(d.sender, true)) {
    const reply = `sender address ${JSON.stringify(d.sender)} cannot be sent in SMTP (#5.1.7)`;
    return { outcomes: d.recipients.map((recipient) => ({ recipient, result: 'failed', reply, host: '' })) };
  }
  const recipients: string[] = [];
  for (const recipient of d.recipients) {
    if (sendable(recipient, false)) recipients.push(recipient);
    else {
      const reply = `recipient address ${JSON.stringify(recipient)} cannot be sent in SMTP (#5.1.3)`;
      outcomes.push({ recipient, result: 'failed', reply, host: '' });
    }
  }
  if (recipients.length === 0) return { outcomes: order(d.recipients, outcomes) };

  const misses: string[] = [];
  for (const target of d.hosts) {
    let attempt = await tryHost(d, target, d.tls, recipients);
    if (attempt.kind === 'greeted' && attempt.tlsBroke && d.tls === 'opportunistic') {
      // Opportunistic TLS must never cost a delivery that plain text would make.
      attempt = await tryHost(d, target, 'none', recipients);
    }
    if (attempt.kind === 'unreachable') {
      misses.push(`${label(target)}: ${attempt.reason}`);
      continue;
    }
    outcomes.push(...attempt.outcomes);
    const result = { outcomes: order(d.recipients, outcomes), host: label(target) };
    return attempt.tls ? { ...result, tls: attempt.tls } : result;
  }

  const reply =
    misses.length === 0 ? 'no host to deliver to (#4.4.1)' : `no host accepted an SMTP connection: ${misses.join('; ')} (#4.4.1)`;
  for (const recipient of recipients) outcomes.push({ recipient, result: 'deferred', reply });
  return { outcomes: order(d.recipients, outcomes) };
}

/** One SMTP session with one host. */
async function tryHost(
  d: RemoteDelivery,
  target: RemoteHost,
  tls: RemoteDelivery['tls'],
  recipients: readonly string[],
): Promise<HostAttempt> {
  const host = label(target);
  const session = new Session({
    host: target.host,
    port: target.port,
    // Without it nodemailer speaks TLS from the first byte on port 465.
    secure: false,
    name: d.helo,
    ignoreTLS: tls === 'none',
    // A refused STARTTLS continues in the clear; 'required' checks the outcome itself, so
    // nodemailer never sends STARTTLS to a server that did not offer it.
    opportunisticTLS: true,
    tls: {
      rejectUnauthorized: d.rejectUnauthorized ?? tls === 'required',
      ...(target.name && !isIP(target.name) ? { servername: target.name } : {}),
    },
    connectionTimeout: d.timeouts?.connectMs ?? DEFAULT_CONNECT_MS,
    greetingTimeout: d.timeouts?.greetingMs ?? DEFAULT_GREETING_MS,
    socketTimeout: d.timeouts?.socketMs ?? DEFAULT_SOCKET_MS,
  });
  const everyone = (verdict: Verdict): Extract<HostAttempt, { kind: 'greeted' }> => ({
    kind: 'greeted',
    outcomes: recipients.map((recipient) => outcome(recipient, verdict, host)),
    tlsBroke: false,
  });

  try {
    await session.step<void>((resolve, reject) => session.conn.connect((err) => (err ? reject(err) : resolve())));
  } catch (err) {
    // Nothing is left to QUIT: the connection is gone.
    await session.settle(false);
    if (!session.greeted) return { kind: 'unreachable', reason: describe(err) };
    const tlsBroke = session.handshaking && !session.conn.secure;
    const reply = tlsBroke
      ? `TLS negotiation with ${host} failed: ${describe(err)} (#4.7.5)`
      : `connected to ${host} but the session failed: ${describe(err)} (#4.4.2)`;
    return { ...everyone({ result: 'deferred', reply }), tlsBroke };
  }

  let quit = true;
  try {
    const tlsInfo = session.tlsInfo();
    if (tls === 'required' && !tlsInfo) {
      return everyone({ result: 'deferred', reply: `${host} did not start TLS and TLS is required (#4.7.4)` });
    }
    if (d.auth) {
      const credentials = { user: d.auth.user, pass: d.auth.pass };
      try {
        await session.step<void>((resolve, reject) => session.conn.login(credentials, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        // RFC 4954 makes 535 permanent for these credentials, not for the message: the mail
        // waits in the queue until the postmaster fixes them (Postfix: smtp_sasl_auth_soft_bounce).
        return everyone({ result: 'deferred', reply: `${host} refused our authentication: ${describe(err)} (#4.7.0)` });
      }
    }
    const envelope: TrackedEnvelope = { from: d.sender, to: [...recipients], ...(d.size ? { size: d.size } : {}) };
    let message: Readable;
    try {
      message = d.message();
    } catch (err) {
      return everyone({ result: 'deferred', reply: `cannot read the message: ${describe(err)} (#4.3.0)` });
    }
    try {
      const info = await session.step<SMTPConnection.SentMessageInfo>((resolve, reject) =>
        session.conn.send(envelope, message, (err, sent) => (err ? reject(err) : resolve(sent))),
      );
      return {
        kind: 'greeted',
        outcomes: assign(recipients, info.rejectedErrors ?? [], { result: 'delivered', reply: info.response }, host),
        ...(tlsInfo ? { tls: tlsInfo } : {}),
        tlsBroke: false,
      };
    } catch (err) {
      // A broken stream leaves the server inside DATA: closing without the final dot discards it.
      if (code(err) === 'ESTREAM') quit = false;
      return {
        kind: 'greeted',
        outcomes: assign(recipients, envelope.rejectedErrors ?? [], transactionVerdict(err, session, host), host),
        tlsBroke: false,
      };
    } finally {
      if (!message.readableEnded) message.destroy();
    }
  } finally {
    await session.settle(quit);
  }
}

/** What a failed send means for the recipients that have no RCPT reply of their own. */
function transactionVerdict(err: unknown, session: Session, host: string): Verdict {
  if (session.broken) {
    return { result: 'deferred', reply: `connection to ${host} failed during the transaction: ${describe(err)} (#4.4.2)` };
  }
  const e = err as SMTPError;
  if (e.code === 'EMESSAGE' && e.command === 'MAIL FROM' && !e.response) {
    // nodemailer's own check against the SIZE the server announced: RFC 1870 makes that permanent.
    return { result: 'failed', reply: `message is larger than ${host} accepts: ${e.message} (#5.3.4)` };
  }
  if (e.code === 'ESTREAM') return { result: 'deferred', reply: `cannot read the message: ${describe(err)} (#4.3.0)` };
  if (e.response) return { result: e.response.startsWith('5') ? 'failed' : 'deferred', reply: e.response };
  return { result: 'deferred', reply: `delivery to ${host} failed: ${describe(err)} (#4.4.2)` };
}

/**
 * Gives each recipient its RCPT reply if it was rejected there, and the
 * transaction's verdict otherwise. Rejections are matched in command order,
 * so a repeated recipient consumes one rejection each.
 */
function assign(
  recipients: readonly string[],
  rejections: readonly RcptRejection[],
  verdict: Verdict,
  host: string,
): RecipientOutcome[] {
  const own = new Map<number, Verdict>();
  for (const rejection of rejections) {
    const i = recipients.findIndex((r, n) => !own.has(n) && r.trim() === rejection.recipient);
    if (i < 0) continue;
    const reply = rejection.response ?? rejection.message;
    own.set(i, { result: reply.startsWith('5') ? 'failed' : 'deferred', reply });
  }
  return recipients.map((recipient, i) => outcome(recipient, own.get(i) ?? verdict, host));
}

function outcome(recipient: string, verdict: Verdict, host: string): RecipientOutcome {
  return { recipient, result: verdict.result, reply: verdict.reply, host };
}

/** Outcomes in the caller's recipient order (repeated addresses keep their own entries). */
function order(recipients: readonly string[], outcomes: readonly RecipientOutcome[]): RecipientOutcome[] {
  const left = [...outcomes];
  return recipients.map((recipient) => {
    const i = left.findIndex((o) => o.recipient === recipient);
    return left.splice(i, 1)[0]!;
  });
}

function sendable(address: string, isSender: boolean): boolean {
  return (isSender || address.trim() !== '') && !/[\r\n<>]/.test(address);
}

function label(target: RemoteHost): string {
  return target.name ?? target.host;
}

function code(err: unknown): string | undefined {
  return (err as SMTPError | undefined)?.code;
}

function describe(err: unknown): string {
  const e = err as SMTPError;
  // nodemailer appends the server's reply to its own message; the reply alone says it better.
  if (e?.response) return e.response;
  return e instanceof Error ? e.message : String(err);
}

/**
 * nodemailer's connection with its events turned into promises. nodemailer
 * reports a broken connection only as an 'error' or 'end' event, never to the
 * callback of the command in flight, so every step races against them.
 */
class Session {
  readonly conn: SMTPConnection;
  /** The server's first reply was 2xx, so this host is the one that delivers. */
  greeted = false;
  /** The connection failed or closed; no more commands, no QUIT. */
  broken = false;
  /** The server said yes to STARTTLS: a failure before TLS is up is the handshake's. */
  handshaking = false;
  private readonly lost: Promise<never>;
  private replies = 0;
  private startTlsSent = false;

  constructor(options: SMTPConnection.Options) {
    // The transaction log is the only place nodemailer shows the server's replies as they come.
    const logger = this.transcript();
    this.conn = new SMTPConnection({ ...options, logger, transactionLog: true });
    this.lost = new Promise<never>((_, reject) => {
      let failure: unknown;
      this.conn.on('error', (err) => {
        this.broken = true;
        failure ??= err;
        reject(err);
      });
      this.conn.on('end', () => {
        this.broken = true;
        reject(failure ?? new Error('connection closed'));
      });
    });
    // Nothing may await it (a clean QUIT also ends the connection).
    this.lost.catch(() => {});
  }

  step<T>(start: (resolve: (value: T) => void, reject: (err: unknown) => void) => void): Promise<T> {
    return Promise.race([this.lost, new Promise<T>(start)]);
  }

  tlsInfo(): { protocol: string; cipher: string } | undefined {
    const socket: unknown = this.conn._socket;
    if (!(socket instanceof TLSSocket) || !this.conn.secure) return undefined;
    return { protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().name };
  }

  /** QUITs if the session still stands, then waits until the socket is closed. */
  async settle(quit: boolean): Promise<void> {
    const socket: Socket | false | undefined = this.conn._socket;
    if (quit && !this.broken) this.conn.quit();
    else this.conn.close();
    if (!socket || socket.closed) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), QUIT_WAIT_MS);
    });
    if ((await Promise.race([closed, late])) === 'late') {
      this.conn.close();
      socket.destroy();
      await closed;
    }
    clearTimeout(timer);
  }

  private transcript(): Logger {
    const ignore = () => {};
    return {
      level: ignore,
      trace: ignore,
      info: ignore,
      warn: ignore,
      error: ignore,
      fatal: ignore,
      debug: (...params: unknown[]) => {
        const tnx = (params[0] as { tnx?: unknown } | undefined)?.tnx;
        const line = String(params[1]);
        if (tnx === 'client' && line === 'STARTTLS') this.startTlsSent = true;
        if (tnx !== 'server') return;
        // The first reply is the greeting; nodemailer itself insists on exactly 220.
        if (this.replies++ === 0) this.greeted = /^2\d\d/.test(line);
        if (this.startTlsSent) {
          this.startTlsSent = false;
          this.handshaking = line.startsWith('2');
        }
      },
    };
  }
}
