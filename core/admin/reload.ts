/*
 * One way in to a reload, for the admin API and `qgate reload`: asks the
 * running gateway to reload (today the SIGHUP path of core/gateway.ts: lists
 * and certificates) and hands back its outcome. Kept apart so the gateway's
 * reload can grow without the callers changing.
 */

export type ReloadOutcome =
  | { readonly ok: true; readonly changed?: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

export interface Reloadable {
  reload(): Promise<ReloadOutcome>;
}

export function reloadGateway(gateway: Reloadable): Promise<ReloadOutcome> {
  return gateway.reload();
}
