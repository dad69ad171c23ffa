/*
 * blacklist: refuse listed senders at MAIL (qmail badmailfrom), listed
 * recipients at RCPT (badrcptto, badmailto, morebadrcptto) and listed HELO/EHLO
 * names (badhelo) with 553 5.7.1. A miss decides nothing: the next plugin
 * (rcpthosts, relay) still has to accept. Files are re-read on SIGHUP; a bad
 * file at reload keeps all three previous lists.
 */
import { definePlugin, next, readOptionFile, reject } from '../../core/plugin-api/index.js';
import { BlockList, entryText, type ListEntry, type ListKind, mailbox, parseListFile } from './list.js';
import { BlacklistOptions, type ListOptions } from './options.js';

/** The qmail control file each list stands for; decisions and logs use these names. */
const LISTS = [
  { key: 'mail_from', name: 'badmailfrom', kind: 'address' },
  { key: 'rcpt_to', name: 'badrcptto', kind: 'address' },
  { key: 'helo', name: 'badhelo', kind: 'name' },
] as const satisfies readonly { key: keyof BlacklistOptions; name: string; kind: ListKind }[];

type Lists = Record<(typeof LISTS)[number]['key'], BlockList>;

export default definePlugin({
  name: 'blacklist',
  description: 'Refuse listed senders, recipients and HELO names (qmail badmailfrom, badrcptto, badhelo).',
  options: BlacklistOptions,
  setup(ctx, options) {
    const build = (key: keyof Lists, kind: ListKind, list: ListOptions): BlockList => {
      const entries: ListEntry[] = list.entries.map((e, i) =>
        typeof e === 'string'
          ? { text: e, regex: false, origin: `${key}.entries[${i}]` }
          : { text: e.regex, regex: true, origin: `${key}.entries[${i}]` },
      );
      for (const [i, file] of list.files.entries()) {
        const path = ctx.resolvePath(file);
        entries.push(...readOptionFile(path, [key, 'files', i], (text) => parseListFile(text, path)));
      }
      return new BlockList(kind, entries);
    };
    // All three or none: a reload that fails half-way must not leave a mix of old and new lists.
    const load = () => Object.fromEntries(LISTS.map(({ key, kind }) => [key, build(key, kind, options[key])])) as Lists;
    const sizes = (l: Lists) => Object.fromEntries(LISTS.map(({ key, name }) => [name, l[key].size]));

    const lists = ctx.reloadable('blacklist', load, sizes);

    const refuse = (name: string, entry: ListEntry, message: string) =>
      reject(553, '5.7.1', message, `${name} entry "${entryText(entry)}"`);

    ctx.on('helo', (_session, { domain }) => {
      const entry = lists.current.helo.match(domain);
      return entry ? refuse('badhelo', entry, options.helo.message) : next();
    });

    ctx.on('mail', (_session, _txn, { address }) => {
      // The null sender carries bounces (RFC 5321 4.5.5); refusing it would lose them.
      if (address === null) return next();
      const entry = lists.current.mail_from.match(mailbox(address));
      return entry ? refuse('badmailfrom', entry, options.mail_from.message) : next();
    });

    ctx.on('rcpt', (_session, _txn, { address }) => {
      const entry = lists.current.rcpt_to.match(mailbox(address));
      return entry ? refuse('badrcptto', entry, options.rcpt_to.message) : next();
    });
  },
});
