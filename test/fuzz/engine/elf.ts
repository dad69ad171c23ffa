/*
 * Just enough ELF64 (little-endian) reading to see which symbol versions a
 * shared object needs (.gnu.version_r), which it defines (.gnu.version_d), and
 * which undefined dynamic symbols bind to which needed version; and to mark a
 * needed version weak. Pure: bytes in, bytes out. Not a general ELF library:
 * anything unexpected throws, and the caller then falls back to failing loudly.
 */

const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
/** Vernaux vna_flags: a missing weak version is not fatal to the dynamic loader (glibc dl-version.c). */
export const VER_FLG_WEAK = 0x2;

interface Section {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly entsize: number;
}

export interface NeededVersion {
  /** The library that must define it, "libc.so.6". */
  readonly file: string;
  /** "GLIBC_2.38". */
  readonly name: string;
  /** Index used in .gnu.version for symbols bound to it. */
  readonly index: number;
  readonly weak: boolean;
  /** Where the vna_flags field sits in the file, for markWeak. */
  readonly flagsOffset: number;
}

function sections(elf: Buffer): Section[] {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const out: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    out.push({
      type: elf.readUInt32LE(o + 4),
      offset: Number(elf.readBigUInt64LE(o + 0x18)),
      size: Number(elf.readBigUInt64LE(o + 0x20)),
      link: elf.readUInt32LE(o + 0x28),
      info: elf.readUInt32LE(o + 0x2c),
      entsize: Number(elf.readBigUInt64LE(o + 0x38)),
    });
  }
  return out;
}

function stringAt(elf: Buffer, table: Section, offset: number): string {
  const start = table.offset + offset;
  const end = elf.indexOf(0, start);
  if (end < 0 || end >= table.offset + table.size) throw new Error('string outside its table');
  return elf.toString('latin1', start, end);
}

function only(all: Section[], type: number): Section | undefined {
  const found = all.filter((s) => s.type === type);
  if (found.length > 1) throw new Error(`more than one section of type ${type.toString(16)}`);
  return found[0];
}

/** The versions `elf` needs from other libraries (its Verneed/Vernaux entries). */
export function neededVersions(elf: Buffer): NeededVersion[] {
  const all = sections(elf);
  const verneed = only(all, SHT_GNU_VERNEED);
  if (!verneed) return [];
  const strings = all[verneed.link]!;
  const out: NeededVersion[] = [];
  let vn = verneed.offset;
  for (let k = 0; k < verneed.info; k++) {
    const count = elf.readUInt16LE(vn + 2);
    const file = stringAt(elf, strings, elf.readUInt32LE(vn + 4));
    let aux = vn + elf.readUInt32LE(vn + 8);
    for (let j = 0; j < count; j++) {
      const flags = elf.readUInt16LE(aux + 4);
      out.push({
        file,
        name: stringAt(elf, strings, elf.readUInt32LE(aux + 8)),
        index: elf.readUInt16LE(aux + 6),
        weak: (flags & VER_FLG_WEAK) !== 0,
        flagsOffset: aux + 4,
      });
      aux += elf.readUInt32LE(aux + 12);
    }
    vn += elf.readUInt32LE(vn + 12);
  }
  return out;
}

/** The version names `elf` defines (its Verdef entries), e.g. every GLIBC_2.x of libc.so.6. */
export function definedVersions(elf: Buffer): Set<string> {
  const all = sections(elf);
  const verdef = only(all, SHT_GNU_VERDEF);
  const out = new Set<string>();
  if (!verdef) return out;
  const strings = all[verdef.link]!;
  let vd = verdef.offset;
  for (let k = 0; k < verdef.info; k++) {
    const aux = vd + elf.readUInt32LE(vd + 12);
    out.add(stringAt(elf, strings, elf.readUInt32LE(aux)));
    vd += elf.readUInt32LE(vd + 16);
  }
  return out;
}

export interface DynamicSymbol {
  readonly name: string;
  readonly defined: boolean;
  /** Index into the version tables (.gnu.version), hidden bit cleared; 0 or 1 when unversioned. */
  readonly version: number;
}

export function dynamicSymbols(elf: Buffer): DynamicSymbol[] {
  const all = sections(elf);
  const dynsym = only(all, SHT_DYNSYM);
  if (!dynsym) return [];
  const strings = all[dynsym.link]!;
  const versym = only(all, SHT_GNU_VERSYM);
  const entsize = dynsym.entsize || 24;
  const out: DynamicSymbol[] = [];
  for (let i = 0; i * entsize < dynsym.size; i++) {
    const o = dynsym.offset + i * entsize;
    out.push({
      name: stringAt(elf, strings, elf.readUInt32LE(o)),
      defined: elf.readUInt16LE(o + 6) !== 0,
      version: versym ? elf.readUInt16LE(versym.offset + 2 * i) & 0x7fff : 0,
    });
  }
  return out;
}

/** A copy of `elf` with the named needed versions marked weak. */
export function markWeak(elf: Buffer, names: ReadonlySet<string>): Buffer {
  const copy = Buffer.from(elf);
  for (const need of neededVersions(elf)) {
    if (names.has(need.name)) copy.writeUInt16LE(elf.readUInt16LE(need.flagsOffset) | VER_FLG_WEAK, need.flagsOffset);
  }
  return copy;
}
