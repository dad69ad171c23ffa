/*
 * header-stamp: adds a header field to every message this gateway accepts,
 * saying where and how it came in (listener, client, TLS, authenticated user),
 * for the filters and mailboxes behind the gateway. It runs at `message`, where
 * the whole message is spooled: a message that already carries the field
 * (forged outside) is refused, or kept, as configured.
 */
import { definePlugin, next, reject } from 'qgate';
import { HeaderStampOptions } from './options.js';
import { renderStamp, unknownPlaceholders } from './stamp.js';

export default definePlugin({
  name: 'header-stamp',
  description: 'Stamps accepted messages with a header saying how they came in.',
  options: HeaderStampOptions,
  setup(ctx, options) {
    const unknown = unknownPlaceholders(options.value);
    // A throw in setup is a configuration error naming this plugin's entry in the pipeline file.
    if (unknown.length) throw new Error(`value: unknown placeholder ${unknown.map((p) => `{${p}}`).join(', ')}`);
    const listeners = new Set(options.listeners);
    const field = options.field.toLowerCase();

    ctx.on('message', async (session, transaction, message) => {
      if (listeners.size && !listeners.has(session.listener)) return next();
      const headers = await message.readHeaders();
      if (headers.some((h) => h.name.toLowerCase() === field) && options.forged === 'reject') {
        return reject(554, '5.7.1', `Message carries a ${options.field} header from elsewhere`, `forged ${options.field}`);
      }
      transaction.addHeader(
        options.field,
        renderStamp(options.value, {
          hostname: session.hostname,
          listener: session.listener,
          client: session.remote.address,
          helo: session.helo?.domain ?? '-',
          tls: session.tls?.protocol ?? 'none',
          user: session.authenticatedUser ?? '-',
          queue_id: transaction.id,
        }),
      );
      return next();
    });
  },
});
