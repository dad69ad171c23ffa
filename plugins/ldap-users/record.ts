/*
 * A directory entry as the contract's UserRecord: the canonical address, the
 * Maildir (relative values below mailbox_prefix, as qmail-ldap's
 * ldapmessagestore), forwards, "nolocal", the quota and whether the account is
 * enabled; an alias entry as forwards only. Pure: the entry comes from
 * ldapts's search, attribute values as strings or lists of strings.
 */
import { isAbsolute, join } from 'node:path';
import type { UserRecord } from '../../core/plugin-api/index.js';
import type { DirectoryLayout } from './presets.js';

/** An entry as ldapts returns it: dn, then attributes (names as the server spells them). */
export type DirectoryEntry = { readonly dn: string } & Readonly<Record<string, unknown>>;

/** Every value of `attribute` (matched without regard to case, as LDAP names are). */
export function values(entry: DirectoryEntry, attribute: string | undefined): string[] {
  if (attribute === undefined) return [];
  const want = attribute.toLowerCase();
  for (const [name, value] of Object.entries(entry)) {
    if (name.toLowerCase() !== want || name === 'dn') continue;
    const list = Array.isArray(value) ? value : [value];
    return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))).filter((v) => v !== '');
  }
  return [];
}

function first(entry: DirectoryEntry, attribute: string | undefined): string | undefined {
  return values(entry, attribute)[0];
}

export function accountStatus(entry: DirectoryEntry, layout: DirectoryLayout): string | undefined {
  return first(entry, layout.statusAttribute)?.toLowerCase();
}

export function isDisabled(entry: DirectoryEntry, layout: DirectoryLayout): boolean {
  const status = accountStatus(entry, layout);
  return status !== undefined && layout.disabledValues.includes(status);
}

/** May this entry log in (AUTH, POP3)? Not when disabled, nor when its status denies logins. */
export function mayLogIn(entry: DirectoryEntry, layout: DirectoryLayout): boolean {
  const status = accountStatus(entry, layout);
  return status === undefined || !(layout.disabledValues.includes(status) || layout.loginDeniedValues.includes(status));
}

export function canonicalAddress(entry: DirectoryEntry, layout: DirectoryLayout, asked: string): string {
  return first(entry, layout.addressAttribute) ?? asked;
}

export function userRecord(
  entry: DirectoryEntry,
  layout: DirectoryLayout,
  asked: string,
  mailboxPrefix: string | undefined,
): UserRecord {
  const store = first(entry, layout.mailboxAttribute);
  const mailbox = store === undefined || isAbsolute(store) || mailboxPrefix === undefined ? store : join(mailboxPrefix, store);
  const forwards = values(entry, layout.forwardsAttribute);
  const modes = values(entry, layout.deliveryModeAttribute).flatMap((m) => m.toLowerCase().split(/[\s,]+/));
  const quotaText = first(entry, layout.quotaAttribute);
  // qmail-ldap's mailQuotaSize is octets; anything else is not a quota we can enforce.
  const quota = quotaText !== undefined && /^\d{1,15}$/.test(quotaText) ? Number(quotaText) : undefined;
  return {
    address: canonicalAddress(entry, layout, asked),
    ...(mailbox !== undefined ? { mailbox } : {}),
    ...(forwards.length ? { forwards } : {}),
    ...(forwards.length && modes.includes('nolocal') ? { deliverLocally: false } : {}),
    ...(isDisabled(entry, layout) ? { enabled: false } : {}),
    ...(quota ? { quota } : {}),
    attributes: { dn: entry.dn },
  };
}

/** An alias entry (a nisMailAlias group): mail for it goes to its members only. */
export function aliasRecord(entry: DirectoryEntry, layout: DirectoryLayout, asked: string): UserRecord | null {
  const members = values(entry, layout.aliasMembersAttribute);
  if (!members.length) return null;
  return { address: asked, forwards: members, deliverLocally: false, attributes: { dn: entry.dn } };
}
