/*
 * The users file: JSON checked against a schema (TypeBox's Value), so a typo is
 * reported with the file and the JSON path of the bad value, at start-up (which
 * stops) or at reload (which keeps the previous table).
 */
import { readFileSync } from 'node:fs';
import { type Static, Type, Value } from 'qgate';
import { isPasswordHash } from './passwords.js';

const UsersFileSchema = Type.Object(
  {
    domains: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    users: Type.Record(
      Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$' }),
      Type.Object(
        { password: Type.Optional(Type.String()), mailbox: Type.Optional(Type.String({ minLength: 1 })) },
        { additionalProperties: false },
      ),
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export interface User {
  /** As written in the file (the canonical address). */
  readonly address: string;
  readonly password?: string;
  readonly mailbox?: string;
}

export interface UserTable {
  /** By lower-cased address. */
  readonly users: ReadonlyMap<string, User>;
  /** Lower-cased domains this table is the authority for. */
  readonly domains: ReadonlySet<string>;
}

export function readUsersFile(file: string): UserTable {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  if (!Value.Check(UsersFileSchema, data)) {
    const first = Value.Errors(UsersFileSchema, data).First();
    throw new Error(`${file}: ${first ? `${first.path || '/'}: ${first.message}` : 'not a users file'}`);
  }
  const parsed: Static<typeof UsersFileSchema> = data;
  const users = new Map<string, User>();
  for (const [address, entry] of Object.entries(parsed.users)) {
    if (entry.password !== undefined && !isPasswordHash(entry.password)) {
      throw new Error(`${file}: /users/${address}/password: not a $scrypt$ hash (make one with hashPassword())`);
    }
    users.set(address.toLowerCase(), { address, ...entry });
  }
  return { users, domains: new Set((parsed.domains ?? []).map((d) => d.toLowerCase())) };
}
