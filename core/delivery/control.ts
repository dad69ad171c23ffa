/*
 * Requests from `qgate queue flush|remove|bounce` to the running gateway:
 * one small file per request under <queue>/control/, then SIGUSR1 to the
 * gateway (qmail-send answers SIGALRM the same way). File names carry the
 * request, so no parsing of contents is needed and a crash loses nothing.
 */
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUEUE_ID_PATTERN } from '../queue/queue.js';

export type ControlAction = 'flush' | 'remove' | 'bounce';
export interface ControlRequest {
  readonly action: ControlAction;
  /** A queue id, or undefined for "every message" (flush only). */
  readonly id: string | undefined;
}

const ACTIONS = new Set<string>(['flush', 'remove', 'bounce']);

export function writeControlRequest(queueRoot: string, request: ControlRequest): void {
  if (request.id !== undefined && !QUEUE_ID_PATTERN.test(request.id)) throw new Error(`not a queue id: ${request.id}`);
  const dir = join(queueRoot, 'control');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, `${request.action}.${request.id ?? 'ALL'}`), '');
}

/** Reads and removes pending requests. */
export function takeControlRequests(queueRoot: string): ControlRequest[] {
  const dir = join(queueRoot, 'control');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: ControlRequest[] = [];
  for (const name of names) {
    unlinkSync(join(dir, name));
    const [action, id] = name.split('.');
    if (!action || !ACTIONS.has(action) || !id) continue;
    if (id !== 'ALL' && !QUEUE_ID_PATTERN.test(id)) continue;
    out.push({ action: action as ControlAction, id: id === 'ALL' ? undefined : id });
  }
  return out;
}
