/*
 * What each preset fills in for the options left out: "generic" for an
 * inetOrgPerson directory (mail, mailLocalAddress aliases, uid logins), and
 * "qmail-ldap" for a directory in qmail-ldap's layout (objectClass qmailUser:
 * mail, mailAlternateAddress, mailMessageStore, mailForwardingAddress,
 * deliveryMode, accountStatus, mailQuotaSize). Options the admin writes win.
 * Pure.
 */
import type { LdapUsersOptions } from './options.js';

export interface DirectoryLayout {
  readonly userFilter: string;
  readonly loginFilter: string;
  readonly aliasFilter: string | undefined;
  readonly aliasMembersAttribute: string;
  readonly addressAttribute: string;
  readonly mailboxAttribute: string | undefined;
  readonly forwardsAttribute: string | undefined;
  readonly deliveryModeAttribute: string | undefined;
  readonly quotaAttribute: string | undefined;
  readonly statusAttribute: string | undefined;
  readonly disabledValues: readonly string[];
  readonly loginDeniedValues: readonly string[];
}

export const PRESETS: Readonly<Record<LdapUsersOptions['preset'], DirectoryLayout>> = {
  generic: {
    userFilter: '(&(objectClass=inetOrgPerson)(|(mail=%s)(mailLocalAddress=%s)))',
    loginFilter: '(&(objectClass=inetOrgPerson)(|(mail=%s)(uid=%s)))',
    aliasFilter: undefined,
    aliasMembersAttribute: 'rfc822MailMember',
    addressAttribute: 'mail',
    mailboxAttribute: undefined,
    forwardsAttribute: undefined,
    deliveryModeAttribute: undefined,
    quotaAttribute: undefined,
    statusAttribute: undefined,
    disabledValues: [],
    loginDeniedValues: [],
  },
  // qmail-ldap: accountStatus absent means active; "noaccess" still receives mail but may not
  // log in; "disabled" and "deleted" receive none. deliveryMode "nolocal" forwards only.
  'qmail-ldap': {
    userFilter: '(&(objectClass=qmailUser)(|(mail=%s)(mailAlternateAddress=%s)))',
    loginFilter: '(&(objectClass=qmailUser)(|(mail=%s)(uid=%s)))',
    aliasFilter: undefined,
    aliasMembersAttribute: 'rfc822MailMember',
    addressAttribute: 'mail',
    mailboxAttribute: 'mailMessageStore',
    forwardsAttribute: 'mailForwardingAddress',
    deliveryModeAttribute: 'deliveryMode',
    quotaAttribute: 'mailQuotaSize',
    statusAttribute: 'accountStatus',
    disabledValues: ['disabled', 'deleted'],
    loginDeniedValues: ['noaccess'],
  },
};

/** The preset's layout with the options the admin wrote laid over it. */
export function layoutOf(options: LdapUsersOptions): DirectoryLayout {
  const p = PRESETS[options.preset];
  return {
    userFilter: options.user_filter ?? p.userFilter,
    loginFilter: options.login_filter ?? p.loginFilter,
    aliasFilter: options.alias_filter ?? p.aliasFilter,
    aliasMembersAttribute: options.alias_members_attribute ?? p.aliasMembersAttribute,
    addressAttribute: options.address_attribute ?? p.addressAttribute,
    mailboxAttribute: options.mailbox_attribute ?? p.mailboxAttribute,
    forwardsAttribute: options.forwards_attribute ?? p.forwardsAttribute,
    deliveryModeAttribute: options.delivery_mode_attribute ?? p.deliveryModeAttribute,
    quotaAttribute: options.quota_attribute ?? p.quotaAttribute,
    statusAttribute: options.status_attribute ?? p.statusAttribute,
    disabledValues: (options.disabled_values ?? p.disabledValues).map((v) => v.toLowerCase()),
    loginDeniedValues: (options.login_denied_values ?? p.loginDeniedValues).map((v) => v.toLowerCase()),
  };
}

/** The attributes a user search asks for. */
export function userAttributes(layout: DirectoryLayout, extra: readonly string[] = []): string[] {
  const names = [
    layout.addressAttribute,
    layout.mailboxAttribute,
    layout.forwardsAttribute,
    layout.deliveryModeAttribute,
    layout.quotaAttribute,
    layout.statusAttribute,
    ...extra,
  ];
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}
