/*
 * The hook table: every hook point of the gateway, once, with its kind, its
 * argument names and types, its result type, when it fires and what a handler
 * may return. Everything else is derived from it: the tapable hooks and handler
 * types (hooks.ts), the guard that enforces the contract (pipeline), the order
 * `qgate check config` lists hooks in, and the README's hook table (reference.ts).
 */
import type { DeliveryResult, Route } from '../model/index.js';
import type { HandlerReturn, UnavailableResult } from './results.js';
import type {
  AuthVerdict,
  BounceNotice,
  Capabilities,
  CommandArgs,
  Credentials,
  DeliveryRequest,
  HeloArgs,
  LifecycleContext,
  MailArgs,
  Pop3Login,
  RcptArgs,
  RelayGrantAnswer,
  RelayGrantRequest,
  RouteQuery,
  Session,
  SpooledMessage,
  TlsOffer,
  TlsQuery,
  Transaction,
  UserQuery,
  UserRecord,
} from './types.js';

/**
 * How the core runs a hook's handlers, and so which guard wraps them:
 * - lifecycle: every handler runs, with the plugin's own logger; a throw in init stops start-up.
 * - decision: handlers run in pipeline order until one returns a final result (accept, reject,
 *   disconnect); a throw, a timeout or a malformed result is a 451 4.3.0 for the transaction.
 * - service: a question asked outside any SMTP reply (a route, a user, a delivery): the first
 *   answer wins; undefined asks the next plugin; a throw or a timeout reaches the caller. On
 *   the hooks marked `unavailable`, `unavailable(reason)`, a throw, a timeout or a malformed
 *   answer is a DirectoryUnavailable (a temporary failure) and later plugins are not asked.
 * - notify: every handler runs; a throw is logged and the session goes on.
 */
export type HookKind = 'lifecycle' | 'decision' | 'service' | 'notify';

/** Where a hook fires: which pipelines `qgate check config` lists it for (pop3: POP3 listeners only). */
export type HookScope = 'gateway' | 'session' | 'delivery' | 'directory' | 'pop3';

export interface HookSpec<Kind extends HookKind, Args extends readonly unknown[], Result> {
  readonly kind: Kind;
  readonly scope: HookScope;
  /** Argument names, as tapable takes them. */
  readonly args: readonly string[];
  /** When it fires (README "fires"). */
  readonly fires: string;
  /** The arguments as the README shows them. */
  readonly shows: string;
  /** What a handler may return (README). */
  readonly returns: string;
  /** What a failed handler (throw, timeout, malformed result) of a decision hook leads to, for its log line. */
  readonly onFailure?: string;
  /** A service hook whose handlers may answer `unavailable(reason)`: the directory contract. */
  readonly unavailable?: true;
  /** Phantom: the argument and result types, for the type checker only. */
  readonly types?: { readonly args: Args; readonly result: Result };
}

type Text = Omit<HookSpec<HookKind, [], unknown>, 'kind' | 'types'>;

const lifecycle = (text: Text): HookSpec<'lifecycle', [LifecycleContext], void> => ({ kind: 'lifecycle', ...text });
const decision = <Args extends readonly unknown[]>(text: Text): HookSpec<'decision', Args, HandlerReturn> => ({
  kind: 'decision',
  ...text,
});
const service = <Args extends readonly unknown[], Result>(text: Text): HookSpec<'service', Args, Result> => ({
  kind: 'service',
  ...text,
});
const notify = <Args extends readonly unknown[]>(text: Text): HookSpec<'notify', Args, void> => ({ kind: 'notify', ...text });

/** In the order the hooks fire in a gateway's life; `qgate check config` lists them in this order. */
export const HOOK_TABLE = Object.freeze({
  init: lifecycle({
    scope: 'gateway',
    args: ['context'],
    fires: 'once, before the listener accepts',
    shows: '`{ log }`',
    returns: 'nothing; a throw stops start-up',
  }),
  connect: decision<[Session]>({
    scope: 'session',
    args: ['session'],
    fires: 'a client connected, before the greeting',
    shows: '`session`',
    returns: '`reject`/`disconnect`: 554 (or 421 if 4xx) and close',
  }),
  helo: decision<[Session, HeloArgs]>({
    scope: 'session',
    args: ['session', 'helo'],
    fires: 'HELO/EHLO with an argument',
    shows: '`session, { verb, domain }`',
    returns: '`reject` refuses the greeting',
  }),
  capabilities: notify<[Session, Capabilities]>({
    scope: 'session',
    args: ['session', 'capabilities'],
    fires: 'building the EHLO reply',
    shows: '`session, capabilities`',
    returns: "nothing; `capabilities.add('SIZE 10485760')`, `.remove(...)`",
  }),
  command: decision<[Session, CommandArgs]>({
    scope: 'session',
    args: ['session', 'command'],
    fires: 'every command, before the core handles it',
    shows: '`session, { verb, argument }`',
    returns: '`accept(reason, reply)`: the plugin handled it (extension verbs: AUTH, STARTTLS, ...); `reject`; `disconnect`',
  }),
  mail: decision<[Session, Transaction, MailArgs]>({
    scope: 'session',
    args: ['session', 'transaction', 'mail'],
    fires: 'MAIL FROM after syntax checks',
    shows: '`session, transaction, { address, parameters }`',
    returns: '`reject`, `disconnect`, `accept`',
  }),
  rcpt: decision<[Session, Transaction, RcptArgs]>({
    scope: 'session',
    args: ['session', 'transaction', 'rcpt'],
    fires: 'RCPT TO after syntax checks',
    shows: '`session, transaction, { address, parameters }`',
    returns: '`accept` (some plugin must, or the session must be `relayAllowed`: otherwise 554 5.7.1), `reject`, `disconnect`',
  }),
  data: decision<[Session, Transaction]>({
    scope: 'session',
    args: ['session', 'transaction'],
    fires: 'DATA, before 354',
    shows: '`session, transaction`',
    returns: '`reject`, `disconnect`',
  }),
  message: decision<[Session, Transaction, SpooledMessage]>({
    scope: 'session',
    args: ['session', 'transaction', 'message'],
    fires: 'end of data, before the reply; the message is spooled (the qmail-queue point: scanners run here)',
    shows: '`session, transaction, message`',
    returns:
      '`reject`, `disconnect`; `transaction.addHeader(name, value)`, `transaction.removeHeader(name)`; `transaction.quarantine(reason)`: committed to the quarantine area, not delivered; `transaction.notify(to, subject, text)`: a notice queued from <> once the outcome is known',
  }),
  queue: decision<[Session, Transaction, SpooledMessage]>({
    scope: 'session',
    args: ['session', 'transaction', 'message'],
    fires: 'hand the message to the queue',
    shows: '`session, transaction, message`',
    returns: 'nothing: the core commits to its queue; `accept`: the plugin took the message itself',
  }),
  reset: notify<[Session, Transaction]>({
    scope: 'session',
    args: ['session', 'transaction'],
    fires: 'the transaction ended (queued, refused, RSET, QUIT, new MAIL)',
    shows: '`session, transaction`',
    returns: 'nothing',
  }),
  disconnect: notify<[Session]>({
    scope: 'session',
    args: ['session'],
    fires: 'the connection closed',
    shows: '`session`',
    returns: 'nothing',
  }),
  route: service<[RouteQuery], Route | UnavailableResult | undefined>({
    scope: 'delivery',
    unavailable: true,
    args: ['query'],
    fires: "delivery: where one recipient's copy goes (delivery pipeline)",
    shows: '`{ queueId, recipient, domain, envelope }`',
    returns:
      "a route (`{ kind: 'local' }`, `{ kind: 'smtp', hosts, tls, auth?, via }`, `{ kind: 'mx', domain, port, tls }`, `{ kind: 'error', permanent, reply }`), `unavailable(reason)`: the recipient is deferred, or nothing: the core decides",
  }),
  deliver: service<[DeliveryRequest], DeliveryResult | undefined>({
    scope: 'delivery',
    args: ['request'],
    fires: 'delivery: one attempt to one destination',
    shows: '`{ queueId, route, sender, recipients, envelope, message() }`',
    returns:
      "`{ outcomes: [{ recipient, result: 'delivered' \\| 'deferred' \\| 'failed', reply }] }` (the plugin delivered), or nothing: the core delivers",
  }),
  bounce: decision<[BounceNotice]>({
    scope: 'delivery',
    args: ['bounce'],
    fires: 'a bounce is about to be queued',
    shows: '`{ queueId, to, recipients, double }`',
    returns:
      "`reject(...)`: it is not sent; `accept`, `next()` or nothing: it is sent; a plugin that fails does not stop it. The decisions go into the bounce's log line",
    onFailure: 'the bounce is sent',
  }),
  lookupUser: service<[UserQuery], UserRecord | null | UnavailableResult | undefined>({
    scope: 'directory',
    unavailable: true,
    args: ['query'],
    fires:
      'a plugin asked `ctx.users.lookup(address)`; the RCPT check and local delivery ask it for each mailbox a local address may reach (`user-ext`, then `user`)',
    shows: '`{ address, local, domain }`',
    returns:
      'a user record (`{ address, mailbox?, forwards?, deliverLocally?, enabled?, quota?, attributes? }`), `null` (no such user), `unavailable(reason)` (cannot tell now: a temporary failure, later plugins are not asked), or nothing (ask the next plugin)',
  }),
  authenticate: service<[Credentials], AuthVerdict | UnavailableResult | undefined>({
    scope: 'directory',
    unavailable: true,
    args: ['credentials'],
    fires: 'a plugin asked `ctx.users.authenticate(credentials)`',
    shows: '`{ mechanism, username, password?, challenge?, response?, service? }` (service: `smtp` or `pop3`)',
    returns: '`{ ok, user }`, `unavailable(reason)` (454 4.7.0), or nothing (ask the next plugin)',
  }),
  tls: service<[TlsQuery], TlsOffer | undefined>({
    scope: 'pop3',
    args: ['query'],
    fires: 'a POP3 listener starts a session: how it speaks TLS (STLS, or implicit on port 995)',
    shows: "`{ listener, protocol: 'pop3' }`",
    returns: '`{ options, implicit }` (TLS socket options; `implicit`: TLS from the first byte), or nothing: no TLS here',
  }),
  'pop3-login': notify<[Pop3Login]>({
    scope: 'pop3',
    args: ['login'],
    fires: 'a POP3 login succeeded or failed (USER/PASS, AUTH PLAIN)',
    shows: '`{ listener, client, user, ok, mechanism, tls, reason? }`',
    returns: 'nothing (relay-ctrl records the client for POP-before-SMTP)',
  }),
  relayGrant: service<[RelayGrantRequest], RelayGrantAnswer | undefined>({
    scope: 'gateway',
    args: ['request'],
    fires: '`qgate relay allow` or `POST /api/relay`: an operator lets a client address relay for a while',
    shows: '`{ address, forMs, by }`',
    returns: '`{ until }` once recorded (relay-ctrl), or nothing: no plugin keeps relay grants',
  }),
  reload: lifecycle({
    scope: 'gateway',
    args: ['context'],
    fires: 'on `SIGHUP`',
    shows: '`{ log }`',
    returns: 'nothing (re-read files, lists, certificates)',
  }),
  shutdown: lifecycle({
    scope: 'gateway',
    args: ['context'],
    fires: 'after the last session ended',
    shows: '`{ log }`',
    returns: 'nothing',
  }),
});

export type HookTable = typeof HOOK_TABLE;
export type HookName = keyof HookTable;

/** Hook names in table order. */
export const HOOK_NAMES = Object.freeze(Object.keys(HOOK_TABLE) as HookName[]);

export function isHookName(name: string): name is HookName {
  return Object.hasOwn(HOOK_TABLE, name);
}
