/*
 * Sizes ("25MB", "512KiB", 1048576) and durations ("30s", "5m", "7d", 300) as
 * admins write them. Parsed by the schema validator (see validate.ts), so the
 * rest of the code only ever sees octets and milliseconds.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  '': 1000,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * "25 MB": trimmed first (trim() and \s strip the same characters), so one \s*
 * is left. With \s* on both sides of an optional unit, a failing value like
 * "1", 50,000 spaces, "!" backtracked quadratically (seconds per value).
 */
const NUMBER_AND_UNIT = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/;

/** Octets, or undefined if `value` is not a size. Plain numbers are octets. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = NUMBER_AND_UNIT.exec(value.trim());
  if (!m) return undefined;
  const factor = SIZE_UNITS[m[2]!.toLowerCase()];
  if (factor === undefined) return undefined;
  const n = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Longest duration a timer can hold (about 24.8 days). */
const MAX_DURATION_MS = 2 ** 31 - 1;

/** Milliseconds, or undefined if `value` is not a duration. Plain numbers are seconds. */
export function parseDuration(value: unknown): number | undefined {
  const ms = parseDurationUnbounded(value);
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined;
}

function parseDurationUnbounded(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = NUMBER_AND_UNIT.exec(value.trim());
  if (!m) return undefined;
  const factor = DURATION_UNITS[m[2]!.toLowerCase()];
  if (factor === undefined) return undefined;
  return Math.round(Number(m[1]) * factor);
}

export const UNIT_PARSERS = { size: parseSize, duration: parseDuration } as const;
export type UnitName = keyof typeof UNIT_PARSERS;

export const UNIT_EXPECTED: Record<UnitName, string> = {
  size: 'a size like 10485760, "512KB" or "25MB"',
  duration: 'a duration like 30 (seconds), "500ms", "5m" or "7d" (at most 24 days)',
};
