/*
 * The `cache:` option directory plugins share (ldap-users, sql-users): one
 * schema, one set of defaults, so every directory caches the same way. `false`
 * turns caching off. Defaults inside a union are not filled in by the
 * validator, so settingsOf() fills the keys left out from the same constants.
 */
import { Type } from '@sinclair/typebox';
import { Duration } from '../config/schema.js';
import type { AnswerCacheSettings } from './answer-cache.js';

export const CACHE_DEFAULTS = { positive_ttl: '60s', negative_ttl: '30s', max_entries: 10_000 } as const;

const DEFAULT_MS = { positive_ttl: 60_000, negative_ttl: 30_000 } as const;

export const DirectoryCacheSettings = Type.Object(
  {
    positive_ttl: Duration({
      zero: true,
      description: 'How long a found user (record, aliases, forwards) is remembered; 0 remembers none.',
    }),
    negative_ttl: Duration({ zero: true, description: 'How long "no such user" is remembered; 0 remembers none.' }),
    max_entries: Type.Integer({ minimum: 0, description: 'Most answers kept; the least recently used goes first.' }),
  },
  { additionalProperties: false },
);

/** The `cache` option: settings (keys left out take the defaults) or false. */
export function DirectoryCache(options: { description?: string } = {}) {
  return Type.Union([Type.Literal(false), Type.Partial(DirectoryCacheSettings)], {
    default: { ...CACHE_DEFAULTS },
    description:
      options.description ??
      `Remembers lookup answers so a flood of RCPTs is not a flood of queries: { positive_ttl, negative_ttl, max_entries } (defaults ${CACHE_DEFAULTS.positive_ttl}, ${CACHE_DEFAULTS.negative_ttl}, ${CACHE_DEFAULTS.max_entries}), or false. "Unavailable" is never remembered; passwords are always checked against the directory.`,
  });
}

export type DirectoryCacheOption = false | { positive_ttl?: number; negative_ttl?: number; max_entries?: number };

/** The validated option as AnswerCache settings. */
export function cacheSettings(option: DirectoryCacheOption): AnswerCacheSettings | false {
  if (option === false) return false;
  return {
    positiveTtlMs: option.positive_ttl ?? DEFAULT_MS.positive_ttl,
    negativeTtlMs: option.negative_ttl ?? DEFAULT_MS.negative_ttl,
    maxEntries: option.max_entries ?? CACHE_DEFAULTS.max_entries,
  };
}
