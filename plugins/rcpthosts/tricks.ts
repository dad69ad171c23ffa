/*
 * The old relay tricks: addresses that name one domain to the rcpthosts
 * check and another to a mailer that still honours routing syntax. Refused
 * up front whatever the domain, as Postfix's allow_untrusted_routing = no
 * does for untrusted clients. Pure.
 */
import type { Address } from '../../core/plugin-api/index.js';

/** Why the address is a relay trick, or undefined if it is an ordinary address. */
export function relayTrick(address: Address): string | undefined {
  if (address.sourceRoute?.length) return 'source route';
  if (address.quoted && address.local.includes('@')) return 'quoted local part with "@"';
  if (address.local.includes('%')) return '"%" hack';
  if (address.local.includes('!')) return '"!" bang path';
  return undefined;
}
