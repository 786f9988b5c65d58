// Reverse mapping (mm/rmap.c): from a frame to every PTE that maps it. A page-cache page
// leads to its page cache (by inode number) and from there, through i_mmap, to every VMA of
// every process that maps its index; an anonymous page leads to its anon_vma and every VMA
// linked to it (anon_vma.ts). The page's index in its owner gives the address in each VMA.
//
// folioReferenced (folio_referenced) visits every such PTE, test-and-clears its accessed
// bit, flushes the TLB entries it cleared (ptep_clear_flush_young), and returns how many
// were set: what reclaim asks before evicting a page.

import type { Kmm } from './kmm.ts';

import type { Mm } from './mm.ts';
import type { Vma } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { PG_ANON, PG_SHMEM } from './page_alloc.ts';
import { leafWord } from './pgtable.ts';

const PAGE = 4096;

/** Where page `index32` (low 32 bits of the index) falls in vma, or -1 if outside it. */
function vmaAddress(vma: Vma, index32: number): number {
  const off = ((index32 - (vma.pgoff | 0)) >>> 0);
  const pages = (vma.end - vma.start) / PAGE;
  return off < pages ? vma.start + off * PAGE : -1;
}

/** Call fn(mm, word, va) for every PTE that maps pfn (rmap_walk). */
export function rmapWalk(k: Kmm, pfn: number, fn: (mm: Mm, w: number, va: number) => void): void {
  const owner = k.pages.rmapOwner[pfn];
  if (owner === 0) return;
  const index32 = k.pages.rmapIndex[pfn];
  let vmas: Iterable<Vma> = [];
  if ((k.pages.flags[pfn] & PG_ANON) !== 0) vmas = k.rmap.anonVmas.get(owner)?.vmas ?? [];
  else if ((k.pages.flags[pfn] & PG_SHMEM) !== 0) {
    // The low 32 bits of the index select the VMAs; vmaAddress checks each exactly.
    vmas = k.rmap.mappings.get(owner)?.mappers ?? [];
  }
  for (const vma of vmas) {
    const va = vmaAddress(vma, index32);
    if (va < 0 || vma.mm === null) continue;
    const leaf = leafWord(k, vma.mm, va);
    if (leaf !== null && leaf.pfn === pfn) fn(vma.mm, leaf.w, va);
  }
}

/**
 * folio_referenced: test and clear the accessed bit of every PTE mapping pfn, flushing
 * those that had it; the number that had it.
 */
export function folioReferenced(k: Kmm, pfn: number, cpu: number): number {
  let referenced = 0;
  const flushes = new Map<Mm, Gather>();
  rmapWalk(k, pfn, (mm, w, va) => {
    if (!k.ops.ptepTestAndClearYoung(w)) return;
    referenced++;
    let g = flushes.get(mm);
    if (g === undefined) flushes.set(mm, (g = new Gather()));
    g.cover(va, va + PAGE);
  });
  for (const [mm, g] of flushes) finishGather(k, mm, g, cpu);
  return referenced;
}
