/*
 * Helpers shared by the fuzz targets: a deterministic way to derive chunk
 * boundaries from the input itself (so a crash file replays exactly, and the
 * corpus files stay plain messages), and a check that a parser throws only
 * what it documents. Pure.
 */
import type { Address } from '../../core/model/index.js';

/** FNV-1a over the bytes: the seed for the chunking of one input. */
export function fingerprint(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of data) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `data` cut at pseudo-random places into pieces of 1 to `max` bytes (views, not copies). */
export function randomChunks(data: Buffer, seed: number, max: number): Buffer[] {
  const rand = prng(seed);
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const len = 1 + Math.floor(rand() * max);
    chunks.push(data.subarray(i, i + len));
    i += len;
  }
  return chunks;
}

/** `data` in pieces of `size` bytes. */
export function fixedChunks(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
}

/** A broken property: the fuzzer reports it as a finding, with this message. */
export class PropertyViolation extends Error {
  override readonly name = 'PropertyViolation';
}

/**
 * Runs `parse`; a throw that `documented` does not accept is a finding (a
 * TypeError from inside a parser is a bug, not a reply). Returns the result,
 * or the documented error.
 */
export function onlyDocumentedErrors<T>(
  what: string,
  parse: () => T,
  documented: (err: Error) => boolean,
): { ok: true; value: T } | { ok: false; error: Error } {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (err instanceof Error && documented(err)) return { ok: false, error: err };
    throw new PropertyViolation(`${what} threw an undocumented ${err instanceof Error ? err.name : typeof err}: ${String(err)}`, {
      cause: err,
    });
  }
}

/** An address as a client writes it in MAIL or RCPT: "<@route:local@domain>", "<>". */
export function renderPath(address: Address | null): string {
  if (address === null) return '<>';
  const route = address.sourceRoute ? `${address.sourceRoute.join(',')}:` : '';
  return `<${route}${address.address}>`;
}
