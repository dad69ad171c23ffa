/*
 * The envelope of a queued message: everything about it except its bytes
 * (sender, recipients, parameters, where it came from). The queue stores it as
 * JSON beside the message; delivery, bounces and the CLI read it. Every
 * envelope is made by createEnvelope (the SMTP session, forwards, bounces,
 * tests), so they all have the same fields in the same form. Pure.
 */
import type { EsmtpParameters } from './esmtp.js';
import type { HeaderField } from './header.js';

export interface EnvelopeRecipient {
  readonly address: string;
  readonly parameters: Readonly<Record<string, string | true>>;
}

/** Everything about a message except its bytes. Stored as JSON beside the message. */
export interface Envelope {
  readonly version: 1;
  readonly id: string;
  /** ISO 8601 time the message was accepted. */
  readonly received: string;
  /** "" for the null sender <>. */
  readonly sender: string;
  readonly senderParameters: Readonly<Record<string, string | true>>;
  readonly recipients: readonly EnvelopeRecipient[];
  readonly size: number;
  readonly utf8: boolean;
  readonly body: '7BIT' | '8BITMIME';
  readonly client: { readonly address: string; readonly port: number; readonly helo: string | undefined };
  readonly listener: string;
  readonly tls?: { readonly protocol: string; readonly cipher: string };
  readonly authenticatedUser?: string;
  /** Header fields plugins added in the message hook; prepended on delivery. */
  readonly addedHeaders: readonly HeaderField[];
  /**
   * Header fields plugins removed in the message hook (names, or prefixes ending in "*"),
   * left out of the client's header section on delivery. Absent when none.
   */
  readonly removedHeaders?: readonly string[];
  /** For a bounce: the queue id of the message it reports on. */
  readonly bounceOf?: string;
  /** A bounce of a bounce, sent to the double-bounce address; never bounced itself. */
  readonly doubleBounce?: boolean;
  /** Why a plugin had the message held in the quarantine area (transaction.quarantine); kept after a release. */
  readonly quarantine?: { readonly reason: string };
}

/** ESMTP parameters as the session holds them (a Map) or as an envelope stores them (an object). */
type Parameters = EsmtpParameters | Readonly<Record<string, string | true>>;

/** What makes an envelope; what is left out gets the value of a plain 7-bit message with nothing added. */
export interface EnvelopeFields {
  readonly id: string;
  /** When the message was accepted (an ISO 8601 string is taken as it is). */
  readonly received: Date | string;
  /** "" for the null sender <>. */
  readonly sender: string;
  readonly senderParameters?: Parameters;
  readonly recipients: readonly (string | { readonly address: string; readonly parameters?: Parameters })[];
  readonly size: number;
  readonly utf8?: boolean;
  readonly body?: Envelope['body'];
  readonly client: Envelope['client'];
  readonly listener: string;
  readonly tls?: Envelope['tls'];
  readonly authenticatedUser?: string;
  readonly addedHeaders?: readonly HeaderField[];
  readonly removedHeaders?: readonly string[];
  readonly bounceOf?: string;
  readonly doubleBounce?: boolean;
  readonly quarantine?: Envelope['quarantine'];
}

function parameters(p: Parameters | undefined): Readonly<Record<string, string | true>> {
  if (p === undefined) return {};
  return p instanceof Map ? Object.fromEntries(p) : { ...(p as Readonly<Record<string, string | true>>) };
}

/** The one envelope factory. Optional fields that are absent stay out of the stored JSON. */
export function createEnvelope(f: EnvelopeFields): Envelope {
  return {
    version: 1,
    id: f.id,
    received: typeof f.received === 'string' ? f.received : f.received.toISOString(),
    sender: f.sender,
    senderParameters: parameters(f.senderParameters),
    recipients: f.recipients.map((r) =>
      typeof r === 'string' ? { address: r, parameters: {} } : { address: r.address, parameters: parameters(r.parameters) },
    ),
    size: f.size,
    utf8: f.utf8 ?? false,
    body: f.body ?? '7BIT',
    client: f.client,
    listener: f.listener,
    ...(f.tls ? { tls: f.tls } : {}),
    ...(f.authenticatedUser ? { authenticatedUser: f.authenticatedUser } : {}),
    addedHeaders: f.addedHeaders ?? [],
    ...(f.removedHeaders?.length ? { removedHeaders: [...f.removedHeaders] } : {}),
    ...(f.bounceOf ? { bounceOf: f.bounceOf } : {}),
    ...(f.doubleBounce ? { doubleBounce: true } : {}),
    ...(f.quarantine ? { quarantine: f.quarantine } : {}),
  };
}
