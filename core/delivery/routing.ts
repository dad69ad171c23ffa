/*
 * Where a recipient's mail goes, decided from configuration alone (the route
 * hook may decide first): local domains (qmail locals/virtualdomains) are
 * delivered to Maildirs; static routes (qmail smtproutes, which also serve as
 * relay domains with a next hop) send to a fixed host; everything else goes
 * to the domain's MX hosts, or to the smarthost if one is set. Pure.
 */
import { DomainSet, type Route, type StaticRoute, type TlsPolicy } from '../model/index.js';

export interface RoutingTable {
  readonly isLocal: (domain: string) => boolean;
  readonly routes: readonly StaticRoute[];
  /** Port for MX deliveries (25; tests point it elsewhere). */
  readonly mxPort: number;
  readonly mxTls: TlsPolicy;
}

const routeIndex = new WeakMap<readonly StaticRoute[], { domains: DomainSet; byEntry: Map<string, StaticRoute> }>();

/** The most specific static route for `domain`: exact, then the closest ".parent", then "*". */
export function findStaticRoute(domain: string, routes: readonly StaticRoute[]): StaticRoute | undefined {
  let index = routeIndex.get(routes);
  if (!index) {
    const byEntry = new Map<string, StaticRoute>();
    // The first route listed for a domain wins; "" is an old spelling of "*".
    for (const route of routes) {
      const entry = route.domain === '' ? '*' : route.domain.toLowerCase();
      if (!byEntry.has(entry)) byEntry.set(entry, route);
    }
    index = { domains: new DomainSet(byEntry.keys()), byEntry };
    routeIndex.set(routes, index);
  }
  const entry = index.domains.match(domain);
  return entry === undefined ? undefined : index.byEntry.get(entry);
}

export function decideRoute(domain: string, table: RoutingTable): Route {
  if (domain === '' || table.isLocal(domain)) return { kind: 'local' };
  const route = findStaticRoute(domain, table.routes);
  if (route) {
    return {
      kind: 'smtp',
      hosts: [{ host: route.host, port: route.port }],
      tls: route.tls,
      ...(route.auth ? { auth: route.auth } : {}),
      via: route.domain === '*' || route.domain === '' ? 'smarthost' : `route ${route.domain}`,
    };
  }
  if (domain.startsWith('[')) {
    // Address literal: deliver to that address (RFC 5321 4.1.3).
    const inner = domain.slice(1, -1).replace(/^IPv6:/i, '');
    return { kind: 'smtp', hosts: [{ host: inner, port: table.mxPort }], tls: table.mxTls, via: 'address literal' };
  }
  return { kind: 'mx', domain: domain.toLowerCase(), port: table.mxPort, tls: table.mxTls };
}
