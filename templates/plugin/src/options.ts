/*
 * my-plugin options: the schema is the single source of the option names,
 * types, defaults and descriptions; `npm run docs` renders it into README.md.
 */
import { type Static, Type } from 'qgate';

export const MyPluginOptions = Type.Object(
  {
    recipients: Type.Array(Type.String({ minLength: 3 }), {
      default: [],
      description: 'Addresses refused at RCPT TO, compared without case.',
    }),
    message: Type.String({
      minLength: 1,
      default: 'This address does not receive mail',
      description: 'Text of the 550 5.7.1 reply.',
    }),
  },
  { additionalProperties: false },
);

export type MyPluginOptions = Static<typeof MyPluginOptions>;
