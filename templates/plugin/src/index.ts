/*
 * my-plugin: refuses listed recipients at RCPT TO with 550 5.7.1 and leaves
 * every other recipient to the next plugin (rcpthosts, a directory, ...).
 */
import { definePlugin, next, reject } from 'qgate';
import { MyPluginOptions } from './options.js';

export default definePlugin({
  name: 'my-plugin',
  description: 'Refuses listed recipients.',
  options: MyPluginOptions,
  setup(ctx, options) {
    const refused = new Set(options.recipients.map((address) => address.toLowerCase()));
    ctx.log.debug({ recipients: refused.size }, 'my-plugin ready');

    ctx.on('rcpt', (_session, _transaction, { address }) => {
      if (!refused.has(address.address.toLowerCase())) return next();
      return reject(550, '5.7.1', options.message, `${address.address} is listed`);
    });
  },
});
