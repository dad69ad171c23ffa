/*
 * The stamp's text: a template with {placeholders} filled from facts about the
 * session. Pure, so it is table-tested; unknown placeholders are found when the
 * plugin is set up, not when the first message arrives.
 */

export const PLACEHOLDERS = ['hostname', 'listener', 'client', 'helo', 'tls', 'user', 'queue_id'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type StampFacts = Readonly<Record<Placeholder, string>>;

const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** Placeholders in `template` that are not known; empty when the template is fine. */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(PLACEHOLDERS);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !known.has(name));
}

/** The template with every placeholder replaced; control characters in facts become spaces. */
export function renderStamp(template: string, facts: StampFacts): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    // A header value must not carry CR, LF or other controls: a fact could otherwise start a new field.
    Object.hasOwn(facts, name) ? facts[name as Placeholder].replace(/[\x00-\x1f\x7f]+/g, ' ') : whole,
  );
}
