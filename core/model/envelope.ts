/*
 * The envelope of a queued message: everything about it except its bytes
 * (sender, recipients, parameters, where it came from). The queue stores it as
 * JSON beside the message; delivery, bounces and the CLI read it. Shape only.
 */
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
  /** For a bounce: the queue id of the message it reports on. */
  readonly bounceOf?: string;
  /** A bounce of a bounce, sent to the double-bounce address; never bounced itself. */
  readonly doubleBounce?: boolean;
}
