// Truncation, hole punching and fallocate of a page cache, in slices (compare
// mm/truncate.c's truncate_pagecache and truncate_inode_pages_range, mm/memory.c's
// unmap_mapping_range, mm/shmem.c's shmem_fallocate and shmem_undo_range).
//
// Dropping pages [first, last) of a file goes a piece at a time (at most PIECE page
// indices): the piece's pages are unmapped from every VMA of every process that maps them
// and then dropped from the cache, both in one slice, so a page faulted in between two
// slices is either an old one that its piece then takes away or a new one after the piece
// (Linux keeps faults out of a hole being punched with shmem_falloc_wait; a truncation lowers
// i_size first, so no fault maps a page past the new end). A piece is charged for the
// entries it cleared, its tables' scan and the pages it dropped (slice_range.ts's
// pieceCost); indices with no page, no swap entry and no page table in any mapping are
// skipped. Neither truncate_inode_pages_range nor shmem_truncate_range stops for a fatal
// signal, so a caller killed at a slice boundary finishes the rest at once. shmem_fallocate
// does stop: killed (or out of space), it drops again the pages it added that nobody has
// used since.
//
// Deviation: i_rwsem is not modelled. A write(2), ftruncate or fallocate of the same file
// from another CPU between two slices runs at once (Linux would wait for the inode lock).

import * as U from '../uapi.ts';
import { AddressSpace, cachePage, dropCacheRange, dropCachePage, releaseIfUnused } from './filemap.ts';
import type { Kmm } from './kmm.ts';
import { zapPte, zapSwapPte } from './memory.ts';
import type { Mm } from './mm.ts';
import type { Vma } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { PG_DIRTY, PG_SHMEM } from './page_alloc.ts';
import { forEachPte } from './pagewalk.ts';
import { ptePfn } from '../../machine/index.ts';
import { type MaybeSliced, type Sliced } from './slice.ts';
import { nextTable, pieceCost } from './slice_range.ts';

const PAGE = 4096;
/** The page indices a piece of truncation covers at most: a page table's worth. */
const PIECE = 512;

/** The addresses [a, b) at which v maps pages [p, q) of its file (a >= b if none). */
function vaRange(v: Vma, p: number, q: number): [number, number] {
  const from = Math.max(p, v.pgoff);
  const to = Math.min(q, v.pgoff + (v.end - v.start) / PAGE);
  return [v.start + (from - v.pgoff) * PAGE, v.start + (to - v.pgoff) * PAGE];
}

/**
 * The first page index in [at, last) of m with something to do: a page or a swap entry
 * in the cache, or a page table in a VMA that maps it; last if none.
 */
function nextInUse(k: Kmm, m: AddressSpace, at: number, last: number): number {
  if (at >= last) return last;
  let next = last;
  for (const x of [m.pages.next(at), m.swapped.next(at)]) if (x !== -1 && x < next) next = x;
  for (const v of m.mappers.overlapping(at, next - 1)) {
    const [a, b] = vaRange(v, at, next);
    if (a >= b) continue;
    const t = nextTable(k, v.mm!, a, b);
    if (t < b) next = Math.min(next, v.pgoff + (t - v.start) / PAGE);
  }
  return next;
}

/**
 * Clear the PTEs of pages [p, q) of m in every VMA that maps them (with `evenCows` also the
 * private copies made from them, and swap entries), into `gathers` by mm: the units it
 * cost (pieceCost per VMA).
 */
function unmapPiece(k: Kmm, m: AddressSpace, p: number, q: number, evenCows: boolean, gathers: Map<Mm, Gather>): number {
  let cost = 0;
  for (const v of [...m.mappers.overlapping(p, q - 1)]) {
    const [a, b] = vaRange(v, p, q);
    if (a >= b) continue;
    const mm = v.mm!;
    let g = gathers.get(mm);
    if (g === undefined) gathers.set(mm, (g = new Gather()));
    const gather = g;
    const work = forEachPte(k, mm, a, b, (w, va) => {
      if (!evenCows && (k.pages.flags[ptePfn(k.ops.lo(w), k.ops.hi(w))] & PG_SHMEM) === 0) return;
      zapPte(k, mm, w, va, gather);
    }, undefined, evenCows ? (w) => zapSwapPte(k, mm, w) : undefined);
    cost += pieceCost(a, b, work);
  }
  return cost;
}

/** Flush and release what the gathers hold, each for its mm. */
function finishGathers(k: Kmm, gathers: Map<Mm, Gather>, cpu: number): void {
  for (const [mm, g] of gathers) finishGather(k, mm, g, cpu);
  gathers.clear();
}

/**
 * unmap_mapping_range: clear the PTEs of pages [first, last) of m in every VMA of every
 * process that maps them, with `evenCows` also the private copies made from them, and shoot
 * down those TLB entries; in one go.
 */
export function unmapMappingRange(k: Kmm, m: AddressSpace, first: number, last: number, evenCows: boolean, cpu: number): void {
  const gathers = new Map<Mm, Gather>();
  unmapPiece(k, m, first, last, evenCows, gathers);
  finishGathers(k, gathers, cpu);
}

/**
 * Pages [first, last) of m unmapped from every process (private copies too with
 * `evenCows`) and dropped from the cache, a piece at a time, yielding when the slice is
 * spent; a caller killed at a slice boundary does the rest at once. The frames wait in the
 * gathers for one flush at the end (as munmap's do), so the frames a call frees, and their
 * order, are the same in slices as in one go. m is held meanwhile (as the caller's file
 * reference does), so a close between slices frees nothing under it.
 */
function* unmapAndDrop(k: Kmm, m: AddressSpace, first: number, last: number, evenCows: boolean, cpu: number): Sliced {
  const gathers = new Map<Mm, Gather>();
  let at = nextInUse(k, m, first, last);
  m.holders++;
  try {
    while (at < last) {
      const q = Math.min(last, at - (at % PIECE) + PIECE);
      const cost = unmapPiece(k, m, at, q, evenCows, gathers) + dropCacheRange(k, m, at, q);
      at = nextInUse(k, m, q, last);
      if (k.slice.spend(cost) && at < last) {
        k.slice.shared = true; // the caller's mm is not what it works on
        yield;
      }
    }
  } finally {
    if (at < last) {
      unmapPiece(k, m, at, last, evenCows, gathers);
      dropCacheRange(k, m, at, last);
    }
    finishGathers(k, gathers, cpu);
    m.holders--;
    releaseIfUnused(k, m);
  }
  return 0;
}

/** Zero bytes [a, b) of one page of m (within page floor(a / PAGE)), if it has one (swapped in if it is in swap). */
function zeroPart(k: Kmm, m: AddressSpace, a: number, b: number): void {
  const idx = Math.floor(a / PAGE);
  const pfn = m.swapped.has(idx) ? cachePage(k, m, idx) : m.pages.load(idx);
  if (pfn >= 0 && b > a) k.mem.u8.fill(0, pfn * PAGE + (a % PAGE), pfn * PAGE + (a % PAGE) + (b - a));
}

/**
 * Free the pages of [from, to) bytes of m (fallocate PUNCH_HOLE, MADV_REMOVE;
 * shmem_truncate_range): partial pages at the ends are zeroed, whole ones unmapped from
 * every process (private copies stay) and dropped, in slices. Returns 0.
 */
export function punchHoleSliced(k: Kmm, m: AddressSpace, from: number, to: number, cpu: number): Sliced {
  const first = Math.ceil(from / PAGE);
  const last = Math.floor(Math.min(to, m.size + PAGE - 1) / PAGE);
  if (from % PAGE !== 0) zeroPart(k, m, from, Math.min(to, (Math.floor(from / PAGE) + 1) * PAGE));
  if (to % PAGE !== 0 && Math.floor(to / PAGE) >= first) zeroPart(k, m, Math.floor(to / PAGE) * PAGE, to);
  return unmapAndDrop(k, m, first, Math.max(first, last), false, cpu);
}

/**
 * Set m's size (shmem_setattr, truncate_pagecache): shrinking lowers the size first (a
 * fault past it is SIGBUS from then on), zeroes the tail of the last page, then unmaps and
 * frees every page past the end, private copies included, in slices. Returns 0.
 */
export function truncateSliced(k: Kmm, m: AddressSpace, size: number, cpu: number): MaybeSliced {
  const old = m.size;
  m.size = size;
  if (size >= old) return 0;
  if (size % PAGE !== 0) zeroPart(k, m, size, (Math.floor(size / PAGE) + 1) * PAGE);
  return unmapAndDrop(k, m, Math.ceil(size / PAGE), Infinity, true, cpu);
}

/**
 * shmem_fallocate's allocation: pages [first, last) of m put in the cache, a unit of the
 * slice budget each. ENOSPC when a page cannot be had. Then, and if the caller is killed at
 * a slice boundary (Linux's fatal_signal_pending), the pages this call added that nobody
 * has used since (still the cache's, unmapped, clean) are dropped again (shmem_undo_range
 * of the !uptodate folios). Returns 0 or -ENOSPC.
 */
export function* fallocatePages(k: Kmm, m: AddressSpace, first: number, last: number): Sliced {
  const added: number[] = []; // index, frame, index, frame ...
  let done = false;
  m.holders++;
  try {
    for (let i = first; i < last; i++) {
      const had = m.pages.has(i) || m.swapped.has(i);
      const pfn = cachePage(k, m, i);
      if (pfn < 0) return -U.ENOSPC;
      if (!had) added.push(i, pfn);
      if (k.slice.spend() && i + 1 < last) {
        k.slice.shared = true;
        yield;
      }
    }
    done = true;
    return 0;
  } finally {
    if (!done) undoFallocate(k, m, added);
    m.holders--;
    releaseIfUnused(k, m);
  }
}

/** Drop the pages of `added` (index, frame pairs) that are still m's, unmapped and clean. */
function undoFallocate(k: Kmm, m: AddressSpace, added: number[]): void {
  for (let j = 0; j < added.length; j += 2) {
    const idx = added[j]!;
    const pfn = added[j + 1]!;
    if (m.pages.load(idx) === pfn && k.pages.mapcount[pfn] === 0 && (k.pages.flags[pfn] & PG_DIRTY) === 0) dropCachePage(k, m, idx);
  }
}
