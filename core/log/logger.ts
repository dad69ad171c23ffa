/*
 * Structured logs (pino, JSON lines on stdout): one line per connection and
 * one per message, so a log shipper or `jq` can answer "what happened to
 * this message". Written asynchronously; flushed on shutdown.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string, destination: number | string = 1): Logger {
  const stream = pino.destination({ dest: destination, sync: false, minLength: 0 });
  return pino(
    {
      level,
      base: { service: 'qgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that writes nothing (for CLI commands that only read the queue). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
