// Page tables (mm/memory.c, less the fault path): finding and building the tables that
// translate an address, copying them for fork (copy_page_range), clearing entries (zap),
// and freeing tables no VMA needs any more (free_pgtables).
//
// Page tables live in physical memory in the hardware format, so CPUs walk them while the
// kernel edits them: present entries change only through PageTableOps (atomic exchange and
// compare-and-swap, like ptep_get_and_clear), and a table page or a frame that a CPU may
// still reach through its TLB or paging-structure caches is freed only after a shootdown
// (mmu_gather.ts).

import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, entryWord, K_FORK_PTES, pmdPfn, pteLeaf, ptePfn } from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { ENOMEM } from '../uapi.ts';
import { copyHugePmd, splitHugePmd, zapHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { VM_LOCKED, VM_MAYWRITE, VM_SHARED, type Vma } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, PG_LRU, PG_SHMEM } from './page_alloc.ts';
import { _PAGE_SWP_EXCLUSIVE, swpOffset } from './swapfile.ts';
import { freeSwapCache, freeSwapEntry } from './swap_state.ts';
import { mlockFolio, munlockFolio } from './lru.ts';
import {
  ACTION_CONTINUE, ACTION_SUBTREE, forEachPte, type MmWalk, type MmWalkOps, walkPageRangeNovma, walkPageTableRange,
} from './pagewalk.ts';
import { index, pmdWord, SPAN, tableBelow } from './pgtable.ts';
import type { Sliced } from './slice.ts';
import { inPieces } from './slice_range.ts';

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

/** is_cow_mapping: private and may be written, so a fork shares its pages read-only. */
export function isCowMapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/**
 * copy_page_range for fork, in slices (copy_pte_range's cond_resched): the child's VMA dst
 * gets the translations of the parent's src (the same range in the child's mm), a page
 * table's span at a time, charged for the entries copied (slice_range.ts). Every mapped
 * PTE is copied old (A clear), clean in a shared mapping, soft-dirty kept; a normal page
 * gains a reference and a mapping, an anonymous one loses PageAnonExclusive, and in a COW
 * mapping a writable PTE becomes read-only on both sides (the parent's is flushed with its
 * whole mm at the end of the fork). The zero page and reference pages are copied with no
 * count (vm_normal_page is NULL). A huge PMD is shared (copy_huge_pmd); a backing with its
 * own tables copies them itself, in one go (hugetlb: a few entries per GiB). 0, or -ENOMEM
 * if a table could not be had (the fork fails).
 */
export function* copyPageRange(k: Kmm, dst: Vma, src: Vma): Sliced {
  if (src.ops.copyPageRange !== undefined) return src.ops.copyPageRange(k, dst, src);
  let r = 0;
  yield* inPieces(k, src.mm!, src.start, src.end, (a, b) => {
    const n = copyPtes(k, dst, src, a, b);
    if (n >= 0) return n;
    r = n;
    return false;
  });
  dst.mm!.noteRss();
  return r;
}

/** copy_pte_range: the translations of [a, b) (within one page table's span) copied from src to dst; the entries copied, or -ENOMEM. */
function copyPtes(k: Kmm, dst: Vma, src: Vma, a: number, b: number): number {
  const dmm = dst.mm!;
  const smm = src.mm!;
  const cow = isCowMapping(src.flags);
  const shared = (src.flags & VM_SHARED) !== 0;
  const pages = k.pages;
  let failed = false;
  let copied = 0;
  // The child's page table of the last 2 MiB region copied into.
  let region = -1;
  let table = -1;
  /** The child's page table for va (made on the way); false if no frame was free. */
  const ensureTable = (va: number): boolean => {
    if (Math.floor(va / SPAN[2]) === region) return true;
    const pw = pmdWord(k, dmm, va, true);
    table = pw < 0 ? pw : tableBelow(k, dmm, pw, true);
    if (table < 0) {
      failed = true;
      return false;
    }
    region = Math.floor(va / SPAN[2]);
    return true;
  };
  const copyPte = (w: number, va: number): void => {
    if (failed || !ensureTable(va)) return;
    let lo = k.ops.lo(w);
    const hi = k.ops.hi(w);
    const pfn = ptePfn(lo, hi);
    if (!pages.isSpecial(pfn)) {
      pages.refcount[pfn]++;
      pages.mapcount[pfn]++;
      if ((pages.flags[pfn] & PG_ANON) !== 0) {
        pages.flags[pfn] &= ~PG_ANON_EXCLUSIVE;
        dmm.rssAnon++;
      } else dmm.rssShmem++;
    }
    if (cow && (lo & _PAGE_RW) !== 0) lo = k.ops.ptepSetWrprotect(w) & ~_PAGE_RW;
    if (shared) lo &= ~_PAGE_DIRTY;
    k.ops.setPte(entryWord(table, index(va, 1)), lo & ~_PAGE_ACCESSED, hi);
    copied++;
  };
  const copyHuge = (w: number, va: number, level: number): boolean => {
    if (level !== 2) throw new KernelBug(`copyPageRange: a 1 GiB leaf at 0x${va.toString(16)} outside hugetlb`);
    const dpw = failed ? -1 : pmdWord(k, dmm, va, true);
    if (dpw < 0 || !copyHugePmd(k, dmm, dpw, w)) failed = true;
    else copied++;
    return true;
  };
  // copy_nonpresent_pte: a swap entry is one more reference to its slot, and shared now:
  // the exclusive mark goes from the parent's entry and is not given to the child's.
  const copySwap = (w: number, va: number): void => {
    if (failed || !ensureTable(va)) return;
    let lo = k.ops.lo(w);
    const hi = k.ops.hi(w);
    k.swap!.dup(swpOffset(lo, hi));
    if ((lo & _PAGE_SWP_EXCLUSIVE) !== 0) {
      lo &= ~_PAGE_SWP_EXCLUSIVE;
      k.ops.setPte(w, lo, hi);
    }
    k.ops.setPte(entryWord(table, index(va, 1)), lo, hi);
    dmm.swapents++;
    copied++;
  };
  // copy_pte_marker: a guard marker is copied as it is.
  const copyMarker = (w: number, va: number): void => {
    if (failed || !ensureTable(va)) return;
    k.ops.setPte(entryWord(table, index(va, 1)), k.ops.lo(w), k.ops.hi(w));
    copied++;
  };
  forEachPte(k, smm, a, b, copyPte, copyHuge, copySwap, copyMarker);
  k.count(K_FORK_PTES, copied);
  return failed ? -ENOMEM : copied;
}

/**
 * unmap_single_vma: take the translations of [start, end) of vma away into g: the
 * backing's own way (hugetlb leaves, mshare links), or the PTEs zapped. Guard markers go
 * only with `dropMarkers` (ZAP_FLAG_DROP_MARKER: munmap and exit); MADV_DONTNEED and the
 * like keep them. Returns the entries it acted on (a backing's own way counts every page
 * of the range).
 */
export function unmapVmaRange(k: Kmm, vma: Vma, start: number, end: number, g: Gather, dropMarkers = false): number {
  if (vma.ops.unmap !== undefined) {
    vma.ops.unmap(k, vma, start, end, g);
    return (end - start) / 4096;
  }
  // munlock_vma_folio: pages leaving a locked VMA are evictable again (if another locked
  // VMA maps one, reclaim finds it there and mlocks it again).
  const munlocked = (vma.flags & VM_LOCKED) !== 0 ? mlockPtes(k, vma.mm!, start, end, false) : 0;
  return munlocked + zapRange(k, vma.mm!, start, end, g, dropMarkers);
}

/**
 * mlock_pte_range: mlock (or munlock) every normal page mapped in [start, end) of mm, a
 * transparent huge page whole. Returns the entries it looked at (forEachPte).
 */
export function mlockPtes(k: Kmm, mm: Mm, start: number, end: number, lock: boolean): number {
  const act = (pfn: number): void => {
    if (k.pages.isSpecial(pfn) || (k.pages.flags[pfn] & PG_LRU) === 0) return;
    if (lock) mlockFolio(k, pfn);
    else munlockFolio(k, pfn);
  };
  return forEachPte(k, mm, start, end, (w) => act(ptePfn(k.ops.lo(w), k.ops.hi(w))), (w, _va, level) => {
    if (level === 2) act(pmdPfn(k.ops.lo(w), k.ops.hi(w)));
    return true;
  });
}

/**
 * Clear every PTE in [start, end) (zap_page_range): drop RSS and mapcount, queue frames
 * for release after the flush. The zero page and other reserved frames are not queued; a
 * transparent huge page wholly inside goes whole, one partly inside is split first. Guard
 * markers are cleared only if `dropMarkers` (zap_nonpresent_ptes, zap_drop_markers).
 * Returns the entries it cleared (forEachPte).
 */
export function zapRange(k: Kmm, mm: Mm, start: number, end: number, g: Gather, dropMarkers = false): number {
  return forEachPte(
    k, mm, start, end, (w, va) => zapPte(k, mm, w, va, g), (w, va) => zapHugePmd(k, mm, w, va, start, end, g),
    (w) => zapSwapPte(k, mm, w), dropMarkers ? (w) => k.ops.ptepGetAndClear(w) : undefined,
  );
}

/** Clear a swap PTE (zap_nonpresent_ptes): its slot loses a reference (free_swap_and_cache). */
export function zapSwapPte(k: Kmm, mm: Mm, w: number): void {
  const hi = k.ops.hi(w);
  const lo = k.ops.ptepGetAndClear(w);
  freeSwapEntry(k, swpOffset(lo, hi));
  mm.swapents--;
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
  } else {
    mm.rssAnon--;
    freeSwapCache(k, pfn);
  }
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
