/*
 * Files that plugin options name (lists, users, certificates): read and parse
 * one so that any failure, a missing file or a bad line, becomes an OptionError
 * at the option that named it, and the configuration error points at that key
 * (`inbound.yaml:5:16 plugins[0].with.files[1]: ...`) instead of the plugin entry.
 */
import { readFileSync } from 'node:fs';
import { OptionError } from './define.js';
import { displayPath } from './registry.js';

/** `parse` gets the text; what it throws is the message (it should name file:line). */
export function readOptionFile<T>(file: string, at: readonly (string | number)[], parse: (text: string) => T): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new OptionError(at, `cannot read ${displayPath(file)}: ${why}`);
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof OptionError) throw err;
    throw new OptionError(at, (err as Error).message);
  }
}
