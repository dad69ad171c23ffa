/*
 * When two envelope recipients are the same address, so that a message
 * listing one twice (RCPT twice, another spelling) is delivered once, as
 * Postfix's cleanup does. RFC 5321 2.4: the domain is compared without case,
 * the local part exactly as written, after undoing quoting (RFC 5321 4.1.2:
 * "a"@x and a@x are one mailbox). Local mailboxes are compared later, by the
 * Maildir they resolve to (local.ts). Pure.
 */

/** The identity of an address for duplicate elimination. */
export function recipientKey(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address.toLowerCase() === 'postmaster' ? 'postmaster' : address;
  return `${unquote(address.slice(0, at))}@${address.slice(at + 1).toLowerCase()}`;
}

/** `"a\"b"` -> `a"b`; anything not a whole quoted string stays as it is. */
function unquote(local: string): string {
  if (local.length < 2 || !local.startsWith('"') || !local.endsWith('"')) return local;
  return local.slice(1, -1).replace(/\\(.)/g, '$1');
}

/**
 * The recipients grouped by key, in first-seen order: the first spelling is
 * the one delivered to, the others share its outcome.
 */
export function groupDuplicates(recipients: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const recipient of recipients) {
    const key = recipientKey(recipient);
    const group = groups.get(key);
    if (group) group.push(recipient);
    else groups.set(key, [recipient]);
  }
  return groups;
}
