/*
 * Admin-written regular expressions (options with format "regex", blacklist
 * entries): RE2 syntax, compiled with re2js, so a match takes time linear in
 * the value whatever the pattern. A backtracking engine (V8's RegExp) can take
 * exponential time on a pattern such as (a+)+b, on every MAIL or RCPT. RE2 has
 * no backreferences and no lookaround, so those are refused, with a reason an
 * admin can act on. Pure: compiles and explains, no I/O.
 */
// re2js is a pure-JavaScript port of RE2/J: linear-time matching with no native build, so
// it installs on any machine. The native binding (re2) needs RE2 and abseil compiled at
// install, or prebuilt binaries fetched from outside the registry; a checker that refuses
// super-linear patterns (recheck) would keep V8's engine but reject patterns an admin
// meant, and can time out undecided.
import { RE2JS, RE2JSSyntaxException } from 're2js';

export interface Pattern {
  /** The pattern as written. */
  readonly source: string;
  /** Whether the whole value matches (never a part of it), ignoring case. */
  matches(value: string): boolean;
}

const LINEAR = 'patterns are RE2 syntax, matched in linear time';

/** What RE2 says is wrong with `source`, in words an admin can act on. */
function explain(err: RE2JSSyntaxException, source: string): string {
  const piece = err.input ?? '';
  if (/^\\[1-9]/.test(piece)) return `backreferences such as ${piece.slice(0, 2)} are not supported (${LINEAR})`;
  const around = /^\(\?<?[=!]/.exec(piece);
  if (around) return `lookahead and lookbehind such as ${around[0]} are not supported (${LINEAR})`;
  return piece && piece !== source ? `${err.error}: ${piece}` : err.error;
}

/** Why `source` is not a pattern qgate can match, or undefined if it is one. */
export function patternProblem(source: string): string | undefined {
  try {
    RE2JS.compile(source);
    return undefined;
  } catch (err) {
    if (err instanceof RE2JSSyntaxException) return explain(err, source);
    return (err as Error).message;
  }
}

/** Compiles an admin's pattern, matched against whole values, case-insensitively; throws an Error saying why it cannot. */
export function compilePattern(source: string): Pattern {
  const problem = patternProblem(source);
  if (problem !== undefined) throw new Error(problem);
  const re = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
  return { source, matches: (value) => re.matches(value) };
}
