/*
 * json-users: a user directory in a JSON file, for the two directory hooks:
 * lookupUser (does this address exist, where is its Maildir: RCPT validation
 * and local delivery ask it) and authenticate (SMTP AUTH through the auth
 * plugin). An address in one of its domains that is not in the file does not
 * exist (null); any other address is left to the next directory (undefined).
 */
import { definePlugin } from 'qgate';
import { JsonUsersOptions } from './options.js';
import { verifyPassword } from './passwords.js';
import { readUsersFile, type UserTable } from './users-file.js';

export default definePlugin({
  name: 'json-users',
  description: 'Users, their Maildirs and password hashes from a JSON file.',
  options: JsonUsersOptions,
  setup(ctx, options) {
    const file = ctx.resolvePath(options.file);
    const load = (): UserTable => {
      const table = readUsersFile(file);
      return { users: table.users, domains: new Set([...table.domains, ...options.domains.map((d) => d.toLowerCase())]) };
    };
    // Read now (a bad file stops start-up) and on every SIGHUP (a bad file keeps the previous table, logged).
    const table = ctx.reloadable('users', load, (t) => ({ file, users: t.users.size, domains: t.domains.size }));

    ctx.on('lookupUser', ({ address, domain }) => {
      const user = table.current.users.get(address.toLowerCase());
      if (user) return { address: user.address, ...(user.mailbox ? { mailbox: user.mailbox } : {}) };
      return table.current.domains.has(domain.toLowerCase()) ? null : undefined;
    });

    ctx.on('authenticate', async ({ mechanism, username, password }) => {
      const user = table.current.users.get(username.toLowerCase());
      if (!user) {
        const domain = username.slice(username.lastIndexOf('@') + 1).toLowerCase();
        return table.current.domains.has(domain) ? { ok: false } : undefined;
      }
      // Only cleartext mechanisms can be checked against a hash; CRAM-MD5 needs the secret itself.
      if ((mechanism !== 'PLAIN' && mechanism !== 'LOGIN') || user.password === undefined || password === undefined) {
        return { ok: false };
      }
      return (await verifyPassword(user.password, password)) ? { ok: true, user: user.address } : { ok: false };
    });
  },
});
