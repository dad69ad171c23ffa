/*
 * Captures what a test pipeline logs: the same pino logger the gateway uses,
 * writing synchronously into memory, so a test can assert on the exact lines an
 * admin would read (decisions, errors with the plugin's name, reload summaries).
 */
import { type Logger, pino } from 'pino';

/** One log line, parsed: pino's fields plus whatever the line carries (plugin, hook, event, ...). */
export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly time?: string;
  readonly plugin?: string;
  readonly pipeline?: string;
  readonly hook?: string;
  readonly event?: string;
  readonly session?: string;
  readonly [field: string]: unknown;
}

export interface LogCapture {
  readonly log: Logger;
  readonly records: readonly LogRecord[];
  /** Resolves with the first record (already written or still to come) that matches. */
  waitFor(match: (record: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
}

export function captureLogs(level: string): LogCapture {
  const records: LogRecord[] = [];
  const waiters = new Set<{ match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }>();
  const destination = {
    write(line: string): void {
      const record = JSON.parse(line) as LogRecord;
      records.push(record);
      for (const waiter of waiters) {
        if (waiter.match(record)) {
          waiters.delete(waiter);
          waiter.resolve(record);
        }
      }
    },
  };
  const log = pino(
    {
      level,
      base: { service: 'qgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    log,
    records,
    waitFor(match, timeoutMs = 5000) {
      const found = records.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (r: LogRecord) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching log line within ${timeoutMs} ms; ${records.length} lines were logged`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}
