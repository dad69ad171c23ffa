/*
 * The text `qgate ... --help` prints after the options: examples, the signals
 * the gateway answers and the exit codes (sysexits.h, as Postfix and qmail
 * tools use them). One place, so every level of the help says the same.
 */

export const EXIT = {
  OK: 0,
  /** The command ran and the answer is no: no such message, the gateway could not start. */
  FAILED: 1,
  USAGE: 64,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: 78,
} as const;

export const EXIT_CODES = `Exit codes:
  0   done
  1   failed: no such message, the gateway could not start
  64  usage error (unknown command or option, missing argument)
  69  no gateway is running, or it serves no admin API (admin.enabled: false)
  70  internal error in the gateway (see its log)
  75  the gateway did not answer in time; try again
  76  the admin API answered something that is not JSON
  77  the admin API refused the token (admin.token, token_file, token_env)
  78  configuration error (file:line:column key: problem), or a reload refused
Every command takes -c, --config <file> (default config.yaml).`;

export const SIGNALS = `Signals the gateway answers:
  SIGTERM, SIGINT  stop gracefully: no new connections, transactions get shutdown_grace
  SIGHUP           reload (what qgate reload asks for)
Under npm start, npm passes on only SIGTERM and SIGINT: use qgate reload and qgate stop,
which find the gateway through its queue lock, or run node bin/qgate.js start directly.`;

export function examples(...lines: string[]): string {
  return `Examples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;
}

export function after(...parts: string[]): string {
  return `\n${parts.join('\n\n')}\n`;
}
