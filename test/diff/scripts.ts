// Seeded random scripts of memory syscalls for the differential test, and how ptlab runs
// them (the kernel's syscall code on an mm, as the C helper runs them on the host kernel).

import { ControlBlock, PhysMem } from '../../machine/index.ts';
import { sysMadvise } from '../../kernel/madvise.ts';
import { Kmm, Mm } from '../../kernel/mm.ts';
import { sysMremap } from '../../kernel/mremap.ts';
import { mincoreVec, sysMlock, sysMlockall, sysMmap, sysMprotect, sysMseal, sysMunmap } from '../../kernel/mman.ts';
import * as U from '../../kernel/uapi.ts';
import { VM_EXEC, VM_LOCKED, VM_LOCKONFAULT, VM_MAYSHARE, VM_READ, VM_WRITE } from '../../kernel/vma.ts';

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
  | ['mremap', number, number, number, number, number];

/** mulberry32 */
function rng(seed: number): () => number {
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
  for (let i = 0; i < n; i++) {
    const kind = r();
    if (kind < 0.4) {
      const [off, len] = range(24);
      const type = pick([U.MAP_PRIVATE, U.MAP_PRIVATE, U.MAP_PRIVATE, U.MAP_SHARED, U.MAP_SHARED_VALIDATE, 0]);
      const fixed = pick([U.MAP_FIXED, U.MAP_FIXED, U.MAP_FIXED, U.MAP_FIXED_NOREPLACE]);
      const extra = pick([0, 0, 0, U.MAP_NORESERVE, U.MAP_GROWSDOWN, 0x200000 /* unknown bit */]);
      ops.push(['mmap', off, len, pick([0, 1, 3, 3, 3, 5, 7, 0x10]), type | U.MAP_ANONYMOUS | fixed | extra]);
      lastMap = [off, len];
    } else if (kind < 0.6) {
      ops.push(['munmap', ...range(40)]);
    } else if (kind < 0.8) {
      ops.push(['mprotect', ...range(40), pick([0, 1, 1, 3, 3, 5, 7, 0x10, U.PROT_READ | U.PROT_GROWSDOWN, U.PROT_SEM | 1])]);
    } else if (kind < 0.86) {
      ops.push(['mseal', ...range(30), pick([0, 0, 0, 0, 1])]);
    } else if (kind < 0.89) {
      ops.push(['mlock', ...range(16), pick([2, 2, 0, 1, 3])]);
    } else if (kind < 0.91) {
      ops.push(['munlock', ...range(30)]);
    } else if (kind < 0.92) {
      ops.push(['mlockall', pick([0, 1, 2, 3, 5, 4, 8])]);
    } else if (kind < 0.97) {
      ops.push(['mincore', ...range(4)]);
    } else if (kind < 0.99) {
      // Mostly a range of the last mapping made, so that moves and resizes happen.
      const [off, oldLen] = lastMap !== null && r() < 0.7 ? [lastMap[0] + P * int(2), Math.max(P, lastMap[1] - P * int(3))] : range(16);
      const newLen = pick([oldLen, oldLen + P * (1 + int(8)), Math.max(0, oldLen - P * (1 + int(4))), 0]);
      const [dst] = range(16);
      ops.push(['mremap', off, oldLen, newLen, pick([0, 0, U.MREMAP_MAYMOVE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, U.MREMAP_FIXED, U.MREMAP_MAYMOVE | U.MREMAP_DONTUNMAP | U.MREMAP_FIXED, 8]), dst]);
    } else {
      ops.push(['madvise', ...range(40), pick([U.MADV_NORMAL, U.MADV_RANDOM, U.MADV_SEQUENTIAL, U.MADV_WILLNEED, U.MADV_DONTNEED, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_DONTDUMP, U.MADV_DODUMP, U.MADV_WIPEONFORK, U.MADV_FREE, U.MADV_REMOVE, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE, 5, 300])]);
    }
  }
  return ops;
}

export function scriptText(ops: Op[]): string {
  return `script\n${ops.map((o) => o.join(' ')).join('\n')}\nend\n`;
}

/** Run a script on a fresh ptlab mm; the output in the helper's format. */
export function runOnPtlab(ops: Op[]): string {
  const k = new Kmm(PhysMem.create(1 << 20), ControlBlock.create(1));
  const mm = new Mm(k);
  const base = 0x7f00_0000_0000;
  const range = RANGE_PAGES * P;
  // The helper's guard mappings on both sides of the hole.
  const guard = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE | U.MAP_FIXED;
  sysMmap(k, mm, base - P, P, U.PROT_NONE, guard, -1, 0, -1);
  sysMmap(k, mm, base + range, P, U.PROT_NONE, guard, -1, 0, -1);
  const out: string[] = [];
  for (const o of ops) {
    let r: number;
    if (o[0] === 'mmap') {
      r = sysMmap(k, mm, base + o[1], o[2], o[3], o[4], -1, 0, -1);
      if (r >= 0) r -= base;
    } else if (o[0] === 'munmap') r = sysMunmap(k, mm, base + o[1], o[2], -1);
    else if (o[0] === 'mprotect') r = sysMprotect(k, mm, base + o[1], o[2], o[3], -1);
    else if (o[0] === 'mseal') r = sysMseal(k, mm, base + o[1], o[2], o[3]);
    else if (o[0] === 'mlock') {
      if (o[3] === 2) r = sysMlock(k, mm, base + o[1], o[2], VM_LOCKED, -1);
      else r = (o[3] & ~U.MLOCK_ONFAULT) !== 0 ? -U.EINVAL : sysMlock(k, mm, base + o[1], o[2], VM_LOCKED | (o[3] !== 0 ? VM_LOCKONFAULT : 0), -1);
    } else if (o[0] === 'munlock') r = sysMlock(k, mm, base + o[1], o[2], 0, -1);
    else if (o[0] === 'mlockall') r = sysMlockall(k, mm, o[1], -1);
    else if (o[0] === 'mincore') r = 0;
    else if (o[0] === 'mremap') {
      r = sysMremap(k, mm, base + o[1], o[2], o[3], o[4], base + o[5], -1);
      if (r >= 0) {
        out.push(r >= base && r < base + range ? `r ${r - base}` : 'r out');
        continue;
      }
    }
    else r = sysMadvise(k, mm, base + o[1], o[2], o[3], -1);
    if (o[0] === 'mincore') {
      const { vec, error } = mincoreVec(k, mm, base + o[1], o[2]);
      out.push(error < 0 ? `e ${-error}` : `r 0 ${Array.from(vec).join('')}`);
      continue;
    }
    out.push(r < 0 ? `e ${-r}` : `r ${r}`);
  }
  for (const v of mm.vmas.intersecting(base, base + range)) {
    const perms = `${v.flags & VM_READ ? 'r' : '-'}${v.flags & VM_WRITE ? 'w' : '-'}${v.flags & VM_EXEC ? 'x' : '-'}${v.flags & VM_MAYSHARE ? 's' : 'p'}`;
    out.push(`m ${Math.max(v.start, base) - base} ${Math.min(v.end, base + range) - base} ${perms}`);
  }
  out.push('end');
  return `${out.join('\n')}\n`;
}
