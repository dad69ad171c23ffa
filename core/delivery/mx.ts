/*
 * MX lookup (RFC 5321 5.1): hosts in preference order (equal preferences in
 * random order), the domain itself when it has no MX (implicit MX: its A/AAAA),
 * RFC 7505 null MX as a permanent failure. DNS trouble is temporary: a
 * recipient is never bounced because a resolver was down. The resolver is
 * passed in, so tests can answer from a local zone.
 */
import { type DeliveryReply, deliveryReply } from '../model/index.js';

export interface MxResolver {
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(domain: string): Promise<string[]>;
  resolve6(domain: string): Promise<string[]>;
}

export type MxAnswer =
  | { readonly ok: true; readonly hosts: readonly string[] }
  | { readonly ok: false; readonly permanent: boolean; readonly reply: DeliveryReply };

/** Sorts MX records by preference; shuffles equal preferences (load spreading, RFC 5321 5.1). */
export function orderExchanges(records: readonly { exchange: string; priority: number }[], random = Math.random): string[] {
  return records
    .map((r) => ({ r, tie: random() }))
    .sort((a, b) => a.r.priority - b.r.priority || a.tie - b.tie)
    .map(({ r }) => r.exchange.replace(/\.$/, ''));
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
}

/** "No such name" answers are permanent; the rest (SERVFAIL, timeouts, refused) are not. */
const NO_DOMAIN = new Set(['ENOTFOUND']);
const NO_DATA = new Set(['ENODATA']);

export async function lookupMx(domain: string, resolver: MxResolver): Promise<MxAnswer> {
  let records: { exchange: string; priority: number }[];
  try {
    records = await resolver.resolveMx(domain);
  } catch (err) {
    const c = code(err);
    if (NO_DOMAIN.has(c))
      return {
        ok: false,
        permanent: true,
        reply: deliveryReply(550, '5.1.2', `Host or domain name not found: ${domain} (${c})`),
      };
    if (!NO_DATA.has(c)) return dnsTrouble(domain, c);
    records = [];
  }
  // RFC 7505: a single MX "." with preference 0 says the domain takes no mail.
  if (records.length === 1 && (records[0]!.exchange === '' || records[0]!.exchange === '.')) {
    return { ok: false, permanent: true, reply: deliveryReply(556, '5.1.10', `Domain ${domain} does not accept mail (null MX)`) };
  }
  if (records.length) return { ok: true, hosts: orderExchanges(records) };
  // No MX: the domain itself is the mail host if it has an address (implicit MX).
  const found: string[] = [];
  let temporary: string | undefined;
  for (const lookup of [resolver.resolve4.bind(resolver), resolver.resolve6.bind(resolver)]) {
    try {
      if ((await lookup(domain)).length) found.push(domain);
    } catch (err) {
      const c = code(err);
      if (!NO_DATA.has(c) && !NO_DOMAIN.has(c)) temporary = c;
    }
  }
  if (found.length) return { ok: true, hosts: [domain] };
  if (temporary) return dnsTrouble(domain, temporary);
  return {
    ok: false,
    permanent: true,
    reply: deliveryReply(550, '5.1.2', `Host or domain name not found: ${domain} has no MX or address records`),
  };
}

function dnsTrouble(domain: string, code: string): MxAnswer {
  return { ok: false, permanent: false, reply: deliveryReply(451, '4.4.3', `DNS lookup of ${domain} failed (${code})`) };
}
