/*
 * What spamassassin does with spamd's verdict: reject above the `reject`
 * threshold, tag (X-Spam-Flag, X-Spam-Score, X-Spam-Status Yes, optionally a
 * Subject prefix) at or above the `tag` threshold (spamd's required score
 * unless set), else X-Spam-Status No; and the header of a message that was
 * skipped or could not be checked. Pure: no sockets, no clock.
 */
import type { HeaderField } from '../../core/plugin-api/index.js';

export interface Thresholds {
  /** At or above: tagged as spam. undefined: spamd's required score. */
  readonly tag: number | undefined;
  /** At or above: 550 5.7.1. undefined: never rejected. */
  readonly reject: number | undefined;
  /** Put before the Subject of tagged mail ("[SPAM]"); "" leaves the Subject alone. */
  readonly subjectPrefix: string;
}

export interface Outcome {
  readonly result: 'reject' | 'spam' | 'ham';
  /** The fields to add (after the client's X-Spam-* fields are removed). */
  readonly headers: HeaderField[];
  /** A new Subject value, when the old one is to be replaced. */
  readonly subject?: string;
  /** The threshold the score was held against for tagging. */
  readonly required: number;
}

/** RFC 5322 2.1.1: a line is at most 998 octets; the tests list is cut to keep the field inside it. */
const MAX_LINE = 998;

/** SpamAssassin prints scores with one decimal. */
export function formatScore(score: number): string {
  return score.toFixed(1);
}

export function decide(
  verdict: { readonly score: number; readonly required: number },
  tests: readonly string[],
  thresholds: Thresholds,
  subject: string | undefined,
): Outcome {
  const required = thresholds.tag ?? verdict.required;
  const score = formatScore(verdict.score);
  const spam = verdict.score >= required;
  const result = thresholds.reject !== undefined && verdict.score >= thresholds.reject ? 'reject' : spam ? 'spam' : 'ham';
  const status = statusValue(spam ? 'Yes' : 'No', score, formatScore(required), tests);
  if (!spam) return { result, required, headers: [{ name: 'X-Spam-Status', value: status }] };
  const headers = [
    { name: 'X-Spam-Flag', value: 'YES' },
    { name: 'X-Spam-Score', value: score },
    { name: 'X-Spam-Status', value: status },
  ];
  const prefix = thresholds.subjectPrefix;
  // Tagged once: a message that comes back through (a forward) keeps a single prefix.
  if (prefix === '' || (subject ?? '').startsWith(prefix)) return { result, required, headers };
  return { result, required, headers, subject: subject ? `${prefix} ${subject}` : prefix };
}

/** "Yes, score=7.3 required=5.0 tests=A,B", the tests cut with "..." where the line would pass 998 octets. */
export function statusValue(answer: 'Yes' | 'No', score: string, required: string, tests: readonly string[]): string {
  const head = `${answer}, score=${score} required=${required} tests=`;
  const room = MAX_LINE - 'X-Spam-Status: '.length - head.length;
  let list = tests.length ? tests.join(',') : 'none';
  if (list.length > room) {
    const cut = list.lastIndexOf(',', room - 4);
    list = cut > 0 ? `${list.slice(0, cut)},...` : '...';
  }
  return head + list;
}

/** The status of a message spamd did not see: too large, or spamd could not answer (fail-open). */
export function unscannedStatus(why: 'skipped' | 'unchecked', detail: string): HeaderField {
  return { name: 'X-Spam-Status', value: `${why} (${detail})` };
}
