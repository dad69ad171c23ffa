/*
 * The queue by state from names and sizes alone, for gauges read every few
 * seconds: a message without a delivery state file has not been attempted yet
 * (new), one with a state file has (deferred). Each state's oldest message is
 * found from the ids, which begin with the arrival time. Nothing here reads an
 * entry: with 100,000 queued, reading every envelope took seconds per scrape.
 */

import type { QueueCensus, QueueState } from '../model/index.js';

/** When a message arrived, from its id (milliseconds in base 36, queue.ts newQueueId). */
export function arrivalOf(id: string): number {
  return Number.parseInt(id.slice(0, 9), 36);
}

/** Totals by state, one entry at a time (a census of 100,000 entries yields between directories). */
export class CensusTally {
  private readonly states = new Map<QueueState, { messages: number; bytes: number; oldestMs: number | undefined }>();

  add(id: string, size: number, attempted: boolean): void {
    const state: QueueState = attempted ? 'deferred' : 'new';
    let totals = this.states.get(state);
    if (!totals) {
      totals = { messages: 0, bytes: 0, oldestMs: undefined };
      this.states.set(state, totals);
    }
    totals.messages += 1;
    totals.bytes += size;
    const arrived = arrivalOf(id);
    if (totals.oldestMs === undefined || arrived < totals.oldestMs) totals.oldestMs = arrived;
  }

  result(): QueueCensus {
    return { states: new Map(this.states) };
  }
}
