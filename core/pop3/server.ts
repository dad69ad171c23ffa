/*
 * One POP3 listener (ports 110 and 995): accepts connections, enforces the
 * overall and per-client connection limits (-ERR [SYS/TEMP] and close), and
 * runs a session per connection. Keeps the failed-login throttle of its
 * clients across sessions and reloads. The same life as an SMTP listener
 * (hold until privileges are dropped, reconfigure, drained, close, shutdown;
 * core/net/listener.ts), so the gateway manages both alike.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FailureThrottle } from '../model/index.js';
import { Listener, type ListenerProtocol } from '../net/listener.js';
import { Pop3Session, type Pop3Settings } from './session.js';

const POP3: ListenerProtocol<Pop3Settings> = {
  allowHalfOpen: false,
  refusal: (_settings, text) => `-ERR [SYS/TEMP] ${text}\r\n`,
  shuttingDown: 'Server shutting down',
  tooManyConnections: 'Too many connections, try again later',
  tooManyFromClient: (client) => `Too many connections from ${client}`,
  maxConnectionsLog: 'connection refused: max_connections reached',
  startFailedLog: 'pop3 session failed to start',
};

function loginThrottle(settings: Pop3Settings): FailureThrottle {
  return new FailureThrottle(settings.listener.max_login_failures, settings.listener.login_failure_window);
}

export class Pop3Listener extends Listener<Pop3Settings, Pop3Session> {
  private throttle: FailureThrottle;

  constructor(settings: Pop3Settings, log: Logger) {
    super(settings, log, POP3);
    this.throttle = loginThrottle(settings);
  }

  override reconfigure(settings: Pop3Settings): void {
    const before = this.current.listener;
    super.reconfigure(settings);
    // The failures counted so far stay, unless the limits changed.
    if (
      before.max_login_failures !== settings.listener.max_login_failures ||
      before.login_failure_window !== settings.listener.login_failure_window
    ) {
      this.throttle = loginThrottle(settings);
    }
  }

  protected openSession(socket: Socket, settings: Pop3Settings): Pop3Session {
    return new Pop3Session(socket, settings, this.throttle);
  }
}
