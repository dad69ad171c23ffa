/*
 * clamav: virus scanning at the message hook (the qmail-queue point, where
 * qmail-scanner and simscan sat). The spooled message is streamed to clamd
 * (INSTREAM, which decodes MIME and archives itself) before the reply to the
 * end of data. An infected message is rejected (554 5.7.0), held in the queue's
 * quarantine area or tagged; a scanner that is down, too slow or answering an
 * error means 451 4.7.1 unless fail-open is chosen. Never reads the message
 * into memory, and never lets a message through as scanned without clamd's OK.
 */
import { definePlugin, next, reject, type Session, type Transaction, tempfail } from '../../core/plugin-api/index.js';
import { type ClamdAddress, describeAddress, scanStream } from './clamd-client.js';
import { ClamavOptions } from './options.js';
import { ScanFailure } from './reply.js';
import { ScanSlots } from './slots.js';

/** The header every verdict that lets a message in writes (SpamAssassin-like; amavis uses X-Virus-Scanned). */
export const STATUS_HEADER = 'X-Virus-Status';

/** A virus name as clamd reports it, made safe for a reply line and a header (printable ASCII, bounded). */
function printable(name: string): string {
  return name.replace(/[^\x21-\x7e]+/g, '_').slice(0, 200);
}

const DONE: Record<ClamavOptions['action'], string> = {
  reject: 'rejected with 554 5.7.0; nothing was queued',
  quarantine: 'accepted and held in the quarantine (qgate quarantine show ID; release or delete)',
  tag: 'accepted and delivered with the header X-Virus-Status',
};

/** The administrator's notice: what was found, what was done, and who sent it to whom. */
function noticeText(session: Session, transaction: Transaction, virus: string, action: ClamavOptions['action']): string {
  return [
    `clamav found ${virus} in a message to ${session.hostname}.`,
    '',
    `Queue id:   ${transaction.id}`,
    `Action:     ${DONE[action].replace('ID', transaction.id)}`,
    `Client:     ${session.remote.address} (helo ${session.helo?.domain ?? '-'})`,
    `Sender:     <${transaction.sender?.address ?? ''}>`,
    `Recipients: ${transaction.recipients.map((r) => `<${r.address.address}>`).join(', ')}`,
  ].join('\n');
}

export default definePlugin({
  name: 'clamav',
  description: 'Virus scanning through clamd (INSTREAM): reject, quarantine or tag infected mail; 451 while clamd is down.',
  options: ClamavOptions,
  setup(ctx, options) {
    const address: ClamdAddress = options.socket ? { socket: options.socket } : { host: options.host, port: options.port };
    const where = describeAddress(address);
    const slots = new ScanSlots(options.max_concurrent, options.max_waiting);

    /** One log line per verdict: queue id, scanner, result, virus name, time taken. */
    const logVerdict = (transaction: Transaction, fields: Record<string, unknown>, message: string, warn = false) => {
      const line = { event: 'scan', queueId: transaction.id, scanner: 'clamav', clamd: where, ...fields };
      if (warn) ctx.log.warn(line, message);
      else ctx.log.info(line, message);
    };

    ctx.on('message', async (session, transaction, message) => {
      if (options.skip_trusted && (session.authenticatedUser !== undefined || session.relayAllowed)) {
        logVerdict(transaction, { result: 'skipped', why: 'trusted client', ms: 0 }, 'not scanned: trusted client');
        return next('not scanned: trusted client');
      }
      // Only our own verdict may reach the mailbox: a sender's "X-Virus-Status" is dropped first.
      transaction.removeHeader(STATUS_HEADER);
      if (options.max_size > 0 && message.size > options.max_size) {
        const why = `${message.size} octets is over max_size ${options.max_size}`;
        logVerdict(transaction, { result: 'skipped', why, size: message.size, ms: 0 }, `not scanned: ${why}`);
        if (options.oversize === 'tempfail') {
          return tempfail('Message too large for the virus scanner, try again later', 451, '4.7.1', `not scanned: ${why}`);
        }
        transaction.addHeader(STATUS_HEADER, 'Unscanned (too large)');
        return next(`not scanned: ${why}`);
      }

      const started = performance.now();
      let verdict: Awaited<ReturnType<typeof scanStream>>;
      try {
        verdict = await slots.run(options.queue_timeout, () => scanStream(address, message.createReadStream(), options.timeout));
      } catch (err) {
        const ms = Math.round(performance.now() - started);
        const failure =
          err instanceof ScanFailure ? err : new ScanFailure('error', (err as Error).message ?? String(err), { cause: err });
        if (options.on_error === 'fail-open') {
          transaction.addHeader(STATUS_HEADER, `Unscanned (${failure.kind})`);
          logVerdict(
            transaction,
            { result: 'unscanned', failure: failure.kind, error: failure.message, ms },
            'scan failed; accepted unscanned (on_error: fail-open): check clamd',
            true,
          );
          return next(`unscanned (${failure.kind}): ${failure.message}; fail-open`);
        }
        logVerdict(
          transaction,
          { result: 'failed', failure: failure.kind, error: failure.message, ms },
          'scan failed; answered 451 (on_error: fail-closed): check clamd',
          true,
        );
        return tempfail(
          'Virus scanner unavailable, please try again later',
          451,
          '4.7.1',
          `scan failed (${failure.kind}): ${failure.message}`,
        );
      }
      const ms = Math.round(performance.now() - started);

      if (verdict.kind === 'clean') {
        logVerdict(transaction, { result: 'clean', ms }, 'clean');
        return next(`clean (${ms} ms)`);
      }
      const virus = printable(verdict.virus);
      logVerdict(transaction, { result: 'infected', virus, action: options.action, ms }, `infected: ${virus}`);
      if (options.notify) {
        transaction.notify(options.notify, `Virus found: ${virus}`, noticeText(session, transaction, virus, options.action));
      }
      switch (options.action) {
        case 'reject':
          // Like clamav-milter and amavis: permanent, naming what was found (RFC 3463 5.7.0: security).
          return reject(554, '5.7.0', `Message rejected: virus found (${virus})`, `infected: ${virus}`);
        case 'quarantine':
          transaction.addHeader(STATUS_HEADER, `Infected (${virus})`);
          transaction.quarantine(`clamav: ${virus}`);
          return next(`infected: ${virus}; quarantined`);
        case 'tag':
          transaction.addHeader(STATUS_HEADER, `Infected (${virus})`);
          return next(`infected: ${virus}; tagged`);
      }
    });
  },
});
