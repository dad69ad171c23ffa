/*
 * ldap-users: users, aliases, forwards and passwords from an LDAP directory
 * (ldapts), for the lookupUser and authenticate hooks, so RCPT refuses unknown
 * users, delivery finds each Maildir, and SMTP AUTH and POP3 check logins.
 * Filters are templates whose values are escaped (filter.ts); a server that
 * cannot be reached or does not answer in time is `unavailable` (451 at RCPT,
 * 454 at AUTH), logged once per outage, and the pool recovers by itself.
 * Lookups are cached (cache:); password checks never are.
 */
import { readFileSync } from 'node:fs';
import { SizeLimitExceededError } from 'ldapts';
import {
  AnswerCache,
  cacheSettings,
  definePlugin,
  isUnavailable,
  OptionError,
  OutageTracker,
  type UnavailableResult,
  type UserRecord,
  unavailable,
  verifyCramMd5,
  verifyPassword,
} from '../../core/plugin-api/index.js';
import { expandFilter, filterTemplateProblem } from './filter.js';
import { LdapUsersOptions } from './options.js';
import { LdapPool } from './pool.js';
import { layoutOf, userAttributes } from './presets.js';
import { aliasRecord, canonicalAddress, type DirectoryEntry, mayLogIn, userRecord, values } from './record.js';

/** Longest address or login searched for (RFC 5321 4.5.3.1: 64 + 1 + 255). */
const MAX_INPUT = 320;

class Ambiguous extends Error {}

export default definePlugin({
  name: 'ldap-users',
  description: 'Users, aliases, forwards and passwords from an LDAP directory (ldapts).',
  options: LdapUsersOptions,
  setup(ctx, options) {
    const layout = layoutOf(options);
    const templates = [
      ['user_filter', layout.userFilter],
      ['login_filter', layout.loginFilter],
      ['alias_filter', layout.aliasFilter],
    ] as const;
    for (const [key, template] of templates) {
      const problem = template === undefined ? undefined : filterTemplateProblem(template);
      if (problem) throw new OptionError([key], problem);
    }
    if (options.starttls && options.url.startsWith('ldaps:')) {
      throw new OptionError(['starttls'], 'an ldaps:// URL is TLS from the start; starttls is for ldap:// URLs');
    }
    // A CA on a connection that never does TLS would read as protection it does not give.
    if (options.ca_file !== undefined && !options.starttls && !options.url.startsWith('ldaps:')) {
      throw new OptionError(['ca_file'], 'an ldap:// URL without starttls never uses TLS; set starttls: true or use ldaps://');
    }
    if (options.bind_password !== undefined && options.bind_dn === undefined) {
      throw new OptionError(['bind_password'], 'bind_password needs a bind_dn');
    }
    let ca: string | undefined;
    if (options.ca_file !== undefined) {
      const file = ctx.resolvePath(options.ca_file);
      try {
        ca = readFileSync(file, 'utf8');
      } catch (err) {
        throw new OptionError(['ca_file'], `cannot read ${file}: ${(err as Error).message}`);
      }
    }

    const pool = new LdapPool({
      url: options.url,
      starttls: options.starttls,
      tls: ca === undefined ? {} : { ca },
      bindDn: options.bind_dn,
      bindPassword: options.bind_password,
      size: options.pool_size,
      connectTimeoutMs: options.connect_timeout,
      timeoutMs: options.timeout,
    });
    const outage = new OutageTracker(() => ctx.log, `LDAP server ${options.url}`);
    const cache = new AnswerCache<UserRecord>(cacheSettings(options.cache));
    const domains = new Set(options.domains.map((d) => d.toLowerCase()));
    const ours = (domain: string) => domains.size === 0 || domains.has(domain.toLowerCase());
    const attributes = userAttributes(layout, options.password_check === 'compare' ? [options.password_attribute] : []);

    /** The entries `template` finds for `input`: none, one, or Ambiguous. */
    async function find(template: string, input: string, wanted: readonly string[]): Promise<DirectoryEntry | undefined> {
      try {
        const entries = await pool.search({
          base: options.base_dn,
          scope: options.scope,
          filter: expandFilter(template, input),
          attributes: wanted,
          sizeLimit: 2,
        });
        if (entries.length > 1)
          throw new Ambiguous(`${entries.length} entries match ${input}: ${entries.map((e) => e.dn).join('; ')}`);
        return entries[0] as DirectoryEntry | undefined;
      } catch (err) {
        if (err instanceof SizeLimitExceededError) throw new Ambiguous(`more than one entry matches ${input}`);
        throw err;
      }
    }

    /**
     * Runs directory work: its answer ends an outage; a failure to reach or hear the server
     * becomes `unavailable`, logged once per outage. An ambiguous answer is the directory's
     * data, not an outage: logged each time, since only the admin can fix it.
     */
    async function ask<T>(work: () => Promise<T>): Promise<T | UnavailableResult> {
      try {
        const answer = await work();
        outage.succeeded();
        return answer;
      } catch (err) {
        const reason = (err as Error).message;
        if (err instanceof Ambiguous) {
          outage.succeeded();
          ctx.log.error({ reason }, `ambiguous directory answer: ${reason}; make the filter match one entry`);
          return unavailable(`ambiguous directory answer: ${reason}`);
        }
        outage.failed(reason);
        return unavailable(`LDAP server ${options.url}: ${reason}`);
      }
    }

    async function lookup(address: string): Promise<UserRecord | null | UnavailableResult> {
      return ask(async () => {
        const user = await find(layout.userFilter, address, attributes);
        if (user) return userRecord(user, layout, address, options.mailbox_prefix);
        if (layout.aliasFilter === undefined) return null;
        const alias = await find(layout.aliasFilter, address, [layout.aliasMembersAttribute]);
        return alias ? aliasRecord(alias, layout, address) : null;
      });
    }

    ctx.on('lookupUser', async ({ address, domain }) => {
      if (!ours(domain)) return undefined;
      // Longer than any address can be (RFC 5321 4.5.3.1): no entry has it, and it is not searched for.
      if (address.length > MAX_INPUT) return null;
      return cache.answer(address.toLowerCase(), () => lookup(address));
    });

    ctx.on('authenticate', async (credentials) => {
      const login = credentials.username;
      const at = login.lastIndexOf('@');
      if (login === '' || login.length > MAX_INPUT || (at >= 0 && !ours(login.slice(at + 1)))) return undefined;
      const found = await ask(() => find(layout.loginFilter, login, attributes));
      if (isUnavailable(found)) {
        // Two entries for one login: refuse it (535) rather than guess whose password to try.
        return found.reason.startsWith('ambiguous') ? { ok: false } : found;
      }
      if (found === undefined) return undefined;
      // Disabled, or "noaccess": mail is delivered but logins fail (535 5.7.8), whatever the password.
      if (!mayLogIn(found, layout)) return { ok: false };
      const user = canonicalAddress(found, layout, login);

      if (options.password_check === 'compare') {
        const stored = values(found, options.password_attribute)[0];
        if (stored === undefined) {
          ctx.log.error(
            { dn: found.dn, attribute: options.password_attribute },
            `cannot read ${options.password_attribute} of ${found.dn}: give the bind account read access to it, or use password_check: bind`,
          );
          return { ok: false };
        }
        // An LDAP userPassword without a {SCHEME} prefix is the password itself (RFC 2256 5.36).
        const policy = { plaintext: true, defaultScheme: 'PLAIN' } as const;
        let ok: boolean;
        if (credentials.mechanism === 'CRAM-MD5') {
          const secret = /^\{(PLAIN|CLEARTEXT)\}/i.test(stored)
            ? stored.replace(/^\{[^}]*\}/, '')
            : stored.startsWith('{')
              ? undefined
              : stored;
          ok = secret !== undefined && verifyCramMd5(secret, credentials.challenge ?? '', credentials.response ?? '');
        } else ok = await verifyPassword(stored, credentials.password ?? '', policy);
        return ok ? { ok, user } : { ok: false };
      }

      // A bind needs the password itself; CRAM-MD5 does not carry it.
      if (credentials.password === undefined) return { ok: false };
      const password = credentials.password;
      const bound = await ask(() => pool.checkBind(found.dn, password));
      if (isUnavailable(bound)) return bound;
      return bound ? { ok: true, user } : { ok: false };
    });

    ctx.on('shutdown', () => pool.close());
  },
});
