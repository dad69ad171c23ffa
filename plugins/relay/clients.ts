/*
 * Relay client matching: entries are IPv4/IPv6 addresses or CIDR networks,
 * matched with node's net.BlockList. IPv4 rules match IPv4-mapped IPv6
 * clients too (::ffff:10.1.2.3). Pure: no files, no logging; a bad entry is
 * an error that names where it came from (clients[2], /etc/qgate/relay:7).
 */
import { BlockList, isIP } from 'node:net';

export interface ClientRule {
  /** The entry as written (trimmed). */
  readonly entry: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly network: string;
  /** Prefix length; 32 or 128 for a single address. */
  readonly prefix: number;
}

export class ClientListError extends Error {
  override readonly name = 'ClientListError';
}

/** One entry as a rule, or undefined if it is not an address or a CIDR network. */
export function parseClientRule(entry: string): ClientRule | undefined {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const network = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(network);
  // A zone id (fe80::1%eth0) names an interface of one host; it means nothing in a rule.
  if (version === 0 || network.includes('%')) return undefined;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const bits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
    prefix = Number(bits);
  }
  return { entry: text, family: version === 4 ? 'ipv4' : 'ipv6', network, prefix };
}

/** Rules for `entries`; a bad entry throws ClientListError naming `where(index)`. */
export function parseClientEntries(entries: readonly string[], where: (index: number) => string): ClientRule[] {
  return entries.map((entry, index) => {
    const rule = parseClientRule(entry);
    if (!rule) {
      throw new ClientListError(
        `${where(index)}: ${JSON.stringify(entry.trim())} is not an IPv4 or IPv6 address or CIDR network (like 10.0.0.0/8 or 2001:db8::/32)`,
      );
    }
    return rule;
  });
}

/** Rules of a control file: one entry per line, # comments, blank lines ignored. Errors name file:line. */
export function parseClientFile(text: string, file: string): ClientRule[] {
  const rules: ClientRule[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const entry = line.replace(/#.*/, '').trim();
    if (entry) rules.push(...parseClientEntries([entry], () => `${file}:${index + 1}`));
  }
  return rules;
}

/** Removes what never belongs to the match: a zone id, the ::ffff: of an IPv4-mapped address. */
function plainAddress(address: string): string {
  const noZone = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(noZone);
  return mapped ? mapped[1]! : noZone;
}

export class ClientTable {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(rules: Iterable<ClientRule>) {
    let size = 0;
    for (const rule of rules) {
      if (rule.prefix === (rule.family === 'ipv4' ? 32 : 128)) this.list.addAddress(rule.network, rule.family);
      else this.list.addSubnet(rule.network, rule.prefix, rule.family);
      size++;
    }
    this.size = size;
  }

  /** Whether a client address (as the socket reports it) is covered by a rule. */
  matches(address: string): boolean {
    const plain = plainAddress(address);
    const version = isIP(plain);
    if (version === 0) return false;
    return this.list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }
}
