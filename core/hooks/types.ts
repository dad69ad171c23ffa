/*
 * The objects hook handlers receive: the session (one SMTP connection), the
 * transaction (one MAIL..end of DATA), the spooled message and the hook
 * arguments. These are the public shapes; the protocol engine implements them.
 */
import type { Readable } from 'node:stream';
import type { TLSSocketOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Address, DomainSet, Envelope, EsmtpParameters, HeaderField, Reply, Route } from '../model/index.js';
import type { Notes } from './notes.js';

export type { Logger, TLSSocketOptions };

/** One recorded plugin decision: the material of the per-message log line. */
export interface Decision {
  readonly plugin: string;
  readonly hook: string;
  readonly action: 'continue' | 'accept' | 'reject' | 'disconnect' | 'error';
  readonly reason?: string;
  readonly code?: number;
  /** Wall time the handler took, in milliseconds. */
  readonly ms: number;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface HeloInfo {
  readonly verb: 'HELO' | 'EHLO';
  readonly domain: string;
}

export interface TlsInfo {
  /** "TLSv1.3" */
  readonly protocol: string;
  /** IANA cipher suite name. */
  readonly cipher: string;
  /** Server name the client asked for (SNI), if any. */
  readonly servername?: string;
}

export interface Recipient {
  readonly address: Address;
  readonly parameters: EsmtpParameters;
}

export interface Transaction {
  /** Queue id this message will have if it is accepted. */
  readonly id: string;
  /** null for the null reverse-path <>. */
  readonly sender: Address | null;
  readonly senderParameters: EsmtpParameters;
  /** Accepted recipients, in order. */
  readonly recipients: readonly Recipient[];
  /** SMTPUTF8 was declared (RFC 6531). */
  readonly utf8: boolean;
  /** BODY= parameter (RFC 6152), 7BIT unless declared. */
  readonly body: '7BIT' | '8BITMIME';
  /** SIZE= parameter (RFC 1870), if declared. */
  readonly declaredSize: number | undefined;
  /**
   * Largest message this transaction may carry, in octets. Plugins lower it
   * (ESMTP SIZE); the engine stops storing past it and answers 552 at the end of data.
   */
  sizeLimit: number | undefined;
  readonly notes: Notes;
  /** Header fields plugins add; stored with the envelope and prepended on delivery. */
  readonly addedHeaders: readonly HeaderField[];
  addHeader(name: string, value: string): void;
  /**
   * Names of the client's header fields left out of the queued copy (exact, or a prefix
   * ending in "*"), stored with the envelope and applied on delivery.
   */
  readonly removedHeaders: readonly string[];
  /**
   * Removes the client's header fields called `name` ("X-Spam-Flag"), or starting with a
   * prefix ("X-Spam-*"), without case, folded lines and all, from the message as delivered.
   * Fields added with addHeader are never removed, so remove then add replaces a field
   * (a Subject rewrite). Received fields are never removed (RFC 5321 4.4): naming one throws.
   * The spool itself is unchanged: later message-hook plugins still read the original.
   */
  removeHeader(name: string): void;
  readonly decisions: readonly Decision[];
  /**
   * From the message hook: the message is committed to the queue's quarantine area instead
   * of being delivered (the client gets its 250), until an administrator releases or deletes
   * it (`qgate quarantine`). The first reason given is kept.
   */
  quarantine(reason: string): void;
  /** The quarantine reason, once a plugin asked for it. */
  readonly quarantined: string | undefined;
  /**
   * From the message hook: once the transaction's outcome is known (refused, or committed),
   * the core queues a short plain-text notice to `to` (an administrator) from the null sender
   * <>, like a bounce. At most 5 per transaction; the text is cut at 10,000 characters.
   */
  notify(to: string, subject: string, text: string): void;
  readonly notices: readonly Notice[];
}

/** A notice a plugin asked for (transaction.notify). */
export interface Notice {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

export interface Session {
  readonly id: string;
  /** Name of the listener that accepted the connection. */
  readonly listener: string;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** The name this gateway greets with. */
  readonly hostname: string;
  readonly helo: HeloInfo | undefined;
  readonly tls: TlsInfo | undefined;
  /** Set by authentication plugins. */
  authenticatedUser: string | undefined;
  /** Set by plugins that trust this client to relay (RELAYCLIENT). */
  relayAllowed: boolean;
  readonly notes: Notes;
  readonly transaction: Transaction | undefined;
  readonly log: Logger;
  /**
   * For extension verbs (AUTH ...): sends an intermediate reply such as 334 and
   * resolves with the client's next line (without CRLF).
   */
  exchange(reply: Reply): Promise<string>;
  /**
   * Switches the connection to TLS (the options carry the secure context, SNI
   * callback, ...). From a command handler that accepts: after that command's
   * reply (220 to STARTTLS). From a connect handler: before the greeting
   * (implicit TLS, RFC 8314). Asked anywhere else, or with a command result
   * other than accept, the request is void. The engine then discards plaintext the client pipelined after
   * the command and forgets HELO, the transaction and any authentication
   * (RFC 3207 4.2). A failed handshake closes the connection.
   */
  startTls(options: TLSSocketOptions): void;
}

export interface SpooledMessage {
  /** Octets stored, including the Received header the gateway prepended. */
  readonly size: number;
  /** Read-only path of the spooled message (CRLF line endings). */
  readonly path: string;
  createReadStream(): Readable;
  /** Parsed header section (read lazily from the spool, bounded). */
  readHeaders(): Promise<readonly HeaderField[]>;
}

export interface HeloArgs {
  readonly verb: 'HELO' | 'EHLO';
  readonly domain: string;
}

/** EHLO keywords; plugins add theirs ("SIZE 10485760", "STARTTLS", "AUTH PLAIN"). */
export interface Capabilities {
  readonly list: readonly string[];
  add(keyword: string): void;
  remove(keyword: string): void;
}

export interface CommandArgs {
  /** Upper-cased verb. */
  readonly verb: string;
  readonly argument: string;
}

export interface MailArgs {
  readonly address: Address | null;
  readonly parameters: EsmtpParameters;
}

export interface RcptArgs {
  readonly address: Address;
  readonly parameters: EsmtpParameters;
}

export interface UserQuery {
  /** Full address (local@domain) or login name. */
  readonly address: string;
  readonly local: string;
  readonly domain: string;
}

/**
 * A user as a directory (lookupUser) describes it. Only `address` is required;
 * what is left out takes the default written beside it.
 */
export interface UserRecord {
  /**
   * The canonical address (alice@example.net for a query about Alice.Smith@example.net):
   * without `mailbox`, mail goes to the canonical address's Maildir under maildir_root.
   */
  readonly address: string;
  /** The Maildir (an absolute path, or relative to the working directory); default: from `address`. */
  readonly mailbox?: string;
  /** Addresses that get a copy (local ones are resolved again, others are sent on). */
  readonly forwards?: readonly string[];
  /** With `forwards`: keep a copy in the mailbox too. Default true; without forwards always true. */
  readonly deliverLocally?: boolean;
  /**
   * false: a disabled account. AUTH fails (535 5.7.8), RCPT gets 550 5.1.1 as an unknown
   * user does, mail already queued for it fails with 5.2.1. Default true.
   */
  readonly enabled?: boolean;
  /**
   * The mailbox's size limit in octets (0 or absent: none). Local delivery defers with
   * 4.2.2 a message that would take the Maildir (new/ and cur/) past it.
   */
  readonly quota?: number;
  /** Anything else the directory knows (display name, LDAP attributes), as strings. */
  readonly attributes?: Readonly<Record<string, string>>;
}

/** The protocol a login is for, so a directory can allow one and refuse the other. */
export type LoginService = 'smtp' | 'pop3' | (string & {});

export interface Credentials {
  readonly mechanism: 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | (string & {});
  readonly username: string;
  /**
   * Who asks: 'smtp' (SMTP AUTH, the auth plugin) or 'pop3' (a POP3 login). Absent when a
   * plugin asks without saying; a directory then applies only the rules common to every service.
   */
  readonly service?: LoginService;
  /** Cleartext password (PLAIN, LOGIN). */
  readonly password?: string;
  /** CRAM-MD5 challenge and the client's hex digest. */
  readonly challenge?: string;
  readonly response?: string;
}

export interface AuthVerdict {
  readonly ok: boolean;
  /** Canonical user name on success. */
  readonly user?: string;
}

export interface LifecycleContext {
  readonly log: Logger;
}

/** What the route hook is asked: where should this recipient's copy go? */
export interface RouteQuery {
  readonly queueId: string;
  readonly recipient: string;
  /** The recipient's domain, lower-cased ("" for a bare local part). */
  readonly domain: string;
  readonly envelope: Envelope;
}

/** One delivery attempt to one destination, offered to the deliver hook. */
export interface DeliveryRequest {
  readonly queueId: string;
  readonly route: Route;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly envelope: Envelope;
  /** A fresh stream of the message as it should be sent (added headers included, CRLF). */
  message(): Readable;
}

/** A bounce about to be queued. */
export interface BounceNotice {
  readonly queueId: string;
  /** Who gets the bounce (the original sender, or the double-bounce address). */
  readonly to: string;
  readonly recipients: readonly { readonly address: string; readonly reply: string }[];
  readonly double: boolean;
}

/** What a protocol engine asks the tls hook: the TLS settings of one listener. */
export interface TlsQuery {
  /** The listener's name. */
  readonly listener: string;
  readonly protocol: 'smtp' | 'pop3';
}

/** A plugin's answer to the tls hook: how to speak TLS on that listener. */
export interface TlsOffer {
  /** The server side's options (secure context, SNI callback, versions, ciphers). */
  readonly options: TLSSocketOptions;
  /** TLS from the first byte (ports 465, 995); otherwise offered after a command (STARTTLS, STLS). */
  readonly implicit: boolean;
}

/** One POP3 login attempt, as the pop3-login hook tells it. */
export interface Pop3Login {
  /** The listener's name. */
  readonly listener: string;
  readonly client: Endpoint;
  /** The user name the client gave (on success: the canonical name the directory returned). */
  readonly user: string;
  readonly ok: boolean;
  /** USER (USER/PASS) or PLAIN (AUTH PLAIN). */
  readonly mechanism: string;
  /** The connection was encrypted. */
  readonly tls: boolean;
  /** Why it failed: bad credentials, disabled, in use, unavailable, throttled. */
  readonly reason?: string;
}

/** An operator (qgate relay allow, the admin API) lets a client address relay for a while. */
export interface RelayGrantRequest {
  readonly address: string;
  readonly forMs: number;
  /** Who asked: "cli", "api". */
  readonly by: string;
}

/** A plugin recorded the grant: until when it holds (ms since the epoch). */
export interface RelayGrantAnswer {
  readonly until: number;
}

/** One listener of the running gateway, as configured. */
export interface ListenerInfo {
  readonly name: string;
  readonly address: string;
  /** The configured port; 0 means one the system picked (logged at start-up). */
  readonly port: number;
  readonly pipeline: string;
  /** What it speaks: SMTP (the default) or POP3. */
  readonly protocol: 'smtp' | 'pop3';
  /** The name it greets with. */
  readonly hostname: string;
}

/** Read-only facts about the running gateway that plugins may need (ctx.gateway). */
export interface GatewayInfo {
  /** Our host name (config `hostname`). */
  readonly hostname: string;
  readonly listeners: readonly ListenerInfo[];
  /** delivery.local_domains: delivered to local Maildirs. */
  readonly localDomains: DomainSet;
  /** Domains with a static route (delivery.routes; the "*" smarthost is not one): relay domains with a next hop. */
  readonly routedDomains: DomainSet;
  /** The queue directory, absolute; a plugin keeps its state next to it. Absent outside a configured gateway. */
  readonly queuePath?: string;
}
