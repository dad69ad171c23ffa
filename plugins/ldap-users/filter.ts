/*
 * Search filter templates as admins write them, with Postfix's ldap_table
 * expansions: %s the whole address or login, %u its local part, %d its domain,
 * %% a percent sign. Every substituted value is escaped per RFC 4515 section 3
 * (`*`, `(`, `)`, `\` and NUL become \2a \28 \29 \5c \00) by ldapts's
 * Filter.escape, so nothing a client sends can widen or restructure a search.
 * Pure.
 */
import { Filter, FilterParser } from 'ldapts';

export interface FilterValues {
  /** The whole address or login. */
  readonly s: string;
  /** Local part (before the last "@"), or the whole login. */
  readonly u: string;
  /** Domain (after the last "@"), or "". */
  readonly d: string;
}

export function filterValues(input: string): FilterValues {
  const at = input.lastIndexOf('@');
  return at < 0 ? { s: input, u: input, d: '' } : { s: input, u: input.slice(0, at), d: input.slice(at + 1) };
}

const EXPANSION = /%(.)/gs;

/** The filter for `input`: the template with each expansion escaped. */
export function expandFilter(template: string, input: string): string {
  const values = filterValues(input);
  return template.replace(EXPANSION, (_all, letter: string) =>
    letter === '%' ? '%' : Filter.escape(values[letter as keyof FilterValues]),
  );
}

/**
 * Why `template` is not a usable filter template, or undefined: an unknown
 * expansion (%x), or a filter LDAP cannot parse once a sample is substituted.
 */
export function filterTemplateProblem(template: string): string | undefined {
  for (const m of template.matchAll(EXPANSION)) {
    if (!'sud%'.includes(m[1]!)) return `unknown expansion %${m[1]}; use %s (address), %u (local part), %d (domain) or %%`;
  }
  if (template.endsWith('%') && !template.endsWith('%%')) return 'a lone "%" at the end; write %% for a percent sign';
  if (!/%[sud]/.test(template)) return 'the filter uses none of %s, %u, %d: it would match the same entries for every address';
  const sample = expandFilter(template, 'user@example.test');
  // ldapts's parser forgives a missing ")"; the server may not, so the parentheses are counted
  // here (values are escaped, so every parenthesis is the template's).
  let depth = 0;
  const chars = [...sample];
  for (const [i, c] of chars.entries()) {
    if (c === '(') depth++;
    else if (c === ')') {
      if (--depth < 0) return `not an LDAP filter (RFC 4515): ")" at ${i + 1} closes nothing`;
      if (depth === 0 && i !== chars.length - 1)
        return 'not an LDAP filter (RFC 4515): it must be one parenthesized filter; join several with (&...) or (|...)';
    } else if (depth === 0) return 'not an LDAP filter (RFC 4515): it must be one parenthesized filter, like (mail=%s)';
  }
  if (depth !== 0) return `not an LDAP filter (RFC 4515): ${depth} "(" left open`;
  try {
    FilterParser.parseString(sample);
  } catch (err) {
    return `not an LDAP filter (RFC 4515): ${(err as Error).message}`;
  }
  return undefined;
}
