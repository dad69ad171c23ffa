/*
 * spamassassin: asks spamd (SPAMC SYMBOLS) about each message at the message
 * hook, streaming the spooled file, and tags it (X-Spam-Flag, X-Spam-Score,
 * X-Spam-Status, optionally a Subject prefix) or refuses it by score. The
 * client's own X-Spam-* fields are removed first, so no sender can spoof a clean
 * verdict. Too large: skipped with a header. spamd down or slow: fail-open with
 * `X-Spam-Status: unchecked` (default) or 451. Never holds the message in memory.
 */
import { definePlugin, next, reject, type Session, tempfail } from '../../core/plugin-api/index.js';
import { askSpamd, type SpamdAddress, SpamdUnavailable } from './client.js';
import { SpamassassinOptions } from './options.js';
import { parseSymbols } from './response.js';
import { decide, formatScore, unscannedStatus } from './verdict.js';

const SCANNER = 'spamassassin';

function trusted(session: Session): boolean {
  return session.authenticatedUser !== undefined || session.relayAllowed;
}

export default definePlugin({
  name: SCANNER,
  description: 'SpamAssassin through spamd (SPAMC/1.5): tag or refuse spam by score, fail-open or fail-closed.',
  options: SpamassassinOptions,
  setup(ctx, options) {
    const address: SpamdAddress = options.socket
      ? { socket: ctx.resolvePath(options.socket) }
      : { host: options.host, port: options.port };
    const thresholds = { tag: options.tag, reject: options.reject, subjectPrefix: options.subject_prefix };

    ctx.on('message', async (session, transaction, message) => {
      if (options.skip_trusted && trusted(session)) return next('trusted client: not scanned');
      // Whatever happens next, the sender's own verdict never reaches the mailbox.
      transaction.removeHeader('X-Spam-*');
      const started = performance.now();
      // The same shape as clamav's verdict lines (event "scan"), so one query finds both; the
      // handler's logger already carries the queueId.
      const verdictLog = (result: string, fields: Record<string, unknown> = {}) => ({
        event: 'scan',
        scanner: SCANNER,
        result,
        ...fields,
        ms: Math.round(performance.now() - started),
      });

      if (message.size > options.max_size) {
        const detail = `${message.size} octets over max_size ${options.max_size}`;
        transaction.addHeader(...field(unscannedStatus('skipped', detail)));
        ctx.log.info(verdictLog('skipped', { size: message.size }), 'spam scan skipped: message too large');
        return next(`skipped: ${detail}`);
      }

      let answer: Awaited<ReturnType<typeof askSpamd>>;
      try {
        answer = await askSpamd(address, {
          command: 'SYMBOLS',
          message: { size: message.size, stream: () => message.createReadStream() },
          ...(options.user !== undefined ? { user: options.user } : {}),
          timeoutMs: options.timeout,
          maxResponse: options.max_response,
        });
        if (answer.code !== 0) throw new SpamdUnavailable(`spamd answered ${answer.code} ${answer.message}`);
        if (!answer.verdict) throw new SpamdUnavailable('spamd answered without a Spam: header');
      } catch (err) {
        if (!(err instanceof SpamdUnavailable)) throw err;
        const failClosed = options.on_error === 'fail-closed';
        ctx.log.warn(
          verdictLog('unchecked', { error: err.message, action: failClosed ? 'tempfail' : 'accept' }),
          failClosed
            ? 'spamd could not check the message: answered 451; check that spamd runs and answers in time'
            : 'spamd could not check the message: accepted unscanned (on_error: fail-open); check that spamd runs and answers in time',
        );
        if (failClosed) return tempfail('Spam scanner unavailable, try again later', 451, '4.7.1', `unchecked: ${err.message}`);
        transaction.addHeader(...field(unscannedStatus('unchecked', 'spamd unavailable')));
        return next(`unchecked: ${err.message}`);
      }

      const tests = parseSymbols(answer.body);
      const subject = thresholds.subjectPrefix
        ? (await message.readHeaders()).find((h) => h.name.toLowerCase() === 'subject')?.value
        : undefined;
      const outcome = decide(answer.verdict, tests, thresholds, subject);
      const score = formatScore(answer.verdict.score);
      const required = formatScore(outcome.required);
      ctx.log.info(
        verdictLog(outcome.result, { score: answer.verdict.score, required: outcome.required, tests }),
        'spam verdict',
      );
      const reason = `${outcome.result} score=${score} required=${required}`;
      if (outcome.result === 'reject') return reject(550, '5.7.1', 'Message content rejected as spam', reason);
      for (const header of outcome.headers) transaction.addHeader(header.name, header.value);
      if (outcome.subject !== undefined) {
        // A replacement: the client's Subject leaves the delivered copy, ours is added.
        transaction.removeHeader('Subject');
        transaction.addHeader('Subject', outcome.subject);
      }
      return next(reason);
    });
  },
});

function field(header: { name: string; value: string }): [string, string] {
  return [header.name, header.value];
}
