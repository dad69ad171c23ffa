/*
 * Logs (pino): one line per connection and one per message, as JSON lines
 * for machines or as text lines for people (text-format.ts), on stdout or
 * appended to log.file. Written asynchronously; the file is reopened on
 * request (logrotate), and the last lines are flushed before the process exits.
 */
import { chownSync, closeSync, fchownSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DestinationStream, type Logger, pino } from 'pino';
import { formatTextLine, type LogRecord } from './text-format.js';

export type { Logger };

export interface LogSettings {
  readonly level: string;
  readonly format: 'json' | 'text';
  /** Append here instead of stdout (created with mode 0640). */
  readonly file?: string | undefined;
  /** Who the file belongs to (the user the gateway drops to), so that it can reopen it after rotation. */
  readonly owner?: { readonly uid: number; readonly gid: number } | undefined;
  /**
   * Hand the formatted lines to this instead of writing them (the delivery thread: the
   * main thread writes them, so one writer keeps whole lines and one file to reopen).
   */
  readonly sink?: ((text: string) => void) | undefined;
}

/** The gateway's logger and the destination under it. */
export interface GatewayLog {
  readonly log: Logger;
  /** The file written to, if not stdout. */
  readonly file: string | undefined;
  /** Opens log.file again (after logrotate moved it); nothing on stdout. */
  reopen(): void;
  /**
   * Resolves once every line logged so far is written, or after `timeoutMs`
   * (a reader that stopped reading stdout must not keep a stopping gateway up).
   */
  flush(timeoutMs: number): Promise<void>;
  /** Writes what is buffered before returning (for an exit from a synchronous handler). */
  flushSync(): void;
  /** Writes lines another thread formatted (its sink), in order with this thread's own. */
  writeLines(text: string): void;
}

type Destination = DestinationStream & {
  flushSync(): void;
  reopen(file?: string): void;
  on(event: 'write', listener: (bytes: number) => void): void;
  once(event: 'drain', listener: () => void): void;
  removeListener(event: 'drain', listener: () => void): void;
};

export function createLogger(settings: LogSettings): GatewayLog {
  if (settings.file && settings.owner) prepareFile(settings.file, settings.owner);
  const destination = settings.sink
    ? handOver(settings.sink)
    : (pino.destination({
        dest: settings.file ?? 1,
        sync: false,
        minLength: 0,
        ...(settings.file ? { mkdir: true, append: true, mode: 0o640 } : {}),
      }) as unknown as Destination);
  const text = settings.format === 'text';
  // Bytes handed to the destination and bytes it wrote: flush() waits until they meet. The
  // destination's own flush() returns at once with minLength 0, so the last lines were lost at exit.
  let handed = 0;
  let written = 0;
  destination.on('write', (bytes) => {
    written += bytes;
  });
  const counted = (line: string): string => {
    handed += Buffer.byteLength(line);
    return line;
  };
  const log = pino(
    {
      level: settings.level,
      base: { service: 'qgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Text lines are made from the JSON line, so both formats carry exactly the same fields.
      hooks: {
        streamWrite: text ? (line: string) => counted(formatTextLine(JSON.parse(line) as LogRecord)) : counted,
      },
    },
    destination,
  );
  return {
    log,
    file: settings.file,
    reopen: () => {
      if (settings.file) destination.reopen();
    },
    flush: (timeoutMs) =>
      new Promise((resolve) => {
        if (written >= handed) return resolve();
        const done = () => {
          if (written < handed) return void destination.once('drain', done);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          destination.removeListener('drain', done);
          resolve();
        }, timeoutMs);
        destination.once('drain', done);
      }),
    writeLines: (text) => {
      destination.write(counted(text));
    },
    flushSync: () => {
      try {
        destination.flushSync();
      } catch {
        // Not open yet or a write in flight: nothing more can be done on the way out.
      }
    },
  };
}

/** Lines handed over per batch at most; a batch goes at the end of the event loop turn. */
const HANDOVER_BYTES = 64 * 1024;

/**
 * A destination that gives lines to `sink` in batches (one per event loop turn, or
 * every HANDOVER_BYTES), counting them as written once handed over.
 */
function handOver(sink: (text: string) => void): Destination {
  let pending: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const writeListeners: ((bytes: number) => void)[] = [];
  const send = () => {
    scheduled = false;
    if (!pending.length) return;
    const text = pending.join('');
    pending = [];
    const sent = bytes;
    bytes = 0;
    sink(text);
    for (const listener of writeListeners) listener(sent);
  };
  return {
    write(line: string) {
      pending.push(line);
      bytes += Buffer.byteLength(line);
      if (bytes >= HANDOVER_BYTES) send();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(send);
      }
    },
    flushSync: send,
    reopen: () => undefined,
    on: (_event: 'write', listener: (n: number) => void) => void writeListeners.push(listener),
    once: (_event: 'drain', listener: () => void) =>
      void setImmediate(() => {
        send();
        listener();
      }),
    removeListener: () => undefined,
  } as Destination;
}

/**
 * Creates the log file (and its directory) now, as root, and gives both to
 * `owner`: the destination opens the file asynchronously, too late to chown.
 */
function prepareFile(file: string, owner: { readonly uid: number; readonly gid: number }): void {
  const created = mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  if (created) chownSync(dirname(file), owner.uid, owner.gid);
  const fd = openSync(file, 'a', 0o640);
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

/** A logger that writes nothing (for CLI commands that only read the queue). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
