/*
 * The queries of each table layout sql-users knows, so an admin names the
 * layout instead of writing SQL: qgate's own (schema.sql), vpopmail's (the
 * MANY_DOMAINS `vpopmail` table with pw_* columns, and `valias`) and Dovecot's
 * (the `users` table of its SQL documentation). Every value is a $n parameter.
 */
import type { SqlQuery } from './options.js';

export type PresetName = 'qgate' | 'vpopmail' | 'dovecot';

export interface Preset {
  readonly user: SqlQuery;
  readonly alias?: SqlQuery;
  readonly domain: SqlQuery;
}

export const PRESETS: Record<PresetName, Preset> = {
  qgate: {
    user: {
      sql: 'SELECT address, password, maildir AS mailbox, forwards, deliver_locally, enabled, quota FROM users WHERE address = $1',
      params: ['address'],
    },
    // The address's own aliases, else the domain's catch-all ("@domain").
    alias: {
      sql:
        'SELECT target FROM aliases WHERE address = $1 UNION ALL ' +
        "SELECT target FROM aliases WHERE address = '@' || $2 AND NOT EXISTS (SELECT 1 FROM aliases WHERE address = $1)",
      params: ['address', 'domain'],
    },
    domain: { sql: 'SELECT 1 FROM domains WHERE domain = $1', params: ['domain'] },
  },
  vpopmail: {
    // pw_passwd is crypt(3) (MD5-crypt or DES), pw_clear_passwd the cleartext vpopmail keeps
    // when built with --enable-clear-passwd (read only with `plaintext: true`). pw_gid holds
    // vpopmail's flags (vpopmail.h): BOUNCE_MAIL (0x10) refuses mail, NO_POP (0x02) refuses
    // POP3 logins, NO_SMTP (0x800) refuses SMTP AUTH; each still receives mail.
    // pw_shell holds the Maildir++ quota ("1048576S", "NOQUOTA"); the Maildir is pw_dir/Maildir.
    user: {
      sql:
        "SELECT pw_name || '@' || pw_domain AS address, " +
        "CASE WHEN coalesce(pw_passwd, '') <> '' THEN '{CRYPT}' || pw_passwd ELSE '{PLAIN}' || pw_clear_passwd END AS password, " +
        "rtrim(pw_dir, '/') || '/Maildir' AS mailbox, (pw_gid & 16) = 0 AS enabled, (pw_gid & 2) = 0 AS pop3_enabled, (pw_gid & 2048) = 0 AS smtp_enabled, " +
        "CASE WHEN pw_shell ~ '^[0-9]+S' THEN substring(pw_shell FROM '^([0-9]+)S')::bigint ELSE 0 END AS quota " +
        'FROM vpopmail WHERE pw_name = $1 AND pw_domain = $2',
      params: ['local', 'domain'],
    },
    alias: { sql: 'SELECT valias_line AS target FROM valias WHERE alias = $1 AND domain = $2', params: ['local', 'domain'] },
    domain: { sql: 'SELECT 1 FROM vpopmail WHERE pw_domain = $1 LIMIT 1', params: ['domain'] },
  },
  dovecot: {
    // Dovecot's example table: the password carries its {SCHEME}; mail_location maildir:~/Maildir.
    user: {
      sql:
        "SELECT username || '@' || domain AS address, password, home || '/Maildir' AS mailbox, active = 'Y' AS enabled " +
        'FROM users WHERE username = $1 AND domain = $2',
      params: ['local', 'domain'],
    },
    domain: { sql: 'SELECT 1 FROM users WHERE domain = $1 LIMIT 1', params: ['domain'] },
  },
};
