// Seeded random scripts of memory syscalls for the differential test. The C helper runs
// them on the host kernel, guest.ts runs them as a ptlab process.

import * as U from '../../kernel/uapi.ts';

export const RANGE_PAGES = 256;
const P = 4096;

export type Op =
  | ['mmap', number, number, number, number]
  | ['munmap', number, number]
  | ['mprotect', number, number, number]
  | ['madvise', number, number, number]
  | ['mseal', number, number, number]
  | ['mlock', number, number, number]
  | ['munlock', number, number]
  | ['mlockall', number]
  | ['mincore', number, number]
  | ['mremap', number, number, number, number, number]
  | ['brk', number]
  | ['hprotect', number, number, number]
  | ['mmapx', number, number, number, number, number, number]
  | ['aslimit', number]
  | ['datalimit', number]
  | ['pagemap', number, number]
  | ['clearrefs', number]
  | ['pmscan', number, number, number, number, number, number, number, number, number]
  | ['dropipclock']
  | ['memlocklimit', number]
  | ['memfd', number, number]
  | ['mapfd', number, number, number, number, number]
  | ['seal', number]
  | ['fdio', number, number, number]
  | ['vmaname', number, number, number];

/** Operand counts by operation (for parsing hand-written scripts). */
const ARITY: Record<Op[0], number> = {
  mmap: 4, munmap: 2, mprotect: 3, madvise: 3, mseal: 3, mlock: 3, munlock: 2, mlockall: 1, mincore: 2, mremap: 5,
  brk: 1, hprotect: 3, mmapx: 6, aslimit: 1, datalimit: 1, dropipclock: 0, memlocklimit: 1, pagemap: 2, clearrefs: 1, pmscan: 9,
  memfd: 2, mapfd: 5, seal: 1, fdio: 3, vmaname: 3,
};

/** prctl(PR_SET_VMA_ANON_NAME) names by vmaname's operand (helper.c has the same list; 0 is NULL). */
export const VMA_NAMES = [null, 'a', 'b', 'two words', 'bad$'] as const;

/** Parse the operations of a hand-written script: one "op operand..." per line. */
export function parseScript(text: string): Op[] {
  const ops: Op[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, ...rest] = line.split(/\s+/);
    const arity = ARITY[name as Op[0]];
    if (arity === undefined || rest.length !== arity) throw new Error(`bad script line: ${line}`);
    ops.push([name, ...rest.map((x) => Number(x))] as unknown as Op);
  }
  return ops;
}

/** mulberry32: a seeded generator of numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomScript(seed: number): Op[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (n: number) => Math.floor(r() * n);
  // Ranges stay inside the reserved hole: [0, RANGE_PAGES) pages.
  const range = (maxPages: number): [number, number] => {
    const pages = 1 + int(maxPages);
    const off = int(RANGE_PAGES - pages + 1);
    let start = off * P;
    let len = pages * P;
    const odd = r();
    if (odd < 0.04) start += 1 + int(P - 1); // unaligned start
    else if (odd < 0.10) len -= 1 + int(P - 1); // unaligned length (rounded up)
    else if (odd < 0.13) len = 0;
    return [start, len];
  };
  const ops: Op[] = [];
  let lastMap: [number, number] | null = null;
  const n = 3 + int(18);
  const memfd = memfdOps(seed);
  for (let i = 0; i < n; i++) {
    memfd(ops, i);
    const kind = r();
    if (kind < 0.36) {
      const [off, len] = range(24);
      const type = pick([U.MAP_PRIVATE, U.MAP_PRIVATE, U.MAP_PRIVATE, U.MAP_SHARED, U.MAP_SHARED_VALIDATE, 0, U.MAP_DROPPABLE]);
      const fixed = pick([U.MAP_FIXED, U.MAP_FIXED, U.MAP_FIXED, U.MAP_FIXED_NOREPLACE]);
      const extra = pick([0, 0, 0, U.MAP_NORESERVE, U.MAP_GROWSDOWN, 0x200000 /* unknown bit */]);
      ops.push(['mmap', off, len, pick([0, 1, 3, 3, 3, 5, 7, 0x10]), type | U.MAP_ANONYMOUS | fixed | extra]);
      lastMap = [off, len];
    } else if (kind < 0.54) {
      ops.push(['munmap', ...range(40)]);
    } else if (kind < 0.70) {
      ops.push(['mprotect', ...range(40), pick([0, 1, 1, 3, 3, 5, 7, 0x10, U.PROT_READ | U.PROT_GROWSDOWN, U.PROT_SEM | 1])]);
    } else if (kind < 0.75) {
      ops.push(['mseal', ...range(30), pick([0, 0, 0, 0, 1])]);
    } else if (kind < 0.78) {
      ops.push(['mlock', ...range(16), pick([2, 2, 0, 1, 3])]);
    } else if (kind < 0.80) {
      ops.push(['munlock', ...range(30)]);
    } else if (kind < 0.81) {
      ops.push(['mlockall', pick([0, 1, 2, 3, 5, 4, 8])]);
    } else if (kind < 0.85) {
      ops.push(['mincore', ...range(4)]);
    } else if (kind < 0.90) {
      // Mostly a range of the last mapping made, so that moves and resizes happen.
      const [off, oldLen] = lastMap !== null && r() < 0.7 ? [lastMap[0] + P * int(2), Math.max(P, lastMap[1] - P * int(3))] : range(16);
      const newLen = pick([oldLen, oldLen + P * (1 + int(8)), Math.max(0, oldLen - P * (1 + int(4))), 0]);
      const [dst] = range(16);
      ops.push(['mremap', off, oldLen, newLen, pick([0, 0, U.MREMAP_MAYMOVE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, U.MREMAP_FIXED, U.MREMAP_MAYMOVE | U.MREMAP_DONTUNMAP | U.MREMAP_FIXED, 8]), dst]);
    } else if (kind < 0.95) {
      ops.push(['madvise', ...range(40), pick([U.MADV_NORMAL, U.MADV_RANDOM, U.MADV_SEQUENTIAL, U.MADV_WILLNEED, U.MADV_DONTNEED, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_DONTDUMP, U.MADV_DODUMP, U.MADV_WIPEONFORK, U.MADV_FREE, U.MADV_REMOVE, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE, U.MADV_COLD, U.MADV_PAGEOUT, 5, 300, U.MADV_GUARD_INSTALL, U.MADV_GUARD_INSTALL, U.MADV_GUARD_REMOVE])]);
    } else if (kind < 0.965) {
      ops.push(['pagemap', P * int(RANGE_PAGES - 8), 1 + int(8)]);
    } else if (kind < 0.97) {
      ops.push(['clearrefs', pick([1, 1, 2, 3, 4, 5, 0, 6])]);
    } else if (kind < 0.975) {
      // PAGEMAP_SCAN categories: FILE 4, PRESENT 8, PFNZERO 0x20, SOFT_DIRTY 0x80. Not
      // WRITTEN (2): for pages that are not present Linux reports it only where a page table
      // exists, and whether one still does after earlier scripts varies from run to run on
      // the host (seen with seed 78759: the same script gave different regions in one run of
      // three); the hand-written cases cover WRITTEN right after populating.
      const [off, len] = range(64);
      ops.push(['pmscan', off - (off % P), len, pick([0, 0, 0, 1, 2]), pick([0, 0, 8, 4]), pick([0, 8, 8, 4, 0x400]),
        pick([0, 0, 4 | 0x20, 8]), pick([0xfd, 8, 4, 0x2c, 0]), pick([0, 0, 3, 10]), pick([16, 16, 1, 2, 0])]);
    } else if (kind < 0.99) {
      // The break, relative to where it started: pages, odd bytes, below the start.
      ops.push(['brk', pick([0, P, 2 * P, 3 * P + 1, 10000, 16 * P, 100 * P + 7, 2 * P - 1, -5, -P])]);
    } else if (kind < 0.994) {
      ops.push(['hprotect', P * int(20), P * (1 + int(8)), pick([0, 1, 3, 5])]);
    } else {
      ops.push(['vmaname', ...range(24), pick([0, 1, 1, 2, 3, 4])]);
    }
  }
  return ops;
}

/**
 * Memfd seal operations, from a stream of their own so that every other operation of a seed
 * stays as it was: three scripts in ten make a memfd first, then now and then map it (shared
 * or private, over what the other operations made), seal it, write, truncate or fallocate it.
 */
function memfdOps(seed: number): (ops: Op[], i: number) => void {
  const s = rng(seed ^ 0x5ea15);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(s() * xs.length)];
  const int = (n: number) => Math.floor(s() * n);
  const on = s() < 0.3;
  return (ops, i) => {
    if (!on) return;
    if (i === 0) {
      ops.push(['memfd', pick([U.MFD_ALLOW_SEALING, U.MFD_ALLOW_SEALING, 0, U.MFD_NOEXEC_SEAL, U.MFD_EXEC | U.MFD_ALLOW_SEALING]), P * (1 + int(32))]);
      return;
    }
    const k = s();
    if (k < 0.08) {
      const flags = pick([U.MAP_SHARED, U.MAP_SHARED, U.MAP_PRIVATE, U.MAP_SHARED_VALIDATE]) | U.MAP_FIXED;
      ops.push(['mapfd', P * int(RANGE_PAGES - 16), P * (1 + int(16)), pick([1, 3, 3, 0, 5]), flags, P * int(8)]);
    } else if (k < 0.12) {
      const w = U.F_SEAL_WRITE;
      ops.push(['seal', pick([w, w, U.F_SEAL_FUTURE_WRITE, U.F_SEAL_GROW, U.F_SEAL_SHRINK, U.F_SEAL_GROW | U.F_SEAL_SHRINK, U.F_SEAL_EXEC, U.F_SEAL_SEAL, 0x40])]);
    } else if (k < 0.16) {
      // 0 pwrite(LEN at OFF), 1 ftruncate(OFF), 2 fallocate, 3 a hole punched, 4 fallocate KEEP_SIZE
      ops.push(['fdio', int(5), P * int(40) + pick([0, 0, 100]), pick([1, 100, P, 2 * P, 0, P + 5])]);
    }
  };
}

export function scriptText(ops: Op[]): string {
  return `script\n${ops.map((o) => o.join(' ')).join('\n')}\nend\n`;
}
