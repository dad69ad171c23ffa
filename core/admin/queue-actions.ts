/*
 * The queue commands (flush, remove, bounce) as one operation with one answer:
 * done by the running scheduler when there is one (the API waits for the runs
 * they cause, up to a limit), or carried out on the queue directly with the
 * same state transitions when delivery is off or no gateway runs. The answer
 * says what became of each message; see README "Admin API" for its shape.
 */
import { BOUNCED_BY_ADMINISTRATOR, bounceNow, flushNow, initialState } from '../delivery/state.js';
import type { RecipientState } from '../model/index.js';
import { type MessageQueue, QUEUE_ID_PATTERN } from '../queue/queue.js';

export type QueueAction = 'flush' | 'remove' | 'bounce';
export const QUEUE_ACTIONS: readonly QueueAction[] = ['flush', 'remove', 'bounce'];

/** What the scheduler offers for these commands (core/delivery/scheduler.ts). */
export interface ActionScheduler {
  flush(id?: string): Promise<string[]>;
  remove(id: string): Promise<void>;
  bounceNow(id: string, reason: string): Promise<void>;
  /** Resolves once each message has had no delivery run in flight or due at once. */
  idleAll(ids: readonly string[]): Promise<void>;
}

export interface MessageOutcome {
  readonly id: string;
  /** false: the message left the queue (removed, or every recipient delivered or bounced). */
  readonly queued: boolean;
  readonly recipients?: readonly RecipientState[];
}

export interface ActionOutcome {
  readonly action: QueueAction;
  /** false: runs were still going when the wait ended; the log tells the rest. */
  readonly done: boolean;
  /** "scheduler": the running gateway did it; "queue": written to the queue, delivery picks it up. */
  readonly by: 'scheduler' | 'queue';
  /** How many messages the command acted on. */
  readonly count: number;
  /** What became of them: the first MAX_LISTED only (a whole-queue flush may act on 100,000). */
  readonly messages: readonly MessageOutcome[];
}

/**
 * An outcome lists at most this many messages: each costs two reads and a line of the
 * answer, so listing a flush of a large backlog took longer than the caller waits.
 */
export const MAX_LISTED = 1000;

export class NoSuchMessage extends Error {
  constructor(readonly id: string) {
    super(`no message ${id} in the queue`);
  }
}

export class BadRequest extends Error {}

export function checkAction(action: string, id: string | undefined): asserts action is QueueAction {
  if (!(QUEUE_ACTIONS as readonly string[]).includes(action)) throw new BadRequest(`unknown queue action "${action}"`);
  if (id !== undefined && !QUEUE_ID_PATTERN.test(id)) throw new BadRequest(`not a queue id: ${JSON.stringify(id)}`);
  if (id === undefined && action !== 'flush') throw new BadRequest(`queue ${action} needs a queue id`);
}

export async function applyQueueAction(
  queue: MessageQueue,
  scheduler: ActionScheduler | undefined,
  action: QueueAction,
  id: string | undefined,
  waitMs: number,
  listAtMost = MAX_LISTED,
): Promise<ActionOutcome> {
  checkAction(action, id);
  if (id !== undefined && !(await queue.envelope(id))) throw new NoSuchMessage(id);
  let ids: string[];
  let done = true;
  if (scheduler) {
    if (action === 'flush') ids = await scheduler.flush(id);
    else {
      ids = [id!];
      if (action === 'remove') await scheduler.remove(id!);
      else await scheduler.bounceNow(id!, BOUNCED_BY_ADMINISTRATOR);
    }
    // Without a wait there is nothing to ask after.
    if (ids.length === 0) done = true;
    else done = waitMs > 0 && (await settled(scheduler.idleAll(ids), waitMs));
  } else {
    ids = id ? [id] : await queue.ids();
    for (const one of ids) {
      if (action === 'remove') {
        await queue.remove(one);
        continue;
      }
      const env = await queue.envelope(one);
      if (!env) continue;
      // The same transitions the scheduler makes when it is asked.
      const state = (await queue.readState(one)) ?? initialState(env);
      await queue.writeState(action === 'flush' ? flushNow(state, Date.now()) : bounceNow(state, BOUNCED_BY_ADMINISTRATOR));
    }
  }
  const messages: MessageOutcome[] = [];
  for (const one of ids.slice(0, listAtMost)) {
    const env = await queue.envelope(one);
    if (!env) messages.push({ id: one, queued: false });
    else messages.push({ id: one, queued: true, recipients: ((await queue.readState(one)) ?? initialState(env)).recipients });
  }
  return { action, done, by: scheduler ? 'scheduler' : 'queue', count: ids.length, messages };
}

/** Whether `work` settled within `ms`. */
async function settled(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((res) => {
    timer = setTimeout(() => res(false), ms);
  });
  try {
    const ended = () => true;
    return await Promise.race([work.then(ended, ended), late]);
  } finally {
    clearTimeout(timer);
  }
}
