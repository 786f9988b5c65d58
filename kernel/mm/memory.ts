// Page tables (mm/memory.c, less the fault path): finding and building the tables that
// translate an address, clearing entries (zap), and freeing tables no VMA needs any more
// (free_pgtables).
//
// Page tables live in physical memory in the hardware format, so CPUs walk them while the
// kernel edits them: present entries change only through PageTableOps (atomic exchange and
// compare-and-swap, like ptep_get_and_clear), and a table page or a frame that a CPU may
// still reach through its TLB or paging-structure caches is freed only after a shootdown
// (mmu_gather.ts).

import { _PAGE_DIRTY, _PAGE_PRESENT, entryWord, ptePfn, pteLeaf } from '../../machine/index.ts';
import {
  ACTION_CONTINUE, ACTION_SUBTREE, forEachPte, type MmWalk, type MmWalkOps, walkPageRangeNovma,
  walkPageTableRange,
} from './pagewalk.ts';
import { KernelBug } from '../bug.ts';
import { splitHugePmd, zapHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import type { Mm } from './mm.ts';
import type { Vma } from './mm_types.ts';
import { PG_DIRTY, PG_SHMEM } from './page_alloc.ts';
import { index, pmdWord, SPAN, tableBelow } from './pgtable.ts';

/**
 * The word index of va's PTE, allocating missing tables if `alloc`; -1 if absent (or, with
 * alloc, -2 if no frame was free for a table).
 */
export function pteWord(k: Kmm, mm: Mm, va: number, alloc: boolean): number {
  const pw = pmdWord(k, mm, va, alloc);
  return pw < 0 ? pw : pteWordBelow(k, mm, pw, va, alloc);
}

/** pteWord for a caller that already has va's PMD entry word `pw` (the fault path). */
export function pteWordBelow(k: Kmm, mm: Mm, pw: number, va: number, alloc: boolean): number {
  // A huge leaf where a page table is wanted: split it (split_huge_pmd). Callers that only
  // read a translation use leafWord and leave it whole.
  if (pteLeaf(k.ops.lo(pw)) && !splitHugePmd(k, mm, pw, va - (va % SPAN[2]), -1)) return -2;
  const table = tableBelow(k, mm, pw, alloc);
  return table < 0 ? table : entryWord(table, index(va, 1));
}

/**
 * unmap_single_vma: take the translations of [start, end) of vma away into g: the
 * backing's own way (hugetlb leaves, mshare links), or the PTEs zapped.
 */
export function unmapVmaRange(k: Kmm, vma: Vma, start: number, end: number, g: Gather): void {
  if (vma.ops.unmap !== undefined) vma.ops.unmap(k, vma, start, end, g);
  else zapRange(k, vma.mm!, start, end, g);
}

/**
 * Clear every PTE in [start, end) (zap_page_range): drop RSS and mapcount, queue frames
 * for release after the flush. The zero page and other reserved frames are not queued; a
 * transparent huge page wholly inside goes whole, one partly inside is split first.
 */
export function zapRange(k: Kmm, mm: Mm, start: number, end: number, g: Gather): void {
  forEachPte(k, mm, start, end, (w, va) => zapPte(k, mm, w, va, g), (w, va) => zapHugePmd(k, mm, w, va, start, end, g));
}

/** Clear one mapped PTE at va: RSS, mapcount, and the frame queued for after the flush. */
export function zapPte(k: Kmm, mm: Mm, w: number, va: number, g: Gather): void {
  const pages = k.pages;
  const lo = k.ops.ptepGetAndClear(w);
  const pfn = ptePfn(lo, k.ops.hi(w));
  g.cover(va, va + 4096);
  if (pages.isSpecial(pfn)) return;
  pages.mapcount[pfn]--;
  if ((pages.flags[pfn] & PG_SHMEM) !== 0) {
    mm.rssShmem--;
    // The page outlives the mapping: keep what the D bit said (zap_present_ptes).
    if ((lo & _PAGE_DIRTY) !== 0) pages.flags[pfn] |= PG_DIRTY;
  } else mm.rssAnon--;
  g.pages.push(pfn);
}

/**
 * Free the page-table pages that serve only [floor, ceiling) and overlap [start, end)
 * (free_pgtables): a table is freed when its whole span lies inside [floor, ceiling), so
 * no VMA can need it. Their parent entries are cleared now; the frames go after the flush.
 * A PDPT that mshare processes link to is never freed (nor what lies below it), nor a page
 * directory that hugetlb PMD sharing links into other mms.
 */
export function freePgtables(k: Kmm, mm: Mm, start: number, end: number, floor: number, ceiling: number, g: Gather): void {
  if (end <= start) return;
  const entry = (w: number, addr: number, level: number, walk: MmWalk<null>): number => {
    const lo = k.ops.lo(w);
    if ((lo & _PAGE_PRESENT) === 0 || pteLeaf(lo)) return 0;
    const child = ptePfn(lo, k.ops.hi(w));
    const base = addr - (addr % SPAN[level]);
    walk.action = ACTION_CONTINUE;
    if (level === 4 && (k.mshare.sharedTables.get(child) ?? 0) > 0) return 0;
    if (level === 3 && (k.hugetlb.pmdShares.get(child) ?? 0) > 0) return 0;
    if (base >= floor && base + SPAN[level] <= ceiling) {
      freeTableTree(k, mm, child, level - 1, base, g);
      k.ops.ptepGetAndClear(w);
      g.cover(base, base + SPAN[level]);
    } else if (level > 2) {
      walk.action = ACTION_SUBTREE; // part of its span is still needed: look at its tables
    }
    return 0;
  };
  walkPageRangeNovma(k, mm, start, end, {
    p4dEntry: (w, addr, _next, walk) => entry(w, addr, 4, walk),
    pudEntry: (w, addr, _next, walk) => entry(w, addr, 3, walk),
    pmdEntry: (w, addr, _next, walk) => entry(w, addr, 2, walk),
  }, null);
}

/** The walk that checks a table tree maps nothing: stops (1) at a mapped PTE or a huge leaf. */
const MAPS_NOTHING: MmWalkOps<null> = {
  pudEntry: (w, _a, _n, walk) => (pteLeaf(walk.k.ops.lo(w)) ? 1 : 0),
  pmdEntry: (w, _a, _n, walk) => (pteLeaf(walk.k.ops.lo(w)) ? 1 : 0),
  pteEntry: (w, _a, _n, walk) => (walk.k.ops.lo(w) !== 0 ? 1 : 0),
};

/**
 * A table tree at entry word w (an entry of level `level`, covering [base, base + span))
 * that maps nothing (left behind, e.g. by an mremap that failed after making its
 * destination's tables): unlink and free it. False if something is mapped below.
 */
export function dropEmptyTables(k: Kmm, mm: Mm, w: number, level: number, base: number, cpu: number): boolean {
  const child = ptePfn(k.ops.lo(w), k.ops.hi(w));
  if (walkPageTableRange(k, mm, child, level - 1, base, base + SPAN[level], MAPS_NOTHING, null) !== 0) return false;
  const g = new Gather();
  freeTableTree(k, mm, child, level - 1, base, g);
  k.ops.ptepGetAndClear(w);
  g.cover(base, base + SPAN[level]);
  finishGather(k, mm, g, cpu);
  return true;
}

/**
 * Queue `table` (of `level`: 1 a PTE table ... 3 a PDPT, covering [base, base + span)) and
 * every table below it for release after the flush; an entry still in use there is a
 * kernel bug.
 */
function freeTableTree(k: Kmm, mm: Mm, table: number, level: number, base: number, g: Gather): void {
  const inUse = (what: string, addr: number): never => {
    throw new KernelBug(`freePgtables: ${what} at 0x${addr.toString(16)} in a table being freed`);
  };
  const below = (w: number, addr: number): number => {
    const lo = k.ops.lo(w);
    if (pteLeaf(lo)) inUse('a huge leaf', addr);
    if ((lo & _PAGE_PRESENT) !== 0) {
      g.tables.push(ptePfn(lo, k.ops.hi(w)));
      mm.ptePages--;
    }
    return 0;
  };
  walkPageTableRange(k, mm, table, level, base, base + SPAN[level + 1], {
    pudEntry: below,
    pmdEntry: below,
    pteEntry: (w, addr) => (k.ops.lo(w) !== 0 ? inUse('an entry', addr) : 0),
  }, null);
  g.tables.push(table);
  mm.ptePages--;
}
