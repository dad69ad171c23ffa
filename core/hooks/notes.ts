/*
 * Typed notes that plugins attach to a session or a transaction. A key is made
 * by the plugin context and carries the plugin's name, so each plugin writes
 * only under its own name and reads back the type it stored.
 */

export interface NoteKey<T> {
  readonly name: string;
  /** Phantom field: carries T for the type checker only. */
  readonly __type?: T;
}

export function noteKey<T>(owner: string, name: string): NoteKey<T> {
  return Object.freeze({ name: `${owner}.${name}` });
}

export class Notes {
  private readonly values = new Map<string, unknown>();

  get<T>(key: NoteKey<T>): T | undefined {
    return this.values.get(key.name) as T | undefined;
  }

  set<T>(key: NoteKey<T>, value: T): void {
    this.values.set(key.name, value);
  }

  has(key: NoteKey<unknown>): boolean {
    return this.values.has(key.name);
  }

  delete(key: NoteKey<unknown>): void {
    this.values.delete(key.name);
  }

  /** Plain snapshot for logs and the queue envelope. */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.values);
  }
}
