/*
 * rcpthosts: accept recipients only in the domains this gateway serves, so no
 * default pipeline is an open relay. A client another plugin trusted to relay
 * (session.relayAllowed) is left to that plugin; everyone else gets
 * 554 5.7.1 Relay access denied for other domains, and 553 5.7.1 for
 * addresses that hide a route (%, !, source routes, quoted "@"). With neither
 * `domains` nor `files` it takes the gateway's own list: delivery.local_domains
 * plus the domains of delivery.routes (ctx.gateway), so the two never drift.
 */
import { accept, DomainSet, definePlugin, next, reject } from '../../core/plugin-api/index.js';
import { readControlFiles } from './domains.js';
import { RcpthostsOptions } from './options.js';
import { relayTrick } from './tricks.js';

export default definePlugin({
  name: 'rcpthosts',
  description: 'Accept recipients only for listed domains (qmail rcpthosts/morercpthosts).',
  options: RcpthostsOptions,
  setup(ctx, options) {
    const own = options.domains.length === 0 && options.files.length === 0;
    const load = () => {
      if (own) return ctx.gateway.localDomains.union(ctx.gateway.routedDomains);
      const entries = [...options.domains];
      entries.push(...readControlFiles(options.files, ctx.resolvePath));
      return new DomainSet(entries);
    };
    const table = ctx.reloadable('rcpthosts', load, (t) => ({
      domains: t.size,
      from: own ? 'delivery.local_domains and delivery.routes' : 'options',
    }));
    if (table.current.size === 0) {
      ctx.log.warn(
        'rcpthosts has no domains: every recipient is refused unless the client may relay; ' +
          'list them in delivery.local_domains or delivery.routes, or in its domains or files',
      );
    }

    ctx.on('rcpt', (session, _txn, { address }) => {
      if (address.domain === '') return options.postmaster ? accept('postmaster (RFC 5321 4.5.1)') : next();
      const trick = options.refuse_routing && !session.relayAllowed ? relayTrick(address) : undefined;
      if (trick) return reject(553, '5.7.1', `<${address.address}>: Relay access denied (${trick})`, `relay trick: ${trick}`);
      if (table.current.has(address.domain)) return accept(`${address.domain} is in rcpthosts`);
      if (session.relayAllowed) return next();
      return reject(554, '5.7.1', `<${address.address}>: Relay access denied`, `${address.domain} is not in rcpthosts`);
    });
  },
});
