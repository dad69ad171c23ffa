/*
 * file-users options: the users file and the domains it is the authority for.
 */
import { type Static, Type } from '../../core/plugin-api/index.js';

export const FileUsersOptions = Type.Object(
  {
    file: Type.String({
      minLength: 1,
      description:
        'Users file: YAML (.yaml/.yml: domains, users: {address: {password, cram_md5, mailbox, forwards, deliver_locally, enabled, quota}}) or flat ("address:hash" per line). Re-read on SIGHUP.',
    }),
    domains: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Domains this file is the authority for: an address there that is not in the file does not exist. Added to the file\'s own "domains:".',
    }),
  },
  { additionalProperties: false },
);

export type FileUsersOptions = Static<typeof FileUsersOptions>;
