-- qgate's own user directory for sql-users (preset: qgate). Load it with
--   psql "$DATABASE_URL" -f plugins/sql-users/schema.sql
-- Addresses and domains are stored in lower case: the gateway asks in lower case.
-- The gateway only reads: grant its role SELECT on these three tables and nothing else.

-- The domains this directory is the authority for: an address there that is neither a
-- user nor an alias gets 550 5.1.1 at RCPT. Other domains are left to the next directory.
CREATE TABLE IF NOT EXISTS domains (
  domain text PRIMARY KEY CHECK (domain = lower(domain) AND domain <> '')
);

CREATE TABLE IF NOT EXISTS users (
  address text PRIMARY KEY CHECK (address = lower(address) AND address LIKE '_%@_%'),
  -- Any scheme of README "Password hashes": "{SHA512-CRYPT}$6$...", "$argon2id$...", "$2y$...".
  -- NULL: the user receives mail but cannot log in.
  password text,
  -- The Maildir; NULL: <maildir_root>/<domain>/<local part>.
  maildir text,
  -- Addresses that get a copy; with deliver_locally false, the only ones.
  forwards text[] NOT NULL DEFAULT '{}',
  deliver_locally boolean NOT NULL DEFAULT true,
  -- false: RCPT gets 550 5.1.1 as for an unknown user, AUTH gets 535.
  enabled boolean NOT NULL DEFAULT true,
  -- Octets; 0: no limit.
  quota bigint NOT NULL DEFAULT 0 CHECK (quota >= 0)
);

-- address -> target, one row per target. address "@example.net" is the catch-all of
-- example.net: it takes what no user and no alias of that domain takes.
CREATE TABLE IF NOT EXISTS aliases (
  address text NOT NULL CHECK (address = lower(address) AND address LIKE '%@_%'),
  target text NOT NULL CHECK (target LIKE '_%@_%'),
  PRIMARY KEY (address, target)
);
