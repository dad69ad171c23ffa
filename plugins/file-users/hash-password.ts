/*
 * Prints an argon2id hash for a users file: `npm run -s hash-password`, then
 * type the password (not echoed), or pipe it in. Read from standard input,
 * never from the command line, so the password stays out of `ps` and shell
 * history.
 */
import { hash } from '@node-rs/argon2';

/** One line from a terminal, without echo (raw mode), or all of piped input. */
async function readPassword(): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of input) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  process.stderr.write('password: ');
  input.setRawMode(true);
  let typed = '';
  try {
    for await (const chunk of input) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return typed;
        if (ch === '\u0003') process.exit(130); // Ctrl-C
        typed = ch === '\u007f' ? typed.slice(0, -1) : typed + ch;
      }
    }
    return typed;
  } finally {
    input.setRawMode(false);
    process.stderr.write('\n');
  }
}

const password = await readPassword();
if (!password) {
  process.stderr.write('hash-password: empty password\n');
  process.exit(1);
}
process.stdout.write(`${await hash(password)}\n`);
process.exit(0);
