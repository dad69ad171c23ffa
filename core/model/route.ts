/*
 * Where a recipient's copy goes: a route, as the route hook answers it and the
 * routing decision (core/delivery/routing.ts) computes it from configuration,
 * and the static routes of `delivery.routes` (qmail smtproutes). Shapes only.
 */

export type TlsPolicy = 'opportunistic' | 'required' | 'none';

export interface StaticRoute {
  /** "example.net" (exact), ".example.net" (sub-domains), "*" (everything else). */
  readonly domain: string;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsPolicy;
  readonly auth?: { readonly user: string; readonly pass: string };
}

export type Route =
  | { readonly kind: 'local' }
  | {
      readonly kind: 'smtp';
      /** Explicit hosts in order (static route, smarthost, a plugin's choice). */
      readonly hosts: readonly { readonly host: string; readonly port: number }[];
      readonly tls: TlsPolicy;
      readonly auth?: { readonly user: string; readonly pass: string };
      /** Why: "route example.net", "smarthost", a plugin name. */
      readonly via: string;
    }
  | { readonly kind: 'mx'; readonly domain: string; readonly port: number; readonly tls: TlsPolicy }
  | { readonly kind: 'error'; readonly permanent: boolean; readonly reply: string };
