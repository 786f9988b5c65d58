// TLB geometries: which arrays a CPU has at each level, their size and associativity, and
// which page sizes each holds. Presets for real CPUs and one for teaching.
//
// Sources (see ../shared/reference/tlb.md): Skylake from Intel's optimization manual table
// 2-15 as quoted by McCalpin, CPUID descriptors and QEMU's cpu-defs.h comment; its L1 2 MiB
// array is the Haswell figure (Skylake's is believed equal, unverified). Haswell from the
// optimization manual's Haswell table (64/4 4K, 32/4 2M, 4/4 1G; STLB 1024 8-way shared by
// 4K and 2M; no 1G STLB), recalled, not re-checked. Paging-structure-cache sizes are not
// documented by Intel: the presets use tlb.md's assumption (PML4E 2, PDPTE 4, PDE 32 4-way).

import { POLICY_BY_NAME, type PolicyName } from './tlbarray.ts';
import { SIZE_1G, SIZE_2M, SIZE_4K } from './walker.ts';

export type PageSizeName = '4k' | '2m' | '1g';
const SIZE_BY_NAME: Record<PageSizeName, number> = { '4k': SIZE_4K, '2m': SIZE_2M, '1g': SIZE_1G };

export interface TlbArraySpec {
  name: string;
  entries: number;
  /** Ways per set; entries / ways must be a power of two. ways = entries: fully associative. */
  ways: number;
  sizes: PageSizeName[];
}

export interface CacheSpec {
  /** 0: the CPU has no such cache. */
  entries: number;
  ways: number;
}

/**
 * What the modeled clock charges for address translation on this microarchitecture, in
 * cycles (sources: machine/README.md, "Modeled time"). Data caches are not modeled: every
 * completed access costs `access`, and a miss adds its TLB and walk latencies on top.
 */
export interface TlbLatencies {
  /** Modeled core clock, GHz (cycles per ns): converts kernel costs and cycles to time. */
  ghz: number;
  /** Every completed access (an L1 dTLB hit costs this and nothing more). */
  access: number;
  /** Added for an access that missed the L1 dTLB and hit the STLB. */
  stlbHit: number;
  /** Added for an access that missed every TLB level: the STLB lookup and the walk's start. */
  walk: number;
  /** Each paging-structure entry the walker reads from memory, by level (PSC hits are free). */
  refPml4e: number;
  refPdpte: number;
  refPde: number;
  refPte: number;
  /** Each accessed or dirty bit the walker sets (a locked read-modify-write). */
  adUpdate: number;
}

export interface TlbGeometry {
  name: string;
  description: string;
  /** First-level data TLB arrays, looked up in parallel. */
  l1: TlbArraySpec[];
  /** Second-level (shared) TLB arrays, looked up after an L1 miss. May be empty. */
  stlb: TlbArraySpec[];
  pml4Cache: CacheSpec;
  pdpteCache: CacheSpec;
  pdeCache: CacheSpec;
  /** The modeled clock's latencies (default: the skylake preset's). */
  latencies?: TlbLatencies;
}

export interface TlbConfig {
  geometry: TlbGeometry;
  policy: PolicyName;
  /** Seed of the random-replacement generator (each array derives its own from it). */
  seed: number;
}

const PSC_ASSUMED = {
  pml4Cache: { entries: 2, ways: 2 },
  pdpteCache: { entries: 4, ways: 4 },
  pdeCache: { entries: 32, ways: 4 },
};

// Cache latencies (L1D 4, L2 12, L3 44 cycles on Skylake; L3 36 on Haswell) price the walk's
// entry reads: the upper levels are assumed to hit L1D, PDEs L2, PTEs L3 (the PTE is the one
// read a TLB-missing access pattern rarely finds close). An STLB hit costs 9 cycles on
// Skylake, 12 on Haswell; a locked RMW about 18.
const SKYLAKE_LATENCIES: TlbLatencies = {
  ghz: 3, access: 1, stlbHit: 9, walk: 9, refPml4e: 4, refPdpte: 4, refPde: 12, refPte: 44, adUpdate: 18,
};

export const PRESETS: Readonly<Record<string, TlbGeometry>> = {
  skylake: {
    name: 'skylake',
    description: 'Intel Skylake client/SP data side: L1 64x4K/32x2M/4x1G (4-way), STLB 1536 12-way 4K+2M, 16 1G',
    l1: [
      { name: 'l1d-4k', entries: 64, ways: 4, sizes: ['4k'] },
      { name: 'l1d-2m', entries: 32, ways: 4, sizes: ['2m'] },
      { name: 'l1d-1g', entries: 4, ways: 4, sizes: ['1g'] },
    ],
    stlb: [
      { name: 'stlb', entries: 1536, ways: 12, sizes: ['4k', '2m'] },
      { name: 'stlb-1g', entries: 16, ways: 4, sizes: ['1g'] },
    ],
    ...PSC_ASSUMED,
    latencies: SKYLAKE_LATENCIES,
  },
  haswell: {
    name: 'haswell',
    description: 'Intel Haswell data side: L1 64x4K/32x2M/4x1G (4-way), STLB 1024 8-way 4K+2M, no 1G STLB',
    l1: [
      { name: 'l1d-4k', entries: 64, ways: 4, sizes: ['4k'] },
      { name: 'l1d-2m', entries: 32, ways: 4, sizes: ['2m'] },
      { name: 'l1d-1g', entries: 4, ways: 4, sizes: ['1g'] },
    ],
    stlb: [{ name: 'stlb', entries: 1024, ways: 8, sizes: ['4k', '2m'] }],
    ...PSC_ASSUMED,
    latencies: { ghz: 3, access: 1, stlbHit: 12, walk: 12, refPml4e: 4, refPdpte: 4, refPde: 12, refPte: 36, adUpdate: 18 },
  },
  teaching: {
    name: 'teaching',
    description: 'A toy TLB in the spirit of Nachos and OS/161: 8 fully associative entries of any size, no STLB, no paging-structure caches',
    l1: [{ name: 'tlb', entries: 8, ways: 8, sizes: ['4k', '2m', '1g'] }],
    stlb: [],
    pml4Cache: { entries: 0, ways: 1 },
    pdpteCache: { entries: 0, ways: 1 },
    pdeCache: { entries: 0, ways: 1 },
    // Round numbers to count by hand: 1 GHz (a cycle is a nanosecond), every entry read 100.
    latencies: { ghz: 1, access: 1, stlbHit: 0, walk: 0, refPml4e: 100, refPdpte: 100, refPde: 100, refPte: 100, adUpdate: 10 },
  },
};

/** The latencies of a geometry (the skylake preset's if it has none). */
export function latenciesOf(g: TlbGeometry): TlbLatencies {
  return g.latencies ?? SKYLAKE_LATENCIES;
}

export const DEFAULT_PRESET = 'skylake';

/** The default configuration for a preset name; throws on an unknown name. */
export function tlbConfig(preset: string = DEFAULT_PRESET, policy: PolicyName = 'lru', seed = 1): TlbConfig {
  const geometry = PRESETS[preset];
  if (geometry === undefined) {
    throw new RangeError(`unknown TLB preset '${preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
  }
  if (!(policy in POLICY_BY_NAME)) throw new RangeError(`unknown replacement policy '${policy}'`);
  return { geometry, policy, seed };
}

/** Bitmask (1 << SIZE_*) of the page sizes an array holds. */
export function sizeMask(sizes: readonly PageSizeName[]): number {
  let m = 0;
  for (const s of sizes) m |= 1 << SIZE_BY_NAME[s];
  return m;
}

/**
 * Check a geometry: power-of-two set counts, at most 32 ways, and at most one array per
 * page size at each level. Returns a list of problems (empty when valid).
 */
export function checkGeometry(g: TlbGeometry): string[] {
  const problems: string[] = [];
  const checkArray = (what: string, entries: number, ways: number) => {
    const sets = entries / ways;
    if (!Number.isInteger(entries) || entries < 1 || !Number.isInteger(ways) || ways < 1 ||
      ways > 32 || !Number.isInteger(sets) || (sets & (sets - 1)) !== 0) {
      problems.push(`${what}: ${entries} entries in ${ways} ways (need 1..32 ways and a power-of-two number of sets)`);
    }
  };
  for (const [level, arrays] of [['l1', g.l1], ['stlb', g.stlb]] as const) {
    let seen = 0;
    for (const a of arrays) {
      checkArray(`${level} ${a.name}`, a.entries, a.ways);
      const m = sizeMask(a.sizes);
      if (m === 0) problems.push(`${level} ${a.name}: holds no page size`);
      if ((seen & m) !== 0) problems.push(`${level} ${a.name}: another ${level} array already holds one of ${a.sizes.join(', ')}`);
      seen |= m;
    }
  }
  if (g.l1.length === 0) problems.push('l1: a CPU needs at least one L1 array');
  for (const [name, c] of [['pml4Cache', g.pml4Cache], ['pdpteCache', g.pdpteCache], ['pdeCache', g.pdeCache]] as const) {
    if (c.entries !== 0) checkArray(name, c.entries, c.ways);
  }
  return problems;
}
