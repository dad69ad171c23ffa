/*
 * Remote delivery: one SMTP transaction to one destination, as qmail-remote
 * does it. Hosts are tried in the caller's (MX preference) order; the first
 * one that greets 2xx gets the whole transaction and its replies decide the
 * fate of every recipient. Every outcome carries its reply as fields: the
 * server's own (with the host that gave it), or our diagnosis written as an
 * SMTP reply (a connection that failed, TLS that was required, ...). With a
 * ConnectionCache (cache.ts), a connection whose transaction ended cleanly
 * serves the next transaction to the same destination.
 */
import { isIP, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { type DeliveryOutcome, type DeliveryReply, deliveryReply, parseReply, replyLine } from '../../model/index.js';
import { type ConnectionCache, type Pool, pool } from './cache.js';
import { describe, errorCode, loadSmtpClient, type SMTPError, SmtpClientConnection } from './client.js';

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

/**
 * delivered: the server took it; deferred: 4xx, or trouble with the connection, TLS or
 * AUTH; failed: 5xx for this recipient or the whole transaction. The reply's host is the
 * server the transaction was with, absent when no server was reached.
 */
export type RecipientOutcome = DeliveryOutcome;

export interface RemoteResult {
  readonly outcomes: readonly RecipientOutcome[];
  readonly tls?: { protocol: string; cipher: string };
  readonly host?: string;
}

/** qmail-remote waits 60 s for a connection; RFC 5321 4.5.3.2 gives the greeting 5 and DATA 10 minutes. */
const DEFAULT_CONNECT_MS = 60_000;
const DEFAULT_GREETING_MS = 300_000;
const DEFAULT_SOCKET_MS = 600_000;

/** nodemailer marks each RCPT rejection with the recipient it belongs to. */
type RcptRejection = SMTPError & { recipient?: string };
/** nodemailer records RCPT progress on the envelope object it is given. */
type TrackedEnvelope = SMTPConnection.Envelope & { rejectedErrors?: RcptRejection[] };

/** A transaction-wide verdict, applied to every recipient without a RCPT reply of its own. */
interface Verdict {
  readonly result: 'delivered' | 'deferred' | 'failed';
  readonly reply: DeliveryReply;
}

type Greeted = Extract<HostAttempt, { kind: 'greeted' }>;

/** How a session ends once its transaction is over. */
type Ending =
  /** Cleanly: the connection may wait in the cache for the next transaction (otherwise QUIT). */
  | 'keep'
  | 'quit'
  /** Without QUIT: the server is in a state QUIT would not end well. */
  | 'close';

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

export async function deliverRemote(d: RemoteDelivery, cache?: ConnectionCache): Promise<RemoteResult> {
  const outcomes: RecipientOutcome[] = [];
  // Refusals of our own: no remote host was involved.
  // CR, LF, < or > cannot be written in a MAIL or RCPT command, so no server will ever take them.
  if (!sendable(d.sender, true)) {
    const reply = deliveryReply(550, '5.1.7', `sender address ${JSON.stringify(d.sender)} cannot be sent in SMTP`);
    return { outcomes: d.recipients.map((recipient) => ({ recipient, result: 'failed', reply })) };
  }
  const recipients: string[] = [];
  for (const recipient of d.recipients) {
    if (sendable(recipient, false)) recipients.push(recipient);
    else {
      const reply = deliveryReply(550, '5.1.3', `recipient address ${JSON.stringify(recipient)} cannot be sent in SMTP`);
      outcomes.push({ recipient, result: 'failed', reply });
    }
  }
  if (recipients.length === 0) return { outcomes: order(d.recipients, outcomes) };

  const idle = cache && pool(cache);
  const misses: string[] = [];
  for (const [i, target] of d.hosts.entries()) {
    // Only the most preferred host's connection is taken: an idle one to a backup must not jump the order.
    let attempt = i === 0 && idle ? await reuse(d, target, recipients, idle) : undefined;
    attempt ??= await tryHost(d, target, d.tls, recipients, idle);
    if (attempt.kind === 'greeted' && attempt.tlsBroke && d.tls === 'opportunistic') {
      // Opportunistic TLS must never cost a delivery that plain text would make.
      attempt = await tryHost(d, target, 'none', recipients, idle);
    }
    if (attempt.kind === 'unreachable') {
      misses.push(`${label(target)}: ${attempt.reason}`);
      continue;
    }
    outcomes.push(...attempt.outcomes);
    const result = { outcomes: order(d.recipients, outcomes), host: label(target) };
    return attempt.tls ? { ...result, tls: attempt.tls } : result;
  }

  const reply = deliveryReply(
    451,
    '4.4.1',
    misses.length === 0 ? 'no host to deliver to' : `no host accepted an SMTP connection: ${misses.join('; ')}`,
  );
  for (const recipient of recipients) outcomes.push({ recipient, result: 'deferred', reply });
  return { outcomes: order(d.recipients, outcomes) };
}

/** One SMTP session with one host. */
async function tryHost(
  d: RemoteDelivery,
  target: RemoteHost,
  tls: RemoteDelivery['tls'],
  recipients: readonly string[],
  idle: Pool | undefined,
): Promise<HostAttempt> {
  const host = label(target);
  const key = cacheKey(d, target, tls);
  const servername = serverName(target);
  await loadSmtpClient();
  const session = new SmtpClientConnection({
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
      rejectUnauthorized: verifies(d, tls),
      ...(servername ? { servername } : {}),
    },
    connectionTimeout: d.timeouts?.connectMs ?? DEFAULT_CONNECT_MS,
    greetingTimeout: d.timeouts?.greetingMs ?? DEFAULT_GREETING_MS,
    socketTimeout: d.timeouts?.socketMs ?? DEFAULT_SOCKET_MS,
  });
  try {
    await session.step<void>((resolve, reject) => session.conn.connect((err) => (err ? reject(err) : resolve())));
    // Without this the final "." of DATA waits for the peer's delayed ACK (Nagle): 40 ms a message.
    const socket: unknown = session.conn._socket;
    if (socket instanceof Socket) socket.setNoDelay(true);
  } catch (err) {
    // Nothing is left to QUIT: the connection is gone.
    await session.settle(false);
    if (!session.greeted) return { kind: 'unreachable', reason: describe(err) };
    const tlsBroke = session.handshaking && !session.conn.secure;
    const reply = tlsBroke
      ? deliveryReply(451, '4.7.5', `TLS negotiation with ${host} failed: ${describe(err)}`, host)
      : deliveryReply(451, '4.4.2', `connected to ${host} but the session failed: ${describe(err)}`, host);
    return { ...everyone(recipients, { result: 'deferred', reply }), tlsBroke };
  }

  return transactThenEnd(d, session, recipients, host, idle, key, async () => {
    if (tls === 'required' && !session.tlsInfo()) {
      return everyone(recipients, {
        result: 'deferred',
        reply: deliveryReply(451, '4.7.4', `${host} did not start TLS and TLS is required`, host),
      });
    }
    if (!d.auth) return undefined;
    const credentials = { user: d.auth.user, pass: d.auth.pass };
    try {
      await session.step<void>((resolve, reject) => session.conn.login(credentials, (err) => (err ? reject(err) : resolve())));
      return undefined;
    } catch (err) {
      // RFC 4954 makes 535 permanent for these credentials, not for the message: the mail
      // waits in the queue until the postmaster fixes them (Postfix: smtp_sasl_auth_soft_bounce).
      return everyone(recipients, {
        result: 'deferred',
        reply: deliveryReply(451, '4.7.0', `${host} refused our authentication: ${describe(err)}`, host),
      });
    }
  });
}

/**
 * A transaction on an idle connection from the cache, straight to MAIL: the
 * transaction before it ended with a reply to DATA, which leaves the session
 * as RSET would (RFC 5321 4.1.1.5, 4.1.4). Undefined when there is none, or
 * when it turned out to be gone before MAIL got a reply of its own (lost, or
 * 421: the server is closing): the caller then opens a fresh one.
 *
 * Postfix sends an RSET probe before every reuse (smtp_reuse.c) because its
 * cached sessions sit unread in scache(8); ours are read while idle (cache.ts
 * drops one the server closed or sent 421 on), so the probe would only cover
 * a hang-up still in flight, and MAIL's own reply covers that at no extra
 * round trip. It also spares a Postfix server under stress a junk command
 * (smtpd_junk_command_limit is 1 there).
 */
async function reuse(
  d: RemoteDelivery,
  target: RemoteHost,
  recipients: readonly string[],
  idle: Pool,
): Promise<HostAttempt | undefined> {
  const key = cacheKey(d, target, d.tls);
  const session = idle.take(key);
  if (!session) return undefined;
  session.retime(d.timeouts?.socketMs ?? DEFAULT_SOCKET_MS);
  return transactThenEnd(d, session, recipients, label(target), idle, key, 'reused');
}

/**
 * What a session does once it stands: `prepare` (the TLS check and AUTH of a
 * fresh connection) may end it with an attempt of its own; otherwise the
 * transaction. Either way the connection then goes to the cache or is ended.
 * A reused connection found gone before the transaction began gives undefined.
 */
async function transactThenEnd(
  d: RemoteDelivery,
  session: SmtpClientConnection,
  recipients: readonly string[],
  host: string,
  idle: Pool | undefined,
  key: string,
  prepare: 'reused',
): Promise<Greeted | undefined>;
async function transactThenEnd(
  d: RemoteDelivery,
  session: SmtpClientConnection,
  recipients: readonly string[],
  host: string,
  idle: Pool | undefined,
  key: string,
  prepare: () => Promise<Greeted | undefined>,
): Promise<Greeted>;
async function transactThenEnd(
  d: RemoteDelivery,
  session: SmtpClientConnection,
  recipients: readonly string[],
  host: string,
  idle: Pool | undefined,
  key: string,
  prepare: 'reused' | (() => Promise<Greeted | undefined>),
): Promise<Greeted | undefined> {
  let ending: Ending = 'quit';
  try {
    const refused = prepare === 'reused' ? undefined : await prepare();
    if (refused) return refused;
    const keepable = idle && (() => idle.wants(key, session));
    const done = await transact(d, session, recipients, host, keepable, prepare === 'reused');
    ending = done.ending;
    return done.attempt;
  } finally {
    await finish(session, ending, idle, key);
  }
}

/**
 * MAIL, RCPT and DATA on a greeted (and authenticated) session. `keepable`
 * says whether the cache would take the connection afterwards; only then is
 * a transaction whose every RCPT was refused cleared with RSET. On a `reused`
 * connection, no attempt (undefined) when it was gone before MAIL's reply.
 */
async function transact(
  d: RemoteDelivery,
  session: SmtpClientConnection,
  recipients: readonly string[],
  host: string,
  keepable: (() => boolean) | undefined,
  reused: boolean,
): Promise<{ attempt: Greeted | undefined; ending: Ending }> {
  const tlsInfo = session.tlsInfo();
  const envelope: TrackedEnvelope = { from: d.sender, to: [...recipients], ...(d.size ? { size: d.size } : {}) };
  let message: Readable;
  try {
    message = d.message();
  } catch (err) {
    return {
      attempt: everyone(recipients, {
        result: 'deferred',
        reply: deliveryReply(451, '4.3.0', `cannot read the message: ${describe(err)}`, host),
      }),
      ending: 'quit',
    };
  }
  session.transactions++;
  session.coalesce(message);
  const repliesBefore = session.replies;
  try {
    const info = await session.step<SMTPConnection.SentMessageInfo>((resolve, reject) =>
      session.conn.send(envelope, message, (err, sent) => (err ? reject(err) : resolve(sent))),
    );
    return {
      attempt: {
        kind: 'greeted',
        outcomes: assign(recipients, info.rejectedErrors ?? [], accepted(info.response, host), host),
        ...(tlsInfo ? { tls: tlsInfo } : {}),
        tlsBroke: false,
      },
      ending: 'keep',
    };
  } catch (err) {
    if (reused && goneBeforeMail(err, session, repliesBefore)) return { attempt: undefined, ending: 'close' };
    const attempt: Greeted = {
      kind: 'greeted',
      outcomes: assign(recipients, envelope.rejectedErrors ?? [], transactionVerdict(err, session, host), host),
      tlsBroke: false,
    };
    // A broken stream leaves the server inside DATA: closing without the final dot discards it.
    if (errorCode(err) === 'ESTREAM') return { attempt, ending: 'close' };
    const noRecipient = errorCode(err) === 'EENVELOPE' && (err as SMTPError).command === 'RCPT TO' && !session.broken;
    if (noRecipient && keepable?.() && (await reset(session))) return { attempt, ending: 'keep' };
    return { attempt, ending: 'quit' };
  } finally {
    if (!message.readableEnded) message.destroy();
  }
}

/** RSET; false if the server refused it or the connection is gone. */
async function reset(session: SmtpClientConnection): Promise<boolean> {
  try {
    await session.step<void>((resolve, reject) => session.conn.reset((err) => (err ? reject(err) : resolve())));
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a reused connection failed before the transaction began: no reply at
 * all, or 421 to MAIL (RFC 5321 3.8: the server is closing the channel). Only
 * then can a fresh connection carry the same transaction with nothing lost or
 * repeated.
 */
function goneBeforeMail(err: unknown, session: SmtpClientConnection, repliesBefore: number): boolean {
  if (session.broken && session.replies === repliesBefore) return true;
  const e = err as SMTPError;
  return e.command === 'MAIL FROM' && /^421[ -]/.test(e.response ?? '');
}

/** Hands a cleanly ended session to the cache if it takes it; QUITs or closes it otherwise. */
async function finish(session: SmtpClientConnection, ending: Ending, idle: Pool | undefined, key: string): Promise<void> {
  if (ending === 'keep' && idle?.park(key, session)) return;
  await session.settle(ending !== 'close');
}

/** What a failed send means for the recipients that have no RCPT reply of their own. */
function transactionVerdict(err: unknown, session: SmtpClientConnection, host: string): Verdict {
  const ours = (result: Verdict['result'], code: number, enhanced: string, text: string): Verdict => ({
    result,
    reply: deliveryReply(code, enhanced, text, host),
  });
  if (session.broken)
    return ours('deferred', 451, '4.4.2', `connection to ${host} failed during the transaction: ${describe(err)}`);
  const e = err as SMTPError;
  if (e.code === 'EMESSAGE' && e.command === 'MAIL FROM' && !e.response) {
    // nodemailer's own check against the SIZE the server announced: RFC 1870 makes that permanent.
    return ours('failed', 550, '5.3.4', `message is larger than ${host} accepts: ${e.message}`);
  }
  if (e.code === 'ESTREAM') return ours('deferred', 451, '4.3.0', `cannot read the message: ${describe(err)}`);
  if (e.response) return refused(e.response, host);
  return ours('deferred', 451, '4.4.2', `delivery to ${host} failed: ${describe(err)}`);
}

/** The server's reply to a message it took; nodemailer has checked that it is 2xx. */
function accepted(response: string, host: string): Verdict {
  const reply = parseReply(response) ?? { code: 250, text: response };
  return { result: 'delivered', reply: { ...reply, host } };
}

/**
 * The server's refusal: 5xx fails, 4xx defers. Anything else where a refusal was
 * due (a 2xx or 3xx out of turn, text without a code) is a session gone wrong: defer.
 */
function refused(response: string, host: string): Verdict {
  const reply = parseReply(response);
  if (reply && reply.code >= 400) return { result: reply.code >= 500 ? 'failed' : 'deferred', reply: { ...reply, host } };
  const said = reply ? replyLine(reply) : response;
  return { result: 'deferred', reply: deliveryReply(451, '4.4.2', `${host} gave an unexpected reply: ${said}`, host) };
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
    own.set(i, refused(rejection.response ?? rejection.message, host));
  }
  return recipients.map((recipient, i) => outcome(recipient, own.get(i) ?? verdict));
}

/** The same verdict for every recipient of a session that ended before their replies. */
function everyone(recipients: readonly string[], verdict: Verdict): Greeted {
  return { kind: 'greeted', outcomes: recipients.map((recipient) => outcome(recipient, verdict)), tlsBroke: false };
}

function outcome(recipient: string, verdict: Verdict): RecipientOutcome {
  return { recipient, result: verdict.result, reply: verdict.reply };
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

/** The name the host's certificate is checked against (SNI), if it has one. */
function serverName(target: RemoteHost): string | undefined {
  return target.name && !isIP(target.name) ? target.name : undefined;
}

function verifies(d: RemoteDelivery, tls: RemoteDelivery['tls']): boolean {
  return d.rejectUnauthorized ?? tls === 'required';
}

/** What a connection was opened for: only a transaction that would open the same one may take it. */
function cacheKey(d: RemoteDelivery, target: RemoteHost, tls: RemoteDelivery['tls']): string {
  return JSON.stringify([
    target.host,
    target.port,
    tls,
    verifies(d, tls),
    serverName(target) ?? null,
    d.auth?.user ?? null,
    d.helo,
  ]);
}

function label(target: RemoteHost): string {
  return target.name ?? target.host;
}
