/*
 * One SMTP listener: accepts TCP connections, enforces the overall and
 * per-client connection limits (421 for the extra ones, before any hook
 * runs) and hands each connection to a session. Listens with a backlog at
 * least as large as its session limit, so bursts of connects are not dropped.
 * Sockets stay half-open after a client's FIN until the session closes them.
 * A reload hands it new settings for new sessions (reconfigure); sessions keep
 * the settings they started with, and drained() says when the last one ended.
 * The listener's life is core/net/listener.ts; this file holds SMTP's words.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Listener, type ListenerProtocol } from '../net/listener.js';
import { type SessionSettings, SmtpSession } from './session.js';

const SMTP: ListenerProtocol<SessionSettings> = {
  // A client's FIN must not end our side before the replies to what it sent (session.ts).
  allowHalfOpen: true,
  refusal: (settings, text) => `421 4.7.0 ${settings.hostname} ${text}\r\n`,
  shuttingDown: 'Service shutting down, closing transmission channel',
  tooManyConnections: 'Error: too many connections, try again later',
  tooManyFromClient: (client) => `Error: too many connections from ${client}`,
  maxConnectionsLog: 'connection refused: max_connections reached; raise it if this is legitimate load',
  startFailedLog: 'session failed to start',
};

export class SmtpListener extends Listener<SessionSettings, SmtpSession> {
  constructor(settings: SessionSettings, log: Logger) {
    super(settings, log, SMTP);
  }

  protected openSession(socket: Socket, settings: SessionSettings): SmtpSession {
    return new SmtpSession(socket, settings);
  }
}
