/*
 * relay: lets listed client addresses and networks relay (qmail's tcprules
 * RELAYCLIENT, Postfix's mynetworks). At connect it sets session.relayAllowed,
 * so recipient plugins such as rcpthosts let other domains through. It accepts
 * and refuses nothing itself. Permission is decided once per connection: a
 * SIGHUP reload affects new sessions only.
 */
import { definePlugin, next, readOptionFile } from '../../core/plugin-api/index.js';
import { type ClientRule, ClientTable, parseClientEntries, parseClientFile } from './clients.js';
import { RelayOptions } from './options.js';

export default definePlugin({
  name: 'relay',
  description: 'Allow listed client addresses and networks to relay (qmail tcprules RELAYCLIENT, Postfix mynetworks).',
  options: RelayOptions,
  setup(ctx, options) {
    const load = (): ClientTable => {
      // The schema pattern only checks the shape; this names the entry that is not an address.
      const rules: ClientRule[] = parseClientEntries(options.clients, (i) => `clients[${i}]`);
      for (const [i, file] of options.files.entries()) {
        const path = ctx.resolvePath(file);
        rules.push(...readOptionFile(path, ['files', i], (text) => parseClientFile(text, path)));
      }
      return new ClientTable(rules);
    };
    const table = ctx.reloadable('relay clients', load, (t) => ({ clients: t.size }));

    ctx.on('connect', (session) => {
      if (table.current.matches(session.remote.address)) {
        session.relayAllowed = true;
        ctx.log.debug({ client: session.remote.address }, 'client may relay');
      }
      // Not accept(): a final result would end connect processing for the plugins after this one.
      return next();
    });
  },
});
