/*
 * The SMTP verbs for one connection (RFC 5321, with PIPELINING RFC 2920,
 * 8BITMIME RFC 6152, ENHANCEDSTATUSCODES RFC 2034, SMTPUTF8 RFC 6531): HELO and
 * EHLO, MAIL, RCPT, DATA and the end of data, RSET, NOOP, QUIT, VRFY, HELP and
 * the command hook. It runs the pipeline's hooks, streams DATA through the
 * decoder into a queue spool, answers 250 only after the queue committed the
 * message, and logs each transaction and the connection.
 *
 * The socket, buffering, TLS swap and timers are the connection's
 * (connection.ts). It does not know how the queue stores messages, and policy
 * (who may relay, which sizes) is left to plugins.
 */
import type { Socket } from 'node:net';
import type { TLSSocketOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/schema.js';
import { Notes } from '../hooks/notes.js';
import { RECORD } from '../hooks/record.js';
import type { AcceptResult, DisconnectResult, HookResult, RejectResult } from '../hooks/results.js';
import type { Decision, HeloInfo, Session, TlsInfo } from '../hooks/types.js';
import { renderNotice } from '../message/notice.js';
import { receivedHeader } from '../message/received.js';
import { countMessage, countTls, reasonClass } from '../metrics/metrics.js';
import type { Address, Envelope } from '../model/index.js';
import { createEnvelope, type Reply, reply as r, replyText } from '../model/index.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { MessageQueue, Spool } from '../queue/queue.js';
import { newQueueId } from '../queue/queue.js';
import { commandTooLong, MAX_AUTH_LINE, parsePathCommand, splitCommand } from './command.js';
import { type ConnectionHandler, type MessageInput, SmtpConnection } from './connection.js';
import { DataDecoder } from './data-decoder.js';
import { checkMailParameters, checkRcptParameters } from './parameters.js';
import { pathErrorReply, storageReply, unknownVerbReply } from './replies.js';
import { spooledMessage } from './spooled-message.js';
import { CapabilityList, SmtpTransaction } from './transaction.js';

export interface SessionSettings {
  readonly listener: ListenerConfig;
  readonly hostname: string;
  readonly pipeline: Pipeline;
  readonly queue: MessageQueue;
  readonly log: Logger;
  /** Asked about every recipient the pipeline or relay permission accepted; absent: no check. */
  readonly recipientCheck?: RecipientCheck;
}

export type RecipientVerdict = AcceptResult | RejectResult;

/**
 * Can this recipient be delivered here? Built from the delivery configuration
 * (core/delivery/recipient-check.ts), so the engine refuses unknown users at
 * RCPT without knowing how delivery finds them. undefined: not a recipient it
 * validates. Never throws; a lookup that fails is a 4xx verdict.
 */
export interface RecipientCheck {
  check(recipient: Address): Promise<RecipientVerdict | undefined>;
}

let sessionCounter = 0;

/** A message between 354 and its end of data. */
interface DataState {
  readonly transaction: SmtpTransaction;
  readonly spool: Spool;
  readonly decoder: DataDecoder;
  bodyBytes: number;
  tooBig: boolean;
}

export class SmtpSession implements Session {
  readonly id: string;
  readonly listener: string;
  readonly remote: { address: string; port: number };
  readonly local: { address: string; port: number };
  readonly hostname: string;
  readonly notes = new Notes();
  readonly log: Logger;
  helo: HeloInfo | undefined;
  tls: TlsInfo | undefined;
  authenticatedUser: string | undefined;
  relayAllowed = false;
  transaction: SmtpTransaction | undefined;
  readonly decisions: Decision[] = [];

  private readonly connection: SmtpConnection;
  private errors = 0;
  /** A message between its end of data and its reply; it logs its own outcome. */
  private finishing = false;
  private data: DataState | undefined;
  private draining = false;
  private readonly startedAt = Date.now();
  private messages = 0;
  private transactions = 0;
  private closedCallbacks: (() => void)[] = [];
  private pendingTls: TLSSocketOptions | undefined;

  constructor(
    socket: Socket,
    private readonly settings: SessionSettings,
  ) {
    sessionCounter = (sessionCounter + 1) % 0x7fffffff;
    this.id = `${Date.now().toString(36)}.${sessionCounter.toString(36)}`;
    this.listener = settings.listener.name;
    this.hostname = settings.hostname;
    this.log = settings.log.child({ session: this.id });
    const handler: ConnectionHandler = {
      command: (line) => this.command(line),
      refused: (reply) => this.error(reply),
      answered: () => {
        if (this.draining && this.connection.state === 'command' && !this.transaction) this.shutdown(false);
      },
      closed: (byPeer) => this.connectionClosed(byPeer),
    };
    this.connection = new SmtpConnection(
      socket,
      {
        listener: settings.listener,
        hostname: settings.hostname,
        maxLine: Math.max(settings.listener.max_command_line, MAX_AUTH_LINE),
        log: this.log,
      },
      handler,
    );
    this.remote = this.connection.remote;
    this.local = this.connection.local;
  }

  /** Decisions from guarded hook handlers land in the open transaction, else on the session. */
  [RECORD](decision: Decision): void {
    (this.transaction ?? this.data?.transaction)?.decisions.push(decision) ?? this.decisions.push(decision);
  }

  get closed(): boolean {
    return this.connection.closed;
  }

  onClosed(cb: () => void): void {
    if (this.connection.closed) cb();
    else this.closedCallbacks.push(cb);
  }

  /**
   * Runs the connect hooks, then greets. Nothing is read before: a plugin may
   * ask for implicit TLS, and the first bytes may be a TLS ClientHello.
   */
  async start(): Promise<void> {
    this.connection.attach();
    const result = await this.settings.pipeline.hooks.connect.promise(this);
    if (this.closed) return;
    if (this.pendingTls && !(await this.upgradeToTls())) return;
    this.connection.resume();
    if (isRefusal(result)) {
      // RFC 5321 3.1: a refused connection gets 554 (or 421 when temporary) and is closed.
      const temporary = result.reply.code < 500;
      this.close(
        r(temporary ? 421 : 554, temporary ? '4.3.0' : '5.7.1', replyText(result.reply)),
        `refused by ${this.lastPlugin() ?? 'plugin'}`,
      );
      return;
    }
    this.connection.acceptCommands(r(220, undefined, `${this.hostname} ${this.settings.listener.banner}`));
  }

  /** Graceful shutdown: idle sessions get 421 now, busy ones after their transaction. */
  shutdown(force: boolean): void {
    if (this.closed) return;
    this.draining = true;
    if (force || (!this.transaction && !this.data && !this.connection.answering)) {
      if (this.data) void this.data.spool.discard();
      this.close(r(421, '4.3.2', `${this.hostname} Service shutting down, closing transmission channel`), 'shutdown');
    }
  }

  startTls(options: TLSSocketOptions): void {
    if (this.tls || this.pendingTls) throw new Error('TLS is already active on this session');
    this.pendingTls = options;
  }

  exchange(reply: Reply): Promise<string> {
    return this.connection.exchange(reply);
  }

  /**
   * Switches to TLS as a plugin asked (startTls), and forgets everything learnt
   * from the client before (RFC 3207 4.2): HELO, the transaction, the
   * authentication. Resolves false if the handshake failed (the connection is closed).
   */
  private async upgradeToTls(): Promise<boolean> {
    const options = this.pendingTls!;
    this.pendingTls = undefined;
    const tls = await this.connection.upgradeToTls(options);
    if (!tls) return false;
    this.tls = tls;
    countTls(this.listener, tls.protocol);
    await this.endTransaction('starttls');
    this.helo = undefined;
    if (this.authenticatedUser !== undefined) {
      // Relay permission that came with the authentication goes with it.
      this.authenticatedUser = undefined;
      this.relayAllowed = false;
    }
    return true;
  }

  private connectionClosed(byPeer: boolean): void {
    if (this.transaction && !this.finishing) {
      // A message past its end of data logs its own outcome: it may still be queued.
      this.logTransaction(this.transaction, 'aborted', undefined, byPeer ? 'connection closed' : this.connection.endReason);
    }
    this.transaction = undefined;
    this.log.info(
      {
        event: 'connection',
        client: this.remote.address,
        port: this.remote.port,
        helo: this.helo?.domain,
        ...(this.tls ? { tls: `${this.tls.protocol} ${this.tls.cipher}` } : {}),
        ...(this.authenticatedUser !== undefined ? { user: this.authenticatedUser } : {}),
        messages: this.messages,
        transactions: this.transactions,
        errors: this.errors,
        end: this.connection.endReason,
        ms: Date.now() - this.startedAt,
        ...(this.decisions.length ? { decisions: this.decisions } : {}),
      },
      'connection closed',
    );
    void this.settings.pipeline.hooks.disconnect.promise(this).catch(() => undefined);
    for (const cb of this.closedCallbacks) cb();
    this.closedCallbacks = [];
  }

  // ---- output ------------------------------------------------------------

  private send(reply: Reply): void {
    this.connection.send(reply);
  }

  private close(reply?: Reply, reason?: string): void {
    this.connection.close(reply, reason);
  }

  /** A refused command: counts towards max_errors (Postfix's smtpd_hard_error_limit). */
  private error(reply: Reply): void {
    this.errors++;
    if (this.errors >= this.settings.listener.max_errors) {
      this.close(r(421, '4.7.0', `${this.hostname} Error: too many errors`), 'too many errors');
      return;
    }
    this.send(reply);
  }

  // ---- commands ----------------------------------------------------------

  private lastPlugin(): string | undefined {
    const list = this.transaction?.decisions ?? this.decisions;
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.action !== 'continue') return list[i]!.plugin;
    return undefined;
  }

  /** Applies a final hook result; returns true if it ended the command. */
  private applyResult(result: HookResult | undefined, success?: Reply): boolean {
    if (!result || result.action === 'continue') return false;
    if (result.action === 'accept') {
      if (success || result.reply) this.send(result.reply ?? success!);
      return true;
    }
    if (result.action === 'disconnect') {
      this.close(result.reply, `disconnected by ${this.lastPlugin() ?? 'plugin'}`);
      return true;
    }
    this.send(result.reply);
    return true;
  }

  private async command(line: string): Promise<void> {
    if (commandTooLong(line, this.settings.listener.max_command_line)) {
      return this.error(r(500, '5.5.2', 'Error: line too long'));
    }
    const { verb, argument } = splitCommand(line);
    const hooks = this.settings.pipeline.hooks;
    // Only a command handler (or connect) may ask for TLS; a request from any other hook is void.
    this.pendingTls = undefined;
    if (hooks.command.taps.length) {
      const result = await hooks.command.promise(this, { verb, argument });
      if (this.closed) return;
      // TLS starts only after a command a plugin accepted (its 220); any other outcome cancels the request.
      const startTls = this.pendingTls !== undefined && result?.action === 'accept';
      if (!startTls) this.pendingTls = undefined;
      if (result && result.action !== 'continue') {
        this.applyResult(result, r(250, '2.0.0', 'Ok'));
        if (startTls && !this.closed) await this.upgradeToTls();
        return;
      }
    }
    switch (verb) {
      case 'HELO':
      case 'EHLO':
        return this.heloCommand(verb, argument);
      case 'MAIL':
        return this.mailCommand(argument);
      case 'RCPT':
        return this.rcptCommand(argument);
      case 'DATA':
        return this.dataCommand(argument);
      case 'RSET':
        await this.endTransaction('reset');
        this.send(r(250, '2.0.0', 'Ok'));
        return;
      case 'NOOP':
        this.send(r(250, '2.0.0', 'Ok'));
        return;
      case 'QUIT':
        // Named before the reset hook runs: a client that drops the connection meanwhile still ended it with QUIT.
        this.connection.endReason = 'quit';
        await this.endTransaction('quit');
        this.close(r(221, '2.0.0', 'Bye'));
        return;
      case 'VRFY':
        if (!argument) return this.error(r(501, '5.5.4', 'Syntax: VRFY address'));
        // RFC 5321 3.5.3: we do not reveal mailboxes.
        this.send(r(252, '2.0.0', 'Cannot VRFY user, but will accept message and attempt delivery'));
        return;
      case 'HELP':
        this.send(r(214, '2.0.0', ['Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP', 'See RFC 5321']));
        return;
      default:
        return this.error(unknownVerbReply(verb));
    }
  }

  private async heloCommand(verb: 'HELO' | 'EHLO', argument: string): Promise<void> {
    const domain = argument.split(' ')[0] ?? '';
    if (!domain) return this.error(r(501, undefined, `Syntax: ${verb} hostname`));
    // RFC 5321 4.1.4: HELO/EHLO in a session resets any transaction.
    await this.endTransaction('helo');
    const result = await this.settings.pipeline.hooks.helo.promise(this, { verb, domain });
    if (this.closed) return;
    if (isRefusal(result)) {
      this.applyResult(result);
      return;
    }
    this.helo = { verb, domain };
    if (verb === 'HELO') {
      this.send(r(250, undefined, this.hostname));
      return;
    }
    const caps = new CapabilityList(['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SMTPUTF8']);
    await this.settings.pipeline.hooks.capabilities.promise(this, caps);
    if (this.closed) return;
    this.send(r(250, undefined, [this.hostname, ...caps.list]));
  }

  private async mailCommand(argument: string): Promise<void> {
    if (!this.helo && this.settings.listener.require_helo) return this.error(r(503, '5.5.1', 'Error: send HELO/EHLO first'));
    if (this.transaction) return this.error(r(503, '5.5.1', 'Error: nested MAIL command'));
    if (this.draining) {
      this.close(r(421, '4.3.2', `${this.hostname} Service shutting down, closing transmission channel`));
      return;
    }
    const parsed = parsePathCommand(argument, 'FROM');
    if (!parsed.ok) return this.error(pathErrorReply('MAIL', parsed));
    const checked = checkMailParameters(parsed.parameters, this.settings.pipeline.parameters.MAIL);
    if ('code' in checked) return this.error(checked);
    const txn = new SmtpTransaction(
      newQueueId(),
      parsed.address,
      parsed.parameters,
      parsed.parameters.has('SMTPUTF8'),
      checked.body,
      checked.size,
    );
    this.transaction = txn;
    this.transactions++;
    const result = await this.settings.pipeline.hooks.mail.promise(this, txn, {
      address: parsed.address,
      parameters: parsed.parameters,
    });
    if (this.closed) return;
    if (isRefusal(result)) {
      this.applyResult(result);
      this.logTransaction(txn, 'rejected', result.reply, result.reason);
      await this.endTransaction(null);
      return;
    }
    this.send((result?.action === 'accept' ? result.reply : undefined) ?? r(250, '2.1.0', 'Ok'));
  }

  private async rcptCommand(argument: string): Promise<void> {
    const txn = this.transaction;
    if (!txn) return this.error(r(503, '5.5.1', 'Error: need MAIL command'));
    const parsed = parsePathCommand(argument, 'TO', { utf8: txn.utf8 });
    if (!parsed.ok) return this.error(pathErrorReply('RCPT', parsed));
    const address = parsed.address!;
    const unsupported = checkRcptParameters(parsed.parameters, this.settings.pipeline.parameters.RCPT);
    if (unsupported) return this.error(unsupported);
    if (txn.recipients.length >= this.settings.listener.max_recipients) {
      // RFC 5321 4.5.3.1.10: the client sends the rest in another transaction.
      txn.refused.push({ address: address.address, code: 452 });
      this.send(r(452, '4.5.3', 'Error: too many recipients'));
      return;
    }
    const result = await this.settings.pipeline.hooks.rcpt.promise(this, txn, { address, parameters: parsed.parameters });
    if (this.closed) return;
    let accepted: Reply | undefined;
    if (result?.action === 'accept') {
      accepted = result.reply ?? r(250, '2.1.5', 'Ok');
    } else if (isRefusal(result)) {
      txn.refused.push({ address: address.address, code: result.reply.code });
      this.applyResult(result);
      return;
    } else if (this.relayAllowed) {
      // A plugin trusted this client to relay (relay list, AUTH): any destination.
      txn.decisions.push({ plugin: 'core', hook: 'rcpt', action: 'accept', reason: 'client may relay', ms: 0 });
      accepted = r(250, '2.1.5', 'Ok');
    }
    if (accepted) {
      // Accepted by policy; now, does the recipient exist? Refused here, not bounced later (backscatter).
      const check = this.settings.recipientCheck;
      const started = performance.now();
      const verdict = await check?.check(address).catch((err: unknown): RecipientVerdict => {
        this.log.error({ err }, 'recipient check failed; RCPT gets 451 4.3.0');
        return { action: 'reject', reply: r(451, '4.3.0', 'Error: internal error, please try again later') };
      });
      if (this.closed) return;
      if (verdict) {
        const ms = Math.round((performance.now() - started) * 1000) / 1000;
        const { action, reason } = verdict;
        const code = action === 'reject' ? verdict.reply.code : undefined;
        txn.decisions.push({
          plugin: 'core',
          hook: 'rcpt',
          action,
          ms,
          ...(reason ? { reason } : {}),
          ...(code ? { code } : {}),
        });
      }
      if (verdict?.action === 'reject') {
        // Counted like Postfix counts refused recipients (smtpd_hard_error_limit): a dictionary attack ends at max_errors.
        txn.refused.push({ address: address.address, code: verdict.reply.code });
        return this.error(verdict.reply);
      }
      txn.recipients.push({ address, parameters: parsed.parameters });
      this.send(accepted);
      return;
    }
    // No plugin took the recipient: never an open relay by default.
    txn.decisions.push({
      plugin: 'core',
      hook: 'rcpt',
      action: 'reject',
      reason: 'no plugin accepted the recipient',
      code: 554,
      ms: 0,
    });
    txn.refused.push({ address: address.address, code: 554 });
    this.send(r(554, '5.7.1', `<${address.address}>: Relay access denied`));
  }

  private async dataCommand(argument: string): Promise<void> {
    const txn = this.transaction;
    if (!txn) return this.error(r(503, '5.5.1', 'Error: need MAIL command'));
    if (argument) return this.error(r(501, '5.5.4', 'Syntax: DATA'));
    if (txn.recipients.length === 0) {
      // RFC 2920 3.1: with pipelining, DATA after only refused recipients gets 554.
      if (txn.refused.length) return this.error(r(554, '5.5.1', 'Error: no valid recipients'));
      return this.error(r(503, '5.5.1', 'Error: need RCPT command'));
    }
    const result = await this.settings.pipeline.hooks.data.promise(this, txn);
    if (this.closed) return;
    if (isRefusal(result)) {
      this.applyResult(result);
      return;
    }
    const spool = this.settings.queue.createSpool(txn.id);
    const header = receivedHeader({
      heloDomain: this.helo?.domain,
      clientAddress: this.remote.address,
      hostname: this.hostname,
      esmtp: this.helo?.verb === 'EHLO',
      tls: this.tls,
      authenticated: this.authenticatedUser !== undefined,
      queueId: txn.id,
      recipient: txn.recipients.length === 1 ? txn.recipients[0]!.address.address : undefined,
      date: new Date(),
    });
    spool.write(Buffer.from(header));
    const state: DataState = {
      transaction: txn,
      spool,
      bodyBytes: 0,
      tooBig: false,
      decoder: new DataDecoder(this.settings.listener.smtpd_forbid_bare_newline, (chunk) => {
        state.bodyBytes += chunk.length;
        if (state.tooBig) return;
        if (txn.sizeLimit !== undefined && state.bodyBytes > txn.sizeLimit) {
          // RFC 1870 / qmail databytes: stop storing, keep reading, refuse at the end.
          state.tooBig = true;
          return;
        }
        if (!spool.write(chunk)) this.connection.holdInput((resume) => spool.onDrain(resume));
      }),
    };
    this.data = state;
    this.transaction = undefined;
    this.connection.receiveMessage(this.messageInput(state));
    this.send(r(354, undefined, 'End data with <CR><LF>.<CR><LF>'));
  }

  // ---- DATA --------------------------------------------------------------

  /** Where the connection puts the bytes after 354. */
  private messageInput(state: DataState): MessageInput {
    return {
      feed: (chunk) => state.decoder.feed(chunk),
      end: () => {
        this.data = undefined;
        this.transaction = state.transaction;
        this.finishing = true;
        return this.finishMessage(state)
          .catch((err: unknown) => {
            this.log.error({ err }, 'internal error finishing a message');
            this.send(r(451, '4.3.0', 'Error: internal error, please try again later'));
          })
          .finally(() => {
            this.finishing = false;
          });
      },
      abort: (reason) => {
        // The connection ended before the end of data: nothing was acknowledged, nothing is kept.
        this.data = undefined;
        void state.spool.discard();
        this.logTransaction(state.transaction, 'aborted', undefined, reason);
      },
    };
  }

  private async finishMessage(state: DataState): Promise<void> {
    const { transaction: txn, spool, decoder } = state;
    const listener = this.settings.listener;
    const refuse = async (reply: Reply, reason: string, plugin?: string) => {
      await spool.discard();
      this.send(reply);
      this.logTransaction(txn, 'rejected', reply, reason, plugin);
      await this.endTransaction(null);
    };

    if ((decoder.findings.bareLf || decoder.findings.bareCr) && listener.smtpd_forbid_bare_newline === 'reject') {
      const what = decoder.findings.bareLf ? '<LF>' : '<CR>';
      await refuse(
        r(550, '5.5.2', `Error: bare ${what} received`),
        `bare ${what} in message (smtpd_forbid_bare_newline = reject)`,
      );
      // Like Postfix: a client that mixes line endings is not trusted with the rest of the session.
      this.close(undefined, `bare ${what} in DATA`);
      return;
    }
    if (state.tooBig) {
      await refuse(r(552, '5.3.4', 'Error: message file too big'), `message exceeds ${txn.sizeLimit} octets`);
      return;
    }
    if (decoder.findings.longestLine + 2 > listener.max_text_line) {
      await refuse(
        r(554, '5.6.0', `Error: message contains a line longer than ${listener.max_text_line} octets`),
        `line of ${decoder.findings.longestLine + 2} octets`,
      );
      return;
    }
    const hooks = this.settings.pipeline.hooks;
    if (hooks.message.taps.length || hooks.queue.taps.length) {
      // Plugins read the spooled file; without them the commit writes it in one go.
      try {
        await spool.finish();
      } catch (err) {
        await refuse(storageReply(err), `spool write failed: ${(err as Error).message}`);
        this.log.error({ err, queueId: txn.id }, 'cannot write the spool file; check the queue disk');
        return;
      }
    }
    const message = spooledMessage(spool);
    /** After a hook: true if the message is not to be queued (refused, or the client is gone). */
    const stopped = async (result: HookResult | undefined): Promise<boolean> => {
      if (!this.closed && !isRefusal(result)) return false;
      await spool.discard();
      if (isRefusal(result)) {
        this.applyResult(result);
        this.logTransaction(txn, 'rejected', result.reply, result.reason);
      } else {
        // The connection is gone and nobody can be told: not queued, so not a duplicate later.
        this.logTransaction(txn, 'aborted', undefined, 'connection lost before the reply');
      }
      await this.endTransaction(null);
      return true;
    };
    if (await stopped(await hooks.message.promise(this, txn, message))) {
      await this.queueNotices(txn);
      return;
    }
    // A held message stays in the queue's quarantine area: no queue plugin may take it elsewhere.
    const queued = txn.quarantined === undefined ? await hooks.queue.promise(this, txn, message) : undefined;
    if (await stopped(queued)) return;
    let reply: Reply;
    if (queued?.action === 'accept') {
      // A plugin took the message (forwarded, stored elsewhere): the spool is not ours to keep.
      await spool.discard();
      reply = queued.reply ?? r(250, '2.0.0', `Ok: accepted as ${txn.id}`);
    } else {
      try {
        await spool.commit(this.envelope(txn, spool.size));
      } catch (err) {
        const failure = storageReply(err);
        this.log.error({ err, queueId: txn.id }, 'cannot commit the message to the queue; check the queue disk');
        this.send(failure);
        this.logTransaction(txn, 'rejected', failure, `queue commit failed: ${(err as Error).message}`);
        await this.endTransaction(null);
        return;
      }
      reply = r(250, '2.0.0', `Ok: queued as ${txn.id}`);
    }
    this.messages++;
    this.send(reply);
    this.logTransaction(txn, 'queued', reply, undefined, undefined, spool.size);
    await this.queueNotices(txn);
    await this.endTransaction(null);
  }

  /**
   * The notices plugins asked for (transaction.notify), each queued as a message of its own
   * from <>, after the client has its reply. A notice that cannot be queued is logged and
   * dropped: it never changes what the client was told.
   */
  private async queueNotices(txn: SmtpTransaction): Promise<void> {
    for (const notice of txn.notices) {
      const id = newQueueId();
      const now = new Date();
      const spool = this.settings.queue.createSpool(id);
      try {
        spool.write(renderNotice({ hostname: this.hostname, ...notice, date: now, messageId: id }));
        await spool.commit(
          createEnvelope({
            id,
            received: now,
            sender: '',
            recipients: [notice.to],
            size: spool.size,
            client: { address: '127.0.0.1', port: 0, helo: this.hostname },
            listener: this.listener,
          }),
        );
        this.log.info({ event: 'notice', queueId: txn.id, noticeId: id, to: notice.to }, 'notice queued');
      } catch (err) {
        await spool.discard();
        this.log.error({ err, queueId: txn.id, to: notice.to }, 'cannot queue a notice; check the queue disk');
      }
    }
  }

  private envelope(txn: SmtpTransaction, size: number): Envelope {
    return createEnvelope({
      id: txn.id,
      received: new Date(),
      sender: txn.sender?.address ?? '',
      senderParameters: txn.senderParameters,
      recipients: txn.recipients.map((rc) => ({ address: rc.address.address, parameters: rc.parameters })),
      size,
      utf8: txn.utf8,
      body: txn.body,
      client: { address: this.remote.address, port: this.remote.port, helo: this.helo?.domain },
      listener: this.listener,
      tls: this.tls,
      authenticatedUser: this.authenticatedUser,
      addedHeaders: txn.addedHeaders,
      removedHeaders: txn.removedHeaders,
      ...(txn.quarantined !== undefined ? { quarantine: { reason: txn.quarantined } } : {}),
    });
  }

  /** Ends the open transaction (if any) and tells plugins. `why` null: already logged. */
  private async endTransaction(why: string | null): Promise<void> {
    const txn = this.transaction;
    if (!txn) return;
    this.transaction = undefined;
    if (why !== null) this.logTransaction(txn, 'aborted', undefined, why);
    if (this.settings.pipeline.hooks.reset.taps.length) await this.settings.pipeline.hooks.reset.promise(this, txn);
  }

  private logTransaction(
    txn: SmtpTransaction,
    result: 'queued' | 'rejected' | 'aborted',
    reply: Reply | undefined,
    reason: string | undefined,
    plugin?: string,
    size?: number,
  ): void {
    const refusal = [...txn.decisions]
      .reverse()
      .find((d) => d.action === 'reject' || d.action === 'error' || d.action === 'disconnect');
    // A transaction that ends with every recipient refused (relay denied, unknown users) was
    // refused by the server, not given up by the client: like Postfix's "NOQUEUE: reject".
    if (result === 'aborted' && txn.recipients.length === 0 && txn.refused.length > 0) {
      result = 'rejected';
      reason = refusal?.reason ?? reason;
    }
    const deciding = plugin ?? refusal?.plugin;
    countMessage(this.listener, result, result === 'queued' ? undefined : deciding, reasonClass(reply?.code, reply?.enhanced));
    this.log.info(
      {
        event: 'message',
        // The id names a queue entry; one that never queued would send a reader looking for nothing.
        ...(result === 'queued' ? { queueId: txn.id } : {}),
        result,
        client: this.remote.address,
        helo: this.helo?.domain,
        sender: txn.sender?.address ?? '',
        recipients: txn.recipients.map((rc) => rc.address.address),
        ...(txn.refused.length ? { refused: txn.refused } : {}),
        ...(size !== undefined ? { size } : {}),
        ...(reply ? { reply: `${reply.code} ${reply.enhanced ?? ''} ${replyText(reply)}`.replace(/ +/g, ' ') } : {}),
        ...(result === 'rejected' && deciding ? { plugin: deciding } : {}),
        ...(reason ? { reason } : {}),
        ...(result === 'queued' && txn.quarantined !== undefined ? { quarantined: txn.quarantined } : {}),
        ...(txn.decisions.length ? { decisions: txn.decisions } : {}),
        ms: Math.round(performance.now() - txn.startedAt),
      },
      result,
    );
  }
}

function isRefusal(result: HookResult | undefined): result is RejectResult | DisconnectResult {
  return result !== undefined && (result.action === 'reject' || result.action === 'disconnect');
}
