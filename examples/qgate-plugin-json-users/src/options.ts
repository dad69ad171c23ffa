/*
 * json-users options: the users file and the domains it is the authority for.
 */
import { type Static, Type } from 'qgate';

export const JsonUsersOptions = Type.Object(
  {
    file: Type.String({
      minLength: 1,
      description:
        'The users file (JSON: { domains, users: { address: { password, mailbox } } }), relative to the pipeline file. Re-read on SIGHUP.',
    }),
    domains: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'More domains this file is the authority for (an address there that is not in the file does not exist).',
    }),
  },
  { additionalProperties: false },
);

export type JsonUsersOptions = Static<typeof JsonUsersOptions>;
