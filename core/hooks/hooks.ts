/*
 * Every hook point of the gateway, declared once with tapable. The argument
 * names are the contract; README "Hooks" is this file in prose. Bail hooks stop
 * at the first final result (accept, reject, disconnect); series hooks run all
 * handlers. Handlers are never tapped here directly: plugins go through
 * PluginContext.on (pipeline/plugin-context.ts), which adds timeouts, timing and
 * error handling.
 */
import { AsyncSeriesBailHook, AsyncSeriesHook } from 'tapable';
import type { HookResult } from './results.js';
import type {
  AuthVerdict,
  BounceNotice,
  Capabilities,
  CommandArgs,
  Credentials,
  DeliveryRequest,
  DeliveryResult,
  HeloArgs,
  LifecycleContext,
  MailArgs,
  RcptArgs,
  Route,
  RouteQuery,
  Session,
  SpooledMessage,
  Transaction,
  UserQuery,
  UserRecord,
} from './types.js';

type Bail<T> = AsyncSeriesBailHook<T, HookResult | undefined>;

export function createHooks() {
  return Object.freeze({
    /** Once, when the pipeline starts (before the listener accepts). A throw stops start-up. */
    init: new AsyncSeriesHook<[LifecycleContext]>(['context']),
    /** On SIGHUP: re-read files, certificates, lists. */
    reload: new AsyncSeriesHook<[LifecycleContext]>(['context']),
    /** On shutdown, after the last session ended. */
    shutdown: new AsyncSeriesHook<[LifecycleContext]>(['context']),

    /** A client connected, before the greeting. reject/disconnect: reply and close. */
    connect: new AsyncSeriesBailHook<[Session], HookResult | undefined>(['session']) as Bail<[Session]>,
    /** HELO or EHLO with a syntactically valid argument. reject: the greeting is refused. */
    helo: new AsyncSeriesBailHook<[Session, HeloArgs], HookResult | undefined>(['session', 'helo']) as Bail<[Session, HeloArgs]>,
    /** Building the EHLO reply: add or remove keywords. */
    capabilities: new AsyncSeriesHook<[Session, Capabilities]>(['session', 'capabilities']),
    /**
     * Any command the core does not implement (AUTH, STARTTLS, ...), and every
     * command before the core handles it. accept: the plugin handled it and its
     * reply (accept(reason, reply)) is sent; reject: that reply is sent.
     */
    command: new AsyncSeriesBailHook<[Session, CommandArgs], HookResult | undefined>(['session', 'command']) as Bail<
      [Session, CommandArgs]
    >,
    /** MAIL FROM, after syntax checks. The transaction exists with its id. */
    mail: new AsyncSeriesBailHook<[Session, Transaction, MailArgs], HookResult | undefined>([
      'session',
      'transaction',
      'mail',
    ]) as Bail<[Session, Transaction, MailArgs]>,
    /**
     * RCPT TO, after syntax checks. Some plugin must accept: with no accept the
     * core refuses the recipient (no open relay by default).
     */
    rcpt: new AsyncSeriesBailHook<[Session, Transaction, RcptArgs], HookResult | undefined>([
      'session',
      'transaction',
      'rcpt',
    ]) as Bail<[Session, Transaction, RcptArgs]>,
    /** DATA, before the 354 reply. */
    data: new AsyncSeriesBailHook<[Session, Transaction], HookResult | undefined>(['session', 'transaction']) as Bail<
      [Session, Transaction]
    >,
    /**
     * After the end of data, before the reply: the whole message is spooled
     * (the qmail-queue point). Scanners run here.
     */
    message: new AsyncSeriesBailHook<[Session, Transaction, SpooledMessage], HookResult | undefined>([
      'session',
      'transaction',
      'message',
    ]) as Bail<[Session, Transaction, SpooledMessage]>,
    /**
     * Hands the message to the queue. With no final result the core commits it
     * to its durable queue. accept: the plugin took the message itself.
     */
    queue: new AsyncSeriesBailHook<[Session, Transaction, SpooledMessage], HookResult | undefined>([
      'session',
      'transaction',
      'message',
    ]) as Bail<[Session, Transaction, SpooledMessage]>,
    /** The transaction ended (queued, rejected, RSET, QUIT or a new MAIL). */
    reset: new AsyncSeriesHook<[Session, Transaction]>(['session', 'transaction']),
    /** The connection closed. */
    disconnect: new AsyncSeriesHook<[Session]>(['session']),

    /** Delivery: where one recipient's mail goes. undefined: the core decides (local domains, routes, MX). */
    route: new AsyncSeriesBailHook<[RouteQuery], Route | undefined>(['query']),
    /** Delivery: take over one attempt to one destination (LMTP, an API, ...). undefined: the core delivers. */
    deliver: new AsyncSeriesBailHook<[DeliveryRequest], DeliveryResult | undefined>(['request']),
    /** A bounce is about to be queued. reject: it is not sent (logged). */
    bounce: new AsyncSeriesBailHook<[BounceNotice], HookResult | undefined>(['bounce']),

    /** Directory: does this user exist? null = known not to exist; undefined = ask the next plugin. */
    lookupUser: new AsyncSeriesBailHook<[UserQuery], UserRecord | null | undefined>(['query']),
    /** Directory: are these credentials valid? undefined = ask the next plugin. */
    authenticate: new AsyncSeriesBailHook<[Credentials], AuthVerdict | undefined>(['credentials']),
  });
}

export type Hooks = ReturnType<typeof createHooks>;
export type HookName = keyof Hooks;

/** Hooks whose handlers decide (their result is a HookResult). */
export const DECISION_HOOKS = ['connect', 'helo', 'command', 'mail', 'rcpt', 'data', 'message', 'queue'] as const;
export type DecisionHookName = (typeof DECISION_HOOKS)[number];

// Inferred from promise(), which every hook has: matching AsyncSeriesHook against
// AsyncSeriesBailHook<infer A, infer R> infers never, so lifecycle handlers got no arguments.
type ArgsOf<H> = H extends { promise(...args: infer A): Promise<unknown> } ? A : never;
type ResultOf<K extends HookName> = K extends DecisionHookName
  ? HookResult | undefined | void
  : K extends 'lookupUser'
    ? UserRecord | null | undefined
    : K extends 'authenticate'
      ? AuthVerdict | undefined
      : K extends 'route'
        ? Route | undefined
        : K extends 'deliver'
          ? DeliveryResult | undefined
          : K extends 'bounce'
            ? HookResult | undefined | void
            : void;

/** The handler signature plugins implement for hook K. */
export type HookHandler<K extends HookName> = (
  ...args: ArgsOf<Hooks[K]> extends unknown[] ? ArgsOf<Hooks[K]> : never
) => ResultOf<K> | Promise<ResultOf<K>>;
