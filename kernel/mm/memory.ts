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
import { KernelBug } from '../bug.ts';
import { splitHugePmd, zapHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import type { Mm } from './mm.ts';
import type { Vma } from './mm_types.ts';
import { PG_DIRTY, PG_SHMEM } from './page_alloc.ts';
import { index, pmdWord, pteMapped, SPAN, tableBelow } from './pgtable.ts';

/** The entries [first, last] of a table at `base` with entries of `span` bytes that overlap [start, end). */
function slots(base: number, span: number, start: number, end: number): [number, number] {
  return [Math.max(0, Math.floor((start - base) / span)), Math.min(511, Math.ceil((end - base) / span) - 1)];
}

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
 * Visit every mapped PTE in [start, end): fn(word, va). Skips absent tables, so the cost is
 * proportional to the tables that exist. A huge PMD leaf goes to `huge(word, va)` (va its
 * first address, which may lie before start): true if it handled the leaf, false to have it
 * split and its 512 PTEs visited. Without `huge`, leaves are split.
 */
export function forEachPte(k: Kmm, mm: Mm, start: number, end: number, fn: (w: number, va: number) => void, huge?: (w: number, va: number, level: number) => boolean): void {
  const rec = (table: number, level: number, base: number): void => {
    const span = SPAN[level];
    const [first, last] = slots(base, span, start, end);
    for (let i = first; i <= last; i++) {
      const w = entryWord(table, i);
      let lo = k.ops.lo(w);
      const va = base + i * span;
      if (level === 3 && pteLeaf(lo)) {
        // A 1 GiB hugetlb page: never split (hugetlb VMAs change only in whole pages).
        if (huge?.(w, va, 3) !== true) throw new KernelBug(`forEachPte: 1 GiB leaf at 0x${va.toString(16)} not handled`);
        continue;
      }
      if (level === 2 && pteLeaf(lo)) {
        if (huge?.(w, va, 2) === true) continue;
        if (!splitHugePmd(k, mm, w, va, -1)) throw new KernelBug('forEachPte: no frame to split a huge PMD');
        lo = k.ops.lo(w);
      }
      if (level === 1) {
        if (pteMapped(lo)) fn(w, va);
      } else if ((lo & _PAGE_PRESENT) !== 0) {
        rec(ptePfn(lo, k.ops.hi(w)), level - 1, va);
      }
    }
  };
  if (end > start) rec(mm.pml4, 4, 0);
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
 */
export function freePgtables(k: Kmm, mm: Mm, start: number, end: number, floor: number, ceiling: number, g: Gather): void {
  const rec = (table: number, level: number, base: number): void => {
    const span = SPAN[level];
    const [first, last] = slots(base, span, start, end);
    for (let i = first; i <= last; i++) {
      const w = entryWord(table, i);
      const lo = k.ops.lo(w);
      if ((lo & _PAGE_PRESENT) === 0 || pteLeaf(lo)) continue;
      const child = ptePfn(lo, k.ops.hi(w));
      const lo2 = base + i * span;
      // A PDPT that mshare processes link to is never freed (nor what lies below it), nor a
      // page directory that hugetlb PMD sharing links into other mms.
      if (level === 4 && (k.mshare.sharedTables.get(child) ?? 0) > 0) continue;
      if (level === 3 && (k.hugetlb.pmdShares.get(child) ?? 0) > 0) continue;
      if (lo2 >= floor && lo2 + span <= ceiling) {
        freeTableTree(k, mm, child, level - 1, g);
        k.ops.ptepGetAndClear(w);
        g.cover(lo2, lo2 + span);
      } else if (level > 2) {
        rec(child, level - 1, lo2);
      }
    }
  };
  if (end > start) rec(mm.pml4, 4, 0);
}

/**
 * A table tree at entry word w (an entry of level `level`, covering [base, base + span))
 * that maps nothing (left behind, e.g. by an mremap that failed after making its
 * destination's tables): unlink and free it. False if something is mapped below.
 */
export function dropEmptyTables(k: Kmm, mm: Mm, w: number, level: number, base: number, cpu: number): boolean {
  const empty = (table: number, l: number): boolean => {
    for (let i = 0; i < 512; i++) {
      const lo = k.ops.lo(entryWord(table, i));
      if (l === 1 ? pteMapped(lo) : pteLeaf(lo)) return false;
      if (l > 1 && (lo & _PAGE_PRESENT) !== 0 && !empty(ptePfn(lo, k.ops.hi(entryWord(table, i))), l - 1)) return false;
    }
    return true;
  };
  const child = ptePfn(k.ops.lo(w), k.ops.hi(w));
  if (!empty(child, level - 1)) return false;
  const g = new Gather();
  k.ops.ptepGetAndClear(w);
  freeTableTree(k, mm, child, level - 1, g);
  g.cover(base, base + SPAN[level]);
  finishGather(k, mm, g, cpu);
  return true;
}

/** Queue a table and every table below it; a leaf still mapped here is a kernel bug. */
function freeTableTree(k: Kmm, mm: Mm, table: number, level: number, g: Gather): void {
  for (let i = 0; i < 512; i++) {
    const w = entryWord(table, i);
    const lo = k.ops.lo(w);
    if (level === 1) {
      if (pteMapped(lo)) throw new KernelBug(`freePgtables: PTE ${i} of table ${table} still maps a frame`);
      continue;
    }
    if (pteLeaf(lo)) throw new KernelBug(`freePgtables: entry ${i} of table ${table} is a huge leaf still mapped`);
    if ((lo & _PAGE_PRESENT) !== 0) freeTableTree(k, mm, ptePfn(lo, k.ops.hi(w)), level - 1, g);
  }
  g.tables.push(table);
  mm.ptePages--;
}

