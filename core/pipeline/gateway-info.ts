/*
 * ctx.gateway: the facts about the running gateway a plugin may need, taken
 * from the configuration once (host name, listeners, local and routed
 * domains), so plugins agree with the core instead of repeating its settings.
 * unknownListener() is the one check of a listener name in a plugin's options.
 * Everything here is frozen: a plugin reads the gateway, it never changes it.
 */
import { hostname as systemHostname } from 'node:os';
import type { CoreConfig, ListenerConfig } from '../config/schema.js';
import type { GatewayInfo, ListenerInfo } from '../hooks/types.js';
import { DomainSet } from '../model/index.js';

export function listenerInfo(listener: ListenerConfig, hostname: string): ListenerInfo {
  return Object.freeze({
    name: listener.name,
    address: listener.address,
    port: listener.port,
    pipeline: listener.pipeline,
    protocol: listener.protocol,
    hostname: listener.hostname ?? hostname,
  });
}

/**
 * The domains delivery.routes sends to a next hop. The smarthost ("*") sends
 * everything else out; it makes no domain ours, so it is not one of them.
 */
export function routedDomains(routes: readonly { readonly domain: string }[]): DomainSet {
  return new DomainSet(routes.map((r) => r.domain).filter((domain) => domain !== '*' && domain !== ''));
}

export function gatewayInfo(config: CoreConfig & { hostname: string }, queuePath?: string): GatewayInfo {
  const d = config.delivery;
  return Object.freeze({
    ...(queuePath === undefined ? {} : { queuePath }),
    hostname: config.hostname,
    listeners: Object.freeze(config.listeners.map((l) => listenerInfo(l, config.hostname))),
    localDomains: new DomainSet(d.local_domains),
    routedDomains: routedDomains(d.routes),
  });
}

/** For a pipeline built outside a configured gateway: no listeners, no domains. */
export function standaloneGateway(hostname = systemHostname()): GatewayInfo {
  return Object.freeze({
    hostname,
    listeners: Object.freeze([]),
    localDomains: new DomainSet(),
    routedDomains: new DomainSet(),
  });
}

/**
 * What is wrong with naming listener `name` in a plugin's options, or undefined
 * when the gateway has such a listener. A typo there must stop start-up: in
 * starttls' implicit_listeners it would leave port 465 speaking plaintext.
 * A listener of another pipeline is allowed, since two pipelines may share one file.
 */
export function unknownListener(gateway: GatewayInfo, name: string): string | undefined {
  if (gateway.listeners.some((l) => l.name === name)) return undefined;
  const names = gateway.listeners.map((l) => l.name);
  return `unknown listener "${name}"; the listeners are: ${names.join(', ') || '(none)'}`;
}
