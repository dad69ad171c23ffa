/*
 * size: ESMTP SIZE (RFC 1870), qmail's databytes. Advertises the limit in EHLO,
 * refuses MAIL whose declared SIZE= is over it, and hands the limit to the core
 * (transaction.sizeLimit), which counts the octets actually sent and answers
 * 552 5.3.4 at the end of data. A client that declares nothing or lies is
 * caught there; this plugin never reads message data itself.
 */
import { definePlugin, next, OptionError, reject, unknownListener } from '../../core/plugin-api/index.js';
import { SizeOptions } from './options.js';

export default definePlugin({
  name: 'size',
  description: 'Message size limit with ESMTP SIZE (RFC 1870; qmail databytes, Postfix message_size_limit).',
  options: SizeOptions,
  setup(ctx, options) {
    // A misspelt listener would silently keep the general limit there.
    const problems = Object.keys(options.listeners).flatMap((name) => {
      const problem = unknownListener(ctx.gateway, name);
      return problem ? [{ path: ['listeners'], key: name, message: problem }] : [];
    });
    if (problems.length) throw new OptionError(problems);

    /** The limit on a listener in octets; 0 means none. */
    const limitFor = (listener: string): number => options.listeners[listener] ?? options.limit;

    ctx.on('capabilities', (session, capabilities) => {
      const limit = limitFor(session.listener);
      // RFC 1870 4: "SIZE" without a number (or SIZE 0) says there is no fixed maximum.
      capabilities.add(limit > 0 ? `SIZE ${limit}` : 'SIZE');
    });

    ctx.on('mail', (session, transaction) => {
      const limit = limitFor(session.listener);
      if (limit === 0) return next();
      const declared = transaction.declaredSize;
      if (declared !== undefined && declared > limit) {
        // RFC 1870 6.1 wording; Postfix says "Message size exceeds fixed limit".
        return reject(
          552,
          '5.3.4',
          'Message size exceeds fixed maximum message size',
          `declared SIZE=${declared} exceeds the ${limit} octet limit of listener ${session.listener}`,
        );
      }
      // Another plugin may already have set a lower limit for this transaction; keep the lower one.
      const current = transaction.sizeLimit;
      transaction.sizeLimit = current === undefined ? limit : Math.min(current, limit);
      return next();
    });
  },
});
