/*
 * One mail transaction (MAIL .. end of DATA) and the EHLO capability list:
 * the mutable state behind the Transaction and Capabilities interfaces.
 */
import { Notes } from '../hooks/notes.js';
import type { Capabilities, Decision, Notice, Recipient, Transaction } from '../hooks/types.js';
import { checkRemoval } from '../message/removed-fields.js';
import type { Address, EsmtpParameters, HeaderField } from '../model/index.js';

const MAX_NOTICES = 5;
const MAX_NOTICE_TEXT = 10_000;

export class SmtpTransaction implements Transaction {
  readonly recipients: Recipient[] = [];
  readonly notes = new Notes();
  readonly addedHeaders: HeaderField[] = [];
  readonly removedHeaders: string[] = [];
  readonly decisions: Decision[] = [];
  readonly startedAt = performance.now();
  sizeLimit: number | undefined;
  /** Recipients refused, with the reply they got (for the log line). */
  readonly refused: { address: string; code: number }[] = [];
  quarantined: string | undefined;
  readonly notices: Notice[] = [];

  constructor(
    readonly id: string,
    readonly sender: Address | null,
    readonly senderParameters: EsmtpParameters,
    readonly utf8: boolean,
    readonly body: '7BIT' | '8BITMIME',
    readonly declaredSize: number | undefined,
  ) {}

  quarantine(reason: string): void {
    // A bound like a header's: the reason is stored in the envelope and shown by the CLI.
    this.quarantined ??= reason.replace(/[\r\n]+/g, ' ').slice(0, 500) || 'quarantined';
  }

  notify(to: string, subject: string, text: string): void {
    // Bounded: a plugin bug must not turn one message into a flood, or a huge one.
    if (!/^[^\s<>@]+@[^\s<>@]+$/.test(to)) throw new RangeError(`not an address to notify: "${to}"`);
    if (this.notices.length >= MAX_NOTICES) return;
    this.notices.push({ to, subject: subject.slice(0, 200), text: text.slice(0, MAX_NOTICE_TEXT) });
  }

  addHeader(name: string, value: string): void {
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new RangeError(`invalid header field name "${name}"`);
    this.addedHeaders.push({ name, value: value.replace(/[\r\n]+/g, ' ') });
  }

  removeHeader(name: string): void {
    const removal = checkRemoval(name);
    if (!this.removedHeaders.some((r) => r.toLowerCase() === removal.toLowerCase())) this.removedHeaders.push(removal);
  }
}

export class CapabilityList implements Capabilities {
  readonly list: string[];

  constructor(initial: string[]) {
    this.list = [...initial];
  }

  private static keyword(s: string): string {
    return s.split(' ')[0]!.toUpperCase();
  }

  add(keyword: string): void {
    const k = CapabilityList.keyword(keyword);
    const i = this.list.findIndex((c) => CapabilityList.keyword(c) === k);
    if (i >= 0) this.list[i] = keyword;
    else this.list.push(keyword);
  }

  remove(keyword: string): void {
    const k = CapabilityList.keyword(keyword);
    const i = this.list.findIndex((c) => CapabilityList.keyword(c) === k);
    if (i >= 0) this.list.splice(i, 1);
  }
}
