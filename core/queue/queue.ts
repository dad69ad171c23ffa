/*
 * The queue interface: what the SMTP engine and the CLI need from a queue,
 * whatever keeps it. A message is acknowledged only after commit() resolved,
 * which means body and envelope are durable. The file backend is in
 * file-queue.ts; another backend implements the same interface.
 */
import type { Readable } from 'node:stream';
import type { DeliveryState, Envelope, QueueCensus, RecipientState } from '../model/index.js';

/** A message being received: written as it streams in, committed or discarded at the end. */
export interface Spool {
  readonly id: string;
  /** Where the bytes are now (readable after finish()). */
  readonly path: string;
  /** Octets written so far. */
  readonly size: number;
  /** Queues bytes; false means "wait for onDrain before writing more". */
  write(chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  /** Writes out everything queued, so `path` holds the whole message (not yet durable). */
  finish(): Promise<void>;
  /**
   * Stores the envelope with the message, makes both durable and commits them atomically. Resolves only then.
   * An envelope with `quarantine` is committed as held: kept, not announced, never delivered until released.
   */
  commit(envelope: Envelope): Promise<void>;
  /** Removes whatever was written. Safe to call at any point, more than once. */
  discard(): Promise<void>;
  createReadStream(): Readable;
}

export interface QueueSummary {
  readonly id: string;
  readonly received: string;
  readonly size: number;
  readonly sender: string;
  /** Each recipient with its delivery state (pending with no attempt yet if none is stored). */
  readonly recipients: readonly RecipientState[];
}

export interface QueueStats {
  readonly messages: number;
  readonly bytes: number;
  readonly oldest: string | undefined;
}

export interface RecoveryReport {
  /** Committed messages found. */
  readonly messages: number;
  /** Partial files removed (never a committed message). */
  readonly removed: readonly string[];
  /** Damaged entries moved to corrupt/. */
  readonly corrupt: readonly string[];
}

export interface MessageQueue {
  /** Creates the directories and cleans up after a crash. Call before anything else. */
  open(): Promise<RecoveryReport>;
  createSpool(id: string): Spool;
  /** Committed ids, oldest first. */
  ids(): Promise<string[]>;
  /** Whether a committed entry with this id is queued (damaged or not). */
  has(id: string): Promise<boolean>;
  /** Called with the id of every message committed from now on (the scheduler's trigger). */
  onCommit(listener: (id: string) => void): void;
  readState(id: string): Promise<DeliveryState | undefined>;
  /** Replaces the delivery state durably (resolves after it is on disk). */
  writeState(state: DeliveryState): Promise<void>;
  /**
   * Removes a finished entry and its state; `stateWritten: false` (the caller
   * never wrote one) skips looking for a state file.
   */
  remove(id: string, options?: { readonly stateWritten?: boolean }): Promise<void>;
  /** Moves a damaged entry to corrupt/ so the rest of the queue goes on. */
  quarantine(id: string): Promise<void>;
  list(): Promise<QueueSummary[]>;
  /** Messages, octets and the oldest arrival by state, from names and sizes only (census.ts). */
  census(): Promise<QueueCensus>;
  stat(): Promise<QueueStats>;
  envelope(id: string): Promise<Envelope | undefined>;
  readMessage(id: string): Readable | undefined;
  close(): Promise<void>;
}

let sequence = 0;

/**
 * Queue ids sort by time: milliseconds since the epoch in base 36, a per-process
 * counter and random letters (unique across restarts within one millisecond).
 */
export function newQueueId(now = Date.now()): string {
  sequence = (sequence + 1) % 36 ** 3;
  const rand = Math.floor(Math.random() * 36 ** 3);
  return (
    now.toString(36).toUpperCase().padStart(9, '0') +
    sequence.toString(36).toUpperCase().padStart(3, '0') +
    rand.toString(36).toUpperCase().padStart(3, '0')
  );
}

export const QUEUE_ID_PATTERN = /^[0-9A-Z]{15}$/;
