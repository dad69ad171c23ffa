/*
 * file-users: a user directory in a file, for the lookupUser and
 * authenticate hooks (so AUTH, and delivery's "does this user exist", work
 * without LDAP or SQL). Re-read on SIGHUP; a broken file keeps the old table.
 */
import { statSync } from 'node:fs';
import { definePlugin, readOptionFile, verifyCramMd5, verifyPassword } from '../../core/plugin-api/index.js';
import { FileUsersOptions } from './options.js';
import { PASSWORD_POLICY, parseUsersFile, type UserTable } from './users-file.js';

export default definePlugin({
  name: 'file-users',
  description: 'Users, domains and password hashes from a YAML or flat file.',
  options: FileUsersOptions,
  setup(ctx, options) {
    const file = ctx.resolvePath(options.file);
    const load = (): UserTable => {
      const table = readOptionFile(file, ['file'], (text) => parseUsersFile(file, text));
      const cleartext = [...table.users.values()].filter((u) => u.cramMd5 !== undefined || u.password?.startsWith('{PLAIN}'));
      if (cleartext.length && (statSync(file).mode & 0o077) !== 0) {
        // Anyone who can read a CRAM-MD5 secret or a {PLAIN} password can log in with it.
        ctx.log.warn(
          { file, users: cleartext.map((u) => u.address) },
          'the users file holds cleartext-equivalent secrets and other users can read it; chmod 600 it',
        );
      }
      const domains = new Set(table.domains);
      for (const d of options.domains) domains.add(d.toLowerCase());
      return { users: table.users, domains };
    };
    const users = ctx.reloadable('users', load, (t) => ({ file, users: t.users.size }));

    ctx.on('lookupUser', ({ address, domain }) => {
      const user = users.current.users.get(address.toLowerCase());
      if (!user) return users.current.domains.has(domain.toLowerCase()) ? null : undefined;
      const { password: _password, cramMd5: _cramMd5, ...record } = user;
      return record;
    });

    ctx.on('authenticate', async (credentials) => {
      const user = users.current.users.get(credentials.username.toLowerCase());
      if (!user) return undefined;
      // A disabled account cannot log in, whatever its password (535 5.7.8 from plugins/auth).
      if (user.enabled === false) return { ok: false };
      if (credentials.mechanism === 'CRAM-MD5') {
        const secret = user.cramMd5 ?? (user.password?.startsWith('{PLAIN}') ? user.password.slice(7) : undefined);
        const ok = secret !== undefined && verifyCramMd5(secret, credentials.challenge ?? '', credentials.response ?? '');
        return ok ? { ok, user: user.address } : { ok: false };
      }
      const ok =
        user.password !== undefined && (await verifyPassword(user.password, credentials.password ?? '', PASSWORD_POLICY));
      return ok ? { ok, user: user.address } : { ok: false };
    });
  },
});
