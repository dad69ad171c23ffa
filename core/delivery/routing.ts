/*
 * Where a recipient's mail goes, decided from configuration alone (the route
 * hook may decide first): local domains (qmail locals/virtualdomains) are
 * delivered to Maildirs; static routes (qmail smtproutes, which also serve as
 * relay domains with a next hop) send to a fixed host; everything else goes
 * to the domain's MX hosts, or to the smarthost if one is set. Pure.
 */
import type { Route, StaticRoute, TlsPolicy } from '../model/index.js';

export interface RoutingTable {
  readonly isLocal: (domain: string) => boolean;
  readonly routes: readonly StaticRoute[];
  /** Port for MX deliveries (25; tests point it elsewhere). */
  readonly mxPort: number;
  readonly mxTls: TlsPolicy;
}

/** The most specific static route for `domain`: exact, then the closest ".parent", then "*". */
export function findStaticRoute(domain: string, routes: readonly StaticRoute[]): StaticRoute | undefined {
  const d = domain.toLowerCase();
  const exact = routes.find((r) => r.domain.toLowerCase() === d);
  if (exact) return exact;
  for (let dot = d.indexOf('.'); dot >= 0; dot = d.indexOf('.', dot + 1)) {
    const suffix = d.slice(dot);
    const sub = routes.find((r) => r.domain.toLowerCase() === suffix);
    if (sub) return sub;
  }
  return routes.find((r) => r.domain === '*' || r.domain === '');
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
