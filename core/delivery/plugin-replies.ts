/*
 * Replies that plugins give delivery, checked before they reach the delivery
 * state: the outcomes a deliver hook returns and the reply of an error route.
 * A reply is fields ({ code, enhanced, text, host }), or an SMTP reply line
 * from a plugin written before replies had fields. Whatever cannot be read, or
 * contradicts its result (a "delivered" with 550), defers that recipient: a
 * garbled answer must neither bounce mail nor count it delivered. Pure.
 */
import { type DeliveryOutcome, type DeliveryReply, deliveryReply, ENHANCED_CODE, parseReply } from '../model/index.js';

const CLASS: Readonly<Record<DeliveryOutcome['result'], number>> = { delivered: 2, deferred: 4, failed: 5 };

/** What a plugin's reply turned out to be: a reply, or why it is none. */
type Checked = { readonly ok: true; readonly reply: DeliveryReply } | { readonly ok: false; readonly problem: string };

/** Reads one reply a plugin gave for `result`; `host` is where an older outcome named its host. */
export function checkReply(value: unknown, result: DeliveryOutcome['result'], host?: unknown): Checked {
  const fields = typeof value === 'string' ? parseReply(value) : value;
  if (typeof fields !== 'object' || fields === null) {
    return { ok: false, problem: `reply ${JSON.stringify(value)} is neither an SMTP reply nor { code, enhanced, text }` };
  }
  const { code, enhanced, text } = fields as Record<string, unknown>;
  const replyHost = (fields as Record<string, unknown>).host ?? host;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 200 || code > 599) {
    return { ok: false, problem: `reply code ${JSON.stringify(code)} is not 2xx to 5xx` };
  }
  if (Math.floor(code / 100) !== CLASS[result])
    return { ok: false, problem: `a ${result} recipient cannot have reply code ${code}` };
  if (
    enhanced !== undefined &&
    (typeof enhanced !== 'string' || !ENHANCED_CODE.test(enhanced) || enhanced[0] !== String(code)[0])
  ) {
    return { ok: false, problem: `enhanced code ${JSON.stringify(enhanced)} does not go with reply code ${code}` };
  }
  const lines = typeof text === 'string' || (Array.isArray(text) && text.every((t) => typeof t === 'string'));
  if (!lines) return { ok: false, problem: 'reply text is not a string or a list of strings' };
  if (replyHost !== undefined && typeof replyHost !== 'string') return { ok: false, problem: 'reply host is not a string' };
  return { ok: true, reply: deliveryReply(code, enhanced, text as string | string[], replyHost) };
}

/**
 * The deliver hook's answer, one outcome per recipient in `recipients`' order.
 * A recipient the answer leaves out, or whose outcome is malformed, is
 * deferred; `problems` says what was wrong, for the log.
 */
export function offeredOutcomes(
  recipients: readonly string[],
  answer: unknown,
): { outcomes: DeliveryOutcome[]; problems: string[] } {
  const problems: string[] = [];
  const offered = (answer as { outcomes?: unknown } | null)?.outcomes;
  if (!Array.isArray(offered)) problems.push('the result has no outcomes list');
  const list: unknown[] = Array.isArray(offered) ? offered : [];
  const outcomes = recipients.map((recipient): DeliveryOutcome => {
    const o = list.find((x) => (x as { recipient?: unknown } | null)?.recipient === recipient) as
      | Record<string, unknown>
      | undefined;
    if (!o) return deferred(recipient, 'the deliver plugin gave no result for this recipient');
    const result = o.result;
    if (result !== 'delivered' && result !== 'deferred' && result !== 'failed') {
      problems.push(`${recipient}: result ${JSON.stringify(result)} is not delivered, deferred or failed`);
      return deferred(recipient, 'the deliver plugin gave an invalid result for this recipient');
    }
    const checked = checkReply(o.reply, result, o.host);
    if (!checked.ok) {
      problems.push(`${recipient}: ${checked.problem}`);
      return deferred(recipient, 'the deliver plugin gave an invalid result for this recipient');
    }
    return { recipient, result, reply: checked.reply };
  });
  return { outcomes, problems };
}

/**
 * An error route's outcome. Its reply is the plugin's text; one that is no
 * reply of the route's class is reported with the class's generic code.
 */
export function routeErrorOutcome(recipient: string, permanent: boolean, text: string): DeliveryOutcome {
  const result = permanent ? 'failed' : 'deferred';
  const checked = checkReply(text, result);
  return { recipient, result, reply: checked.ok ? checked.reply : deliveryReply(permanent ? 550 : 451, undefined, text) };
}

function deferred(recipient: string, text: string): DeliveryOutcome {
  return { recipient, result: 'deferred', reply: deliveryReply(451, '4.3.0', text) };
}
