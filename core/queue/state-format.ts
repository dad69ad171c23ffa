/*
 * The format of a delivery state file (state/<id>.json): the DeliveryState as
 * JSON, version 2, each recipient's last reply as fields. Version 1 files,
 * written before replies had fields, are read too: a queue survives an
 * upgrade. Their `lastReply` string and `deliveredTo` host become a reply
 * once, here; nothing else reads the old form. Pure.
 */
import { type DeliveryReply, type DeliveryState, parseReply, type RecipientState } from '../model/index.js';

/** A recipient as version 1 stored it. */
interface RecipientStateV1 extends Omit<RecipientState, 'reply'> {
  /** "550 5.1.1 <x@y>: User unknown", or a plugin's text. */
  readonly lastReply?: string;
  /** The remote host (or "local", or "" for a refusal before any host) that gave it. */
  readonly deliveredTo?: string;
}

interface DeliveryStateV1 extends Omit<DeliveryState, 'version' | 'recipients'> {
  readonly version: 1;
  readonly recipients: readonly RecipientStateV1[];
}

/** Reads a state file's text; throws on JSON that is not a state this version knows. */
export function parseDeliveryState(json: string): DeliveryState {
  const state = JSON.parse(json) as DeliveryState | DeliveryStateV1;
  if (state?.version === 2) return state;
  if (state?.version === 1) return { ...state, version: 2, recipients: state.recipients.map(upgradeRecipient) };
  throw new Error(`delivery state of version ${JSON.stringify((state as { version?: unknown })?.version)} is not known`);
}

export function serializeDeliveryState(state: DeliveryState): string {
  return JSON.stringify(state);
}

function upgradeRecipient(old: RecipientStateV1): RecipientState {
  const { lastReply, deliveredTo, ...rest } = old;
  if (lastReply === undefined) return rest;
  return { ...rest, reply: upgradeReply(lastReply, old.status, deliveredTo) };
}

/**
 * Version 1 wrote every reply as "code enhanced text" (the scheduler turned its
 * own diagnoses into that form), but a deliver plugin's or a route's text went
 * in as given: such a text gets the code its status implies.
 */
function upgradeReply(text: string, status: RecipientState['status'], host: string | undefined): DeliveryReply {
  const parsed = parseReply(text) ?? { code: status === 'delivered' ? 250 : status === 'failed' ? 550 : 451, text };
  // "local" named local delivery, not a host: a DSN has no Remote-MTA for it.
  return host === undefined || host === '' || host === 'local' ? parsed : { ...parsed, host };
}
