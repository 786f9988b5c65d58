// madvise(2) (compare mm/madvise.c) with the check order and per-advice rules of
// ../shared/reference/vma-syscalls.md section 9:
//   unaligned start -> EINVAL; unknown advice -> EINVAL (both even with len 0); wrap ->
//   EINVAL; len 0 -> 0; then the advice is applied to every mapped part of the range and an
//   unmapped part makes the call return ENOMEM at the end. A per-VMA error stops the walk.
//
// COLD moves the pages mapped only here to the inactive list, their accessed bits cleared;
// PAGEOUT reclaims them at once (swap for anonymous and shmem pages); FREE makes pages
// lazily freed (clean, no longer swap-backed: reclaim drops them unless they are written
// again) and drops their swap entries. Not modelled, and why: WILLNEED starts no readahead
// (swap-in reads what it needs); COLLAPSE is EINVAL (no khugepaged); no KSM pages are merged
// (MERGEABLE sets the flag); HWPOISON and SOFT_OFFLINE need CAP_SYS_ADMIN (EPERM).
// GUARD_INSTALL and GUARD_REMOVE (guard regions, 6.13; file-backed and read-only mappings
// 6.15) are madvise_guard.ts's.

import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, pmdPfn, ptePfn } from '../../machine/index.ts';
import { HPAGE_PMD_SIZE } from './huge_memory.ts';
import { PG_DIRTY, PG_LRU, PG_REFERENCED, PG_SWAPCACHE } from './page_alloc.ts';
import { folioFreeSwap } from './swap_state.ts';
import { deactivateFolio, markLazyfree } from './lru.ts';
import { reclaimPages } from './vmscan.ts';
import { isWriteSealed } from './seals.ts';

import { FAULT_OOM } from './fault.ts';
import { type Mm } from './mm.ts';

import * as U from '../uapi.ts';
import {
  type Vma, VM_DONTCOPY, VM_DONTDUMP, VM_HUGEPAGE, VM_LOCKED, VM_MAYWRITE, VM_MERGEABLE,
  VM_NOHUGEPAGE, VM_RAND_READ, VM_READ, VM_SEQ_READ, VM_SHARED, VM_WIPEONFORK, VM_WRITE, vmaHasFile, vmaIsAnonymous,
} from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { unmapVmaRange, zapSwapPte } from './memory.ts';
import { type Kmm } from './kmm.ts';
import { punchHoleSliced } from './truncate.ts';
import { populateSome } from './gup.ts';
import { drain, finish, type MaybeSliced, type Sliced } from './slice.ts';
import { inPieces } from './slice_range.ts';
import { modifyFlags, rangeSplitError } from './vma.ts';
import { forEachPte } from './pagewalk.ts';
import { guardInstall, guardRemove } from './madvise_guard.ts';

const PAGE = 4096;

/** Advice that only sets or clears VMA flags: [set, clear]. */
const FLAG_ADVICE: Readonly<Record<number, [number, number]>> = {
  [U.MADV_NORMAL]: [0, VM_RAND_READ | VM_SEQ_READ],
  [U.MADV_RANDOM]: [VM_RAND_READ, VM_SEQ_READ],
  [U.MADV_SEQUENTIAL]: [VM_SEQ_READ, VM_RAND_READ],
  [U.MADV_DONTFORK]: [VM_DONTCOPY, 0],
  [U.MADV_DOFORK]: [0, VM_DONTCOPY],
  [U.MADV_HUGEPAGE]: [VM_HUGEPAGE, VM_NOHUGEPAGE],
  [U.MADV_NOHUGEPAGE]: [VM_NOHUGEPAGE, VM_HUGEPAGE],
  [U.MADV_DONTDUMP]: [VM_DONTDUMP, 0],
  [U.MADV_DODUMP]: [0, VM_DONTDUMP],
  [U.MADV_WIPEONFORK]: [VM_WIPEONFORK, 0],
  [U.MADV_KEEPONFORK]: [0, VM_WIPEONFORK],
  [U.MADV_MERGEABLE]: [VM_MERGEABLE, 0],
  [U.MADV_UNMERGEABLE]: [0, VM_MERGEABLE],
};

const VALID = new Set([
  U.MADV_NORMAL, U.MADV_RANDOM, U.MADV_SEQUENTIAL, U.MADV_WILLNEED, U.MADV_DONTNEED, U.MADV_FREE,
  U.MADV_REMOVE, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_MERGEABLE, U.MADV_UNMERGEABLE,
  U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_DONTDUMP, U.MADV_DODUMP, U.MADV_WIPEONFORK,
  U.MADV_KEEPONFORK, U.MADV_COLD, U.MADV_PAGEOUT, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE,
  U.MADV_DONTNEED_LOCKED, U.MADV_COLLAPSE, U.MADV_HWPOISON, U.MADV_SOFT_OFFLINE,
  U.MADV_GUARD_INSTALL, U.MADV_GUARD_REMOVE,
]);

const privateAnon = (v: Vma) => (v.flags & VM_SHARED) === 0 && !vmaHasFile(v);
const pageSize = (v: Vma) => v.ops.pagesize?.(v) ?? PAGE;

/** madvise(2) in one go. */
export function sysMadvise(k: Kmm, mm: Mm, start: number, len: number, advice: number, cpu: number): number {
  return finish(k, sysMadviseSliced(k, mm, start, len, advice, cpu));
}

/** madvise(2), whose MADV_POPULATE_READ/WRITE runs in slices. */
export function sysMadviseSliced(k: Kmm, mm: Mm, start: number, len: number, advice: number, cpu: number): MaybeSliced {
  if (!Number.isInteger(start) || !Number.isInteger(len) || !Number.isInteger(advice)) return -U.EINVAL;
  if (start % PAGE !== 0 || start < 0) return -U.EINVAL;
  if (!VALID.has(advice)) return -U.EINVAL;
  if (advice === U.MADV_HWPOISON || advice === U.MADV_SOFT_OFFLINE) return -U.EPERM;
  if (len < 0) return -U.EINVAL;
  const end = start + Math.ceil(len / PAGE) * PAGE;
  if (end < start || end > 2 ** 64) return -U.EINVAL;
  if (len === 0) return 0;
  if (advice === U.MADV_POPULATE_READ || advice === U.MADV_POPULATE_WRITE) return madvisePopulate(k, mm, start, end, advice === U.MADV_POPULATE_WRITE, cpu);
  // Backings with bigger pages (hugetlb) take advice in whole pages: MADV_DONTNEED needs
  // an aligned start and rounds its end down to a page (madvise_dontneed_free_valid_vma);
  // other advice may not cut one at all. Backings refuse advice they do not take (hugetlb
  // most, mshare all), before any VMA is changed.
  if (advice === U.MADV_DONTNEED || advice === U.MADV_DONTNEED_LOCKED) {
    const first = mm.vmas.find(start);
    if (first !== null && start % pageSize(first) !== 0) return -U.EINVAL;
  } else {
    const cut = rangeSplitError(mm, start, end);
    if (cut < 0) return cut;
  }
  for (const v of mm.vmas.intersecting(start, end)) {
    const refused = v.ops.madvise?.(v, advice) ?? 0;
    if (refused < 0) return refused;
  }
  const work = adviseRange(k, mm, start, end, advice, cpu);
  return PIECED.has(advice) ? work : finish(k, work);
}

/** Advice that works page by page over the range: done in slices (slice_range.ts, truncate.ts, madvise_guard.ts). */
const PIECED = new Set([
  U.MADV_DONTNEED, U.MADV_DONTNEED_LOCKED, U.MADV_FREE, U.MADV_COLD, U.MADV_PAGEOUT, U.MADV_REMOVE, U.MADV_GUARD_INSTALL, U.MADV_GUARD_REMOVE,
]);

/**
 * The advice over every VMA in [start, end); PIECED advice a piece at a time, yielding
 * between slices (the VMAs stay as they are: the mm is held). What it freed waits in the
 * gather for the one flush at the end, which also runs if the caller is killed at a slice
 * boundary (then with what was done so far).
 */
function* adviseRange(k: Kmm, mm: Mm, start: number, end: number, advice: number, cpu: number): Sliced {
  let unmapped = false;
  let at = start;
  const g = new Gather();
  const pageout: number[] = [];
  let error = 0;
  try {
    while (at < end) {
      const v = mm.vmas.findNext(at);
      if (v === null || v.start >= end) {
        unmapped = true;
        break;
      }
      if (v.start > at) unmapped = true;
      const from = Math.max(at, v.start);
      const to = Math.min(end, v.end);
      if (PIECED.has(advice) && v.ops.unmap === undefined && pageSize(v) === PAGE) {
        error = yield* adviseVmaSliced(k, mm, v, from, to, advice, g, cpu, pageout);
      } else {
        error = Math.min(adviseVma(k, mm, v, from, to, advice, g, cpu, pageout), 0);
      }
      if (error !== 0) break;
      at = to;
    }
  } finally {
    finishGather(k, mm, g, cpu);
    if (pageout.length > 0) reclaimPages(k, pageout);
  }
  if (error !== 0) return error;
  return unmapped ? -U.ENOMEM : 0;
}

/** PIECED advice over [from, to) of v in slices: 0 or a negative errno. */
function* adviseVmaSliced(k: Kmm, mm: Mm, v: Vma, from: number, to: number, advice: number, g: Gather, cpu: number, pageout: number[]): Sliced {
  if (advice === U.MADV_REMOVE) return yield* madviseRemove(k, v, from, to, cpu);
  if (advice === U.MADV_GUARD_INSTALL) return discardRefused(v, advice) || (yield* guardInstall(k, mm, v, from, to, g));
  if (advice === U.MADV_GUARD_REMOVE) return yield* guardRemove(k, mm, v, from, to);
  let error = 0;
  yield* inPieces(k, mm, from, to, (a, b) => {
    const work = adviseVma(k, mm, v, a, b, advice, g, cpu, pageout);
    error = Math.min(work, 0);
    return work < 0 ? false : work;
  });
  return error;
}

/**
 * MADV_REMOVE of [from, to) of v: vfs_fallocate(PUNCH_HOLE | KEEP_SIZE) on the file range,
 * in slices (truncate.ts): every process's mapping of it goes, not only this one.
 */
function* madviseRemove(k: Kmm, v: Vma, from: number, to: number, cpu: number): Sliced {
  if (privateAnon(v) || (v.flags & VM_LOCKED) !== 0) return -U.EINVAL;
  // vma_is_shared_maywrite: shared and may be made writable (the current protection does not matter).
  if ((v.flags & VM_SHARED) === 0 || (v.flags & VM_MAYWRITE) === 0) return -U.EACCES;
  if (isWriteSealed(v.mapping!.seals)) return -U.EPERM; // shmem_fallocate: no hole in a write-sealed file
  return yield* punchHoleSliced(k, v.mapping!, (from - v.start) + v.pgoff * PAGE, (to - v.start) + v.pgoff * PAGE, cpu);
}

/** EPERM for advice that discards data on sealed read-only private anonymous memory, else 0. */
function discardRefused(v: Vma, advice: number): number {
  return v.sealed && DISCARDING.has(advice) && privateAnon(v) && (v.flags & VM_WRITE) === 0 ? -U.EPERM : 0;
}

/** Advice that discards data: refused on sealed read-only private anonymous memory. */
const DISCARDING = new Set([U.MADV_DONTNEED, U.MADV_DONTNEED_LOCKED, U.MADV_FREE, U.MADV_DONTFORK, U.MADV_WIPEONFORK, U.MADV_GUARD_INSTALL]);

/** One piece of advice over [from, to) of v: a negative errno, or the entries it acted on (the work a piece in slices is charged for). */
function adviseVma(k: Kmm, mm: Mm, v: Vma, from: number, to: number, advice: number, g: Gather, cpu: number, pageout: number[]): number {
  const refused = discardRefused(v, advice);
  if (refused < 0) return refused;
  const flagChange = FLAG_ADVICE[advice];
  if (flagChange !== undefined) {
    // Only WIPEONFORK is limited to private anonymous memory: KEEPONFORK clears the flag anywhere.
    if (advice === U.MADV_WIPEONFORK && !privateAnon(v)) return -U.EINVAL;
    // Droppable memory is always wiped on fork and never dumped.
    if ((advice === U.MADV_KEEPONFORK || advice === U.MADV_DODUMP) && v.droppable) return -U.EINVAL;
    return modifyFlags(mm, v, from, to, (f) => (f | flagChange[0]) & ~flagChange[1]) === null ? -U.ENOMEM : 0;
  }
  switch (advice) {
    case U.MADV_WILLNEED:
      return 0;
    case U.MADV_COLD:
    case U.MADV_PAGEOUT:
      if ((v.flags & VM_LOCKED) !== 0) return -U.EINVAL;
      return coldOrPageout(k, mm, from, to, g, advice === U.MADV_PAGEOUT ? pageout : null);
    case U.MADV_DONTNEED:
    case U.MADV_DONTNEED_LOCKED:
      if (advice === U.MADV_DONTNEED && (v.flags & VM_LOCKED) !== 0) return -U.EINVAL;
      to -= to % pageSize(v);
      return to > from ? unmapVmaRange(k, v, from, to, g) : 0;
    case U.MADV_FREE:
      // madvise_free_single_vma: anonymous memory (vma_is_anonymous), a private /dev/zero
      // mapping included, though it keeps its file.
      if (!vmaIsAnonymous(v) || (v.flags & VM_LOCKED) !== 0) return -U.EINVAL;
      // madvise_free_pte_range: swap entries go; pages mapped only here become clean and
      // old, and lazily freed (a page in the swap cache only once its slot is free).
      return forEachPte(k, mm, from, to, (w, va) => {
        const lo = k.ops.lo(w);
        const pfn = ptePfn(lo, k.ops.hi(w));
        if ((lo & _PAGE_PRESENT) === 0 || k.pages.isSpecial(pfn) || k.pages.mapcount[pfn] !== 1) return;
        if ((k.pages.flags[pfn] & PG_SWAPCACHE) !== 0 && !folioFreeSwap(k, pfn)) return;
        k.pages.flags[pfn] &= ~PG_DIRTY;
        if ((lo & (_PAGE_ACCESSED | _PAGE_DIRTY)) !== 0) {
          k.ops.ptepClearBits(w, _PAGE_ACCESSED | _PAGE_DIRTY);
          g.cover(va, va + PAGE);
        }
        markLazyfree(k, pfn);
      }, (w, va) => {
        // madvise_free_huge_pmd: a THP wholly inside the range is made clean and old whole;
        // one only partly inside is split (the 4 KiB path above then takes its pages).
        if (va < from || va + HPAGE_PMD_SIZE > to) return false;
        const pfn = pmdPfn(k.ops.lo(w), k.ops.hi(w));
        if (k.pages.isSpecial(pfn) || k.pages.mapcount[pfn] !== 1) return true;
        k.pages.flags[pfn] &= ~PG_DIRTY;
        if ((k.ops.ptepClearBits(w, _PAGE_ACCESSED | _PAGE_DIRTY) & (_PAGE_ACCESSED | _PAGE_DIRTY)) !== 0) g.cover(va, va + HPAGE_PMD_SIZE);
        markLazyfree(k, pfn);
        return true;
      }, (w) => zapSwapPte(k, mm, w));
    case U.MADV_REMOVE:
      return drain(madviseRemove(k, v, from, to, cpu));
    case U.MADV_GUARD_INSTALL:
      return drain(guardInstall(k, mm, v, from, to, g));
    case U.MADV_GUARD_REMOVE:
      return drain(guardRemove(k, mm, v, from, to));
    default: // COLLAPSE (no khugepaged)
      return -U.EINVAL;
  }
}

/**
 * madvise_cold_or_pageout_pte_range: every page mapped only here (not shared with another
 * mapping) loses its accessed bits and PG_referenced, and is deactivated (COLD) or queued
 * in `pageout` for reclaim (PAGEOUT). A THP partly in the range is split first. Returns
 * the entries it looked at (forEachPte).
 */
function coldOrPageout(k: Kmm, mm: Mm, from: number, to: number, g: Gather, pageout: number[] | null): number {
  const pages = k.pages;
  const take = (w: number, va: number, pfn: number, size: number): void => {
    if (pages.isSpecial(pfn) || (pages.flags[pfn] & PG_LRU) === 0 || pages.mapcount[pfn] !== 1) return;
    if ((k.ops.ptepClearBits(w, _PAGE_ACCESSED) & _PAGE_ACCESSED) !== 0) g.cover(va, va + size);
    pages.flags[pfn] &= ~PG_REFERENCED;
    if (pageout !== null) pageout.push(pfn);
    else deactivateFolio(k, pfn);
  };
  return forEachPte(k, mm, from, to, (w, va) => {
    const lo = k.ops.lo(w);
    if ((lo & _PAGE_PRESENT) !== 0) take(w, va, ptePfn(lo, k.ops.hi(w)), PAGE);
  }, (w, va) => {
    if (va < from || va + HPAGE_PMD_SIZE > to) return false;
    take(w, va, pmdPfn(k.ops.lo(w), k.ops.hi(w)), HPAGE_PMD_SIZE);
    return true;
  });
}

/**
 * MADV_POPULATE_READ/WRITE (madvise_populate): walks the range itself and stops at the
 * first problem: a hole is ENOMEM at once, a VMA without the right is EINVAL, a fault that
 * cannot be served is ENOMEM or EFAULT.
 */
function* madvisePopulate(k: Kmm, mm: Mm, start: number, end: number, write: boolean, cpu: number): Sliced {
  for (let at = start; at < end;) {
    const v = mm.vmas.find(at);
    if (v === null) return -U.ENOMEM;
    // GUP's check_vma_flags: a read needs VM_READ (a write-only or exec-only mapping is
    // readable on x86, but not to GUP), a write VM_WRITE.
    if ((write ? v.flags & VM_WRITE : v.flags & VM_READ) === 0) return -U.EINVAL;
    const to = Math.min(end, v.end);
    const got = populateSome(k, mm, at, to, write, cpu);
    if (got < 0) return -got === FAULT_OOM ? -U.ENOMEM : -U.EFAULT;
    at = got;
    if (at >= to) continue;
    k.slice.shared = true;
    yield; // then the VMA is looked up again
  }
  return 0;
}

