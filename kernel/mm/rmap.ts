// Reverse mapping (mm/rmap.c): from a frame to every PTE that maps it. A page-cache page
// leads to its page cache (by inode number) and from there, through i_mmap, to every VMA of
// every process that maps its index; an anonymous page leads to its anon_vma and every VMA
// linked to it (anon_vma.ts). The page's index in its owner gives the address in each VMA.
// Reclaim's two walks are here: folio_referenced (were the accessed bits set?) and
// try_to_unmap (take the page out of every page table, leaving swap entries), with the
// counters of what they cost (vmscan.ts's header), which modeled time prices (rmapVma and
// rmapPte of the cost table, clock.ts).

import {
  _PAGE_DIRTY, _PAGE_SOFT_DIRTY, K_RMAP_ABIT_CLEARS, K_RMAP_CALLS, K_RMAP_FLUSH_TARGETS, K_RMAP_PTE_VISITS,
  K_RMAP_VMA_VISITS,
} from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { splitHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import { mlockFolio } from './lru.ts';
import type { Mm } from './mm.ts';
import { VM_LOCKED, VM_RAND_READ, VM_SEQ_READ, type Vma } from './mm_types.ts';
import { Gather } from './mmu_gather.ts';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, PG_LAZYFREE, PG_SHMEM, PG_SWAPCACHE } from './page_alloc.ts';
import { leafWord } from './pgtable.ts';
import { swpPteHi, swpPteLo } from './swapfile.ts';

const PAGE = 4096;

/** Where page `index32` (low 32 bits of the index) falls in vma, or -1 if outside it. */
function vmaAddress(vma: Vma, index32: number): number {
  const off = ((index32 - (vma.pgoff | 0)) >>> 0);
  const pages = (vma.end - vma.start) / PAGE;
  return off < pages ? vma.start + off * PAGE : -1;
}

/**
 * The VMAs whose range covers the page pfn holds, with the page's address in each (the
 * anon_vma or i_mmap interval-tree walk of rmap_walk): they may map it, or (after a fork
 * and a copy) another page at that address.
 */
export function* rmapVmas(k: Kmm, pfn: number): Generator<{ vma: Vma; va: number }> {
  const owner = k.pages.rmapOwner[pfn];
  if (owner === 0) return;
  const index32 = k.pages.rmapIndex[pfn];
  let vmas: Iterable<Vma> = [];
  if ((k.pages.flags[pfn] & PG_ANON) !== 0) vmas = k.rmap.anonVmas.get(owner)?.vmas ?? [];
  else if ((k.pages.flags[pfn] & PG_SHMEM) !== 0) {
    const idx = index32 >>> 0;
    vmas = k.rmap.mappings.get(owner)?.mappers.overlapping(idx, idx) ?? [];
  }
  for (const vma of vmas) {
    const va = vmaAddress(vma, index32);
    if (va >= 0 && vma.mm !== null) yield { vma, va };
  }
}

/**
 * Call fn(mm, word, va) for every PTE that maps pfn (rmap_walk). Counted as reclaim's walks
 * are (rmap_walks, rmap_vma_visits, rmap_pte_visits), which modeled time prices.
 */
export function rmapWalk(k: Kmm, pfn: number, fn: (mm: Mm, w: number, va: number) => void): void {
  k.count(K_RMAP_CALLS);
  for (const { vma, va } of rmapVmas(k, pfn)) {
    k.count(K_RMAP_VMA_VISITS);
    const leaf = leafWord(k, vma.mm!, va);
    k.count(K_RMAP_PTE_VISITS);
    if (leaf !== null && leaf.pfn === pfn) fn(vma.mm!, leaf.w, va);
  }
}

// --- the reverse map, as reclaim uses it ----------------------------------------------------------

/**
 * folio_referenced: test and clear the accessed bit of every PTE that maps the folio;
 * returns the number of VMAs in which one was set, and the flags of the VMAs that map it.
 * The walk stops once it has seen as many mappings as the folio has (mapcount), or at a
 * VM_LOCKED VMA. As on x86, clearing an accessed bit flushes no TLB: a CPU that still
 * holds the translation will not set the bit again until it is evicted from its TLB.
 */
export function folioReferenced(k: Kmm, pfn: number): { referenced: number; vmFlags: number } {
  k.count(K_RMAP_CALLS);
  let left = k.pages.mapcount[pfn];
  let referenced = 0;
  let vmFlags = 0;
  if (left <= 0) return { referenced, vmFlags };
  for (const { vma, va } of rmapVmas(k, pfn)) {
    // invalid_vma: madvise(MADV_SEQUENTIAL/RANDOM) tells reclaim to ignore recency there.
    k.count(K_RMAP_VMA_VISITS);
    const leaf = leafWord(k, vma.mm!, va);
    k.count(K_RMAP_PTE_VISITS);
    if (leaf === null || leaf.pfn !== pfn) continue;
    if ((vma.flags & VM_LOCKED) !== 0) {
      vmFlags |= VM_LOCKED;
      break;
    }
    left--;
    if ((vma.flags & (VM_SEQ_READ | VM_RAND_READ)) === 0 && k.ops.ptepTestAndClearYoung(leaf.w)) {
      referenced++;
      k.count(K_RMAP_ABIT_CLEARS);
    }
    vmFlags |= vma.flags;
    if (left === 0) break;
  }
  return { referenced, vmFlags };
}

/**
 * try_to_unmap: take the folio out of every page table that maps it. An anonymous page
 * gets a swap PTE for its slot in each (exclusive if the page was), a shmem page none (its
 * swap entry goes in the file's page cache), a lazily freed clean page none (dropped); a
 * page mapped by a huge PMD has that PMD split first. The flushes are gathered per mm in
 * `flushes` (TTU_BATCH_FLUSH) for the caller to send. False if a mapping stays: a
 * VM_LOCKED VMA (the folio is mlocked), or a lazily freed page written again.
 */
export function tryToUnmap(k: Kmm, pfn: number, flushes: Map<Mm, Gather>): boolean {
  const pages = k.pages;
  k.count(K_RMAP_CALLS);
  const anon = (pages.flags[pfn] & PG_ANON) !== 0;
  const slot = anon && (pages.flags[pfn] & PG_SWAPCACHE) !== 0 ? k.swap!.slotOf.get(pfn)! : -1;
  const targets = new Set<Mm>();
  for (const { vma, va } of rmapVmas(k, pfn)) {
    if (pages.mapcount[pfn] <= 0) break;
    k.count(K_RMAP_VMA_VISITS);
    const mm = vma.mm!;
    let leaf = leafWord(k, vma.mm!, va);
    k.count(K_RMAP_PTE_VISITS);
    if (leaf === null || leaf.pfn !== pfn) continue;
    if ((vma.flags & VM_LOCKED) !== 0) {
      mlockFolio(k, pfn);
      return false;
    }
    if (leaf.huge) {
      // TTU_SPLIT_HUGE_PMD: the leaf maps 512 pages split from their folio by fork.
      if (!splitHugePmd(k, mm, leaf.w, va - (va % 2 ** 21), -1)) return false;
      leaf = leafWord(k, mm, va);
      if (leaf === null || leaf.pfn !== pfn) throw new KernelBug('tryToUnmap: the split PMD lost the page');
    }
    const w = leaf.w;
    const lazy = (pages.flags[pfn] & PG_LAZYFREE) !== 0;
    if (lazy && !vma.droppable && ((k.ops.lo(w) & _PAGE_DIRTY) !== 0 || (pages.flags[pfn] & PG_DIRTY) !== 0)) {
      // Written since MADV_FREE: swap-backed again, and kept (isolated: the putback puts it
      // on an anon list).
      pages.flags[pfn] &= ~PG_LAZYFREE;
      return false;
    }
    const old = k.ops.ptepGetAndClear(w);
    if ((old & _PAGE_DIRTY) !== 0) pages.flags[pfn] |= PG_DIRTY;
    let g = flushes.get(mm);
    if (g === undefined) flushes.set(mm, (g = new Gather()));
    g.cover(va, va + PAGE);
    targets.add(mm);
    if (anon && !lazy) {
      // A swap PTE for the slot, exclusive if the page was (folio_try_share_anon_rmap_ptes).
      k.swap!.dup(slot);
      const exclusive = (pages.flags[pfn] & PG_ANON_EXCLUSIVE) !== 0;
      pages.flags[pfn] &= ~PG_ANON_EXCLUSIVE;
      k.ops.setPte(w, swpPteLo(slot, exclusive, (old & _PAGE_SOFT_DIRTY) !== 0), swpPteHi(k.swap!.type, slot));
      mm.rssAnon--;
      mm.swapents++;
    } else if (anon) {
      mm.rssAnon--;
    } else {
      mm.rssShmem--;
    }
    pages.mapcount[pfn]--;
    pages.refcount[pfn]--;
  }
  for (const mm of targets) {
    const n = mm.flushCpus !== null ? [...mm.flushCpus()].length : mm.cpus.size;
    k.count(K_RMAP_FLUSH_TARGETS, n);
  }
  return pages.mapcount[pfn] === 0;
}
