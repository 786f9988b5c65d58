// The swap cache and swap-in (mm/swap_state.c, do_swap_page in mm/memory.c, the swap parts
// of mm/shmem.c): a page that has a swap slot is found by its slot while it is in memory,
// so a swap PTE whose page is still cached is a minor fault, and a page shared by forked
// processes is read once. Readahead (swap_vma_readahead) reads the swapped pages around a
// fault into the cache, unmapped, in a window that grows with its hits.

import {
  _PAGE_ACCESSED, _PAGE_SOFT_DIRTY, K_PGMAJFAULT, K_PSWPIN, K_PSWPOUT, mkPteHi, mkPteLo,
} from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { anonPageRmap } from './anon_vma.ts';
import type { AddressSpace } from './filemap.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { FAULT_DONE, FAULT_OOM, VM_EXEC, VM_LOCKED, VM_WRITE, type Vma } from './mm_types.ts';
import {
  allocPages, GFP_USER, PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, PG_MLOCKED, PG_SHMEM, PG_SWAPCACHE,
} from './page_alloc.ts';
import { pteWordAt, softwareDirty, vmaPteFlags } from './pgtable.ts';
import { _PAGE_SWP_EXCLUSIVE, _PAGE_SWP_SOFT_DIRTY, isSwapPte, swpOffset, swpType } from './swapfile.ts';
import { lruAddVma, workingsetRefault } from './lru.ts';

const PAGE = 4096;
const PMD_SIZE = 2 ** 21;

/**
 * folio_alloc_swap + add_to_swap_cache: a slot for the folio, which enters the swap cache
 * (one more reference, PG_swapcache). False if no slot is free.
 */
export function addToSwapCache(k: Kmm, pfn: number): boolean {
  const swap = k.swap;
  if (swap === null) return false;
  const slot = swap.allocSlot();
  if (slot < 0) return false;
  insertSwapCache(k, pfn, slot);
  k.pages.refcount[pfn]++;
  return true;
}

/** The folio enters the swap cache under `slot` (the caller gives the cache its reference). */
function insertSwapCache(k: Kmm, pfn: number, slot: number): void {
  const swap = k.swap!;
  swap.cache[slot] = 1;
  swap.cachePfn.set(slot, pfn);
  swap.slotOf.set(pfn, slot);
  k.pages.flags[pfn] |= PG_SWAPCACHE;
}

/**
 * __delete_from_swap_cache: the folio leaves the swap cache (its reference dropped); the
 * slot keeps `shadow` if something still refers to it (an eviction), else is freed.
 */
export function deleteFromSwapCache(k: Kmm, pfn: number, shadow = -1): void {
  const swap = k.swap!;
  const slot = swap.slotOf.get(pfn);
  if (slot === undefined) throw new KernelBug(`swap cache: frame ${pfn} is not in it`);
  swap.cachePfn.delete(slot);
  swap.slotOf.delete(pfn);
  k.pages.flags[pfn] &= ~PG_SWAPCACHE;
  k.reclaim.readahead.delete(pfn);
  swap.uncache(slot);
  if (shadow >= 0 && swap.used(slot)) swap.shadows.set(slot, shadow);
  k.pages.putPage(pfn);
}

/**
 * folio_free_swap: a swap-cache folio whose slot nothing else refers to (no swap PTE, no
 * shmem entry) leaves the cache and frees the slot. False if it is still referred to.
 */
export function folioFreeSwap(k: Kmm, pfn: number): boolean {
  const swap = k.swap!;
  const slot = swap.slotOf.get(pfn)!;
  if (swap.map[slot] !== 0) return false;
  deleteFromSwapCache(k, pfn);
  return true;
}

/**
 * free_swap_cache: a page in the swap cache that nothing maps any more leaves it, with its
 * slot, unless a swap entry still refers to the slot (zap, COW, a huge PMD's pages).
 */
export function freeSwapCache(k: Kmm, pfn: number): void {
  if ((k.pages.flags[pfn] & PG_SWAPCACHE) !== 0 && k.pages.mapcount[pfn] === 0) folioFreeSwap(k, pfn);
}

/**
 * free_swap_and_cache for a swap PTE that goes away (zap, exit): one reference fewer to its
 * slot; a cached page nothing maps and nothing else refers to is dropped with it.
 */
export function freeSwapEntry(k: Kmm, off: number): void {
  const swap = k.swap!;
  swap.put(off);
  const pfn = swap.cachePfn.get(off);
  if (pfn !== undefined && swap.map[off] === 0 && k.pages.mapcount[pfn] === 0) deleteFromSwapCache(k, pfn);
}

/**
 * Read slot `off` into the swap cache (__read_swap_cache_async): the cached page, or a new
 * one read from the device and put on the LRU (active if its shadow says it was evicted
 * recently); -1 if no frame was free. `read` tells whether it came from the device.
 */
function readSwapCache(k: Kmm, off: number, vma: Vma | null): { pfn: number; read: boolean } {
  const swap = k.swap!;
  const cached = swap.cachePfn.get(off);
  if (cached !== undefined) return { pfn: cached, read: false };
  const pfn = allocPages(k, 0, GFP_USER);
  if (pfn < 0) return { pfn: -1, read: false };
  swap.read(off, k.mem.u8.subarray(pfn * PAGE, pfn * PAGE + PAGE));
  // The page's reference from the allocation is the swap cache's; its slot is cached again.
  insertSwapCache(k, pfn, off);
  const shadow = swap.shadows.get(off);
  if (shadow !== undefined) {
    swap.shadows.delete(off);
    workingsetRefault(k, pfn, shadow);
  }
  lruAddVma(k, pfn, vma);
  k.count(K_PSWPIN);
  return { pfn, read: true };
}

/**
 * __swapin_nr_pages: the readahead window, from the hits of the last one: hits + 2 rounded
 * up to a power of two (from 4), at most 2^page-cluster, shrinking by at most half; a fault
 * next to the last one with no hits reads 2, any other 1.
 */
function swapinNrPages(k: Kmm, prevPage: number, page: number, prevWin: number): number {
  const r = k.reclaim;
  const max = 2 ** r.pageCluster;
  const hits = r.raHits;
  r.raHits = 0;
  let pages = hits + 2;
  if (pages === 2) {
    if (page !== prevPage + 1 && page !== prevPage - 1) pages = 1;
  } else {
    let roundup = 4;
    while (roundup < pages) roundup *= 2;
    pages = roundup;
  }
  if (pages > max) pages = max;
  const last = Math.floor(prevWin / 2);
  return Math.max(pages, last);
}

/**
 * swap_vma_readahead: the window around the fault (forward after a fault one page on,
 * backward after one page back, centred otherwise), within the VMA and its page table;
 * every swap PTE in it whose page is not cached is read in, unmapped.
 */
function swapVmaReadahead(k: Kmm, mm: Mm, vma: Vma, page: number): void {
  if (k.reclaim.pageCluster === 0) return;
  const info = k.reclaim.raInfo.get(vma) ?? { prev: -2, win: 1 };
  const pfn = page / PAGE;
  const prev = info.prev;
  const win = swapinNrPages(k, prev, pfn, info.win);
  k.reclaim.raInfo.set(vma, { prev: pfn, win });
  if (win <= 1) return;
  let lo: number;
  let hi: number;
  if (pfn === prev + 1) [lo, hi] = [pfn, pfn + win];
  else if (prev === pfn + 1) [lo, hi] = [pfn - win + 1, pfn + 1];
  else {
    const left = Math.floor((win - 1) / 2);
    [lo, hi] = [pfn - left, pfn + win - left];
  }
  const pmdStart = (page - (page % PMD_SIZE)) / PAGE;
  lo = Math.max(lo, vma.start / PAGE, pmdStart);
  hi = Math.min(hi, vma.end / PAGE, pmdStart + PMD_SIZE / PAGE);
  for (let p = lo; p < hi; p++) {
    if (p === pfn) continue;
    const w = pteWordAt(k, mm, p * PAGE);
    if (w < 0) continue;
    const plo = k.ops.lo(w);
    const phi = k.ops.hi(w);
    if (!isSwapPte(plo) || swpType(phi) !== k.swap!.type) continue;
    const off = swpOffset(plo, phi);
    if (k.swap!.cachePfn.has(off)) continue;
    const r = readSwapCache(k, off, vma);
    if (r.pfn < 0) return;
    k.reclaim.readahead.add(r.pfn);
    k.reclaim.ev.swapRa++;
  }
}

/**
 * do_swap_page: a fault on a swap PTE at `page` (word w) of vma. The page comes from the
 * swap cache (a minor fault) or the device (a major one, with readahead); the slot loses
 * this PTE's reference, and the cache lets go of the page when nothing else refers to the
 * slot and swap is more than half full, the VMA is mlocked, or this is a write fault by
 * the page's only user. The page is mapped writable (and exclusive) if the swap PTE said it
 * was exclusive or nothing else holds it; a write fault left over is the caller's COW.
 * Returns FAULT_DONE, FAULT_OOM, or 'wp' when the write must go through do_wp_page.
 */
export function doSwapPage(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, write: boolean): number | 'wp' {
  const swap = k.swap;
  const lo = k.ops.lo(w);
  const hi = k.ops.hi(w);
  if (swap === null || swpType(hi) !== swap.type) throw new KernelBug(`do_swap_page: a swap PTE of no swap area at 0x${page.toString(16)}`);
  const off = swpOffset(lo, hi);
  if (swap.map[off] <= 0) throw new KernelBug(`do_swap_page: swap PTE for slot ${off}, which has no reference`);
  let pfn = swap.cachePfn.get(off) ?? -1;
  const pages = k.pages;
  if (pfn >= 0) {
    if (k.reclaim.readahead.delete(pfn)) {
      k.reclaim.ev.swapRaHit++;
      k.reclaim.raHits++;
    }
  } else {
    swapVmaReadahead(k, mm, vma, page);
    const r = readSwapCache(k, off, vma);
    if (r.pfn < 0) return FAULT_OOM;
    pfn = r.pfn;
    // "Had to read the page from swap area: Major fault."
    k.count(K_PGMAJFAULT);
    mm.majFaults++;
  }
  pages.refcount[pfn]++; // this PTE's reference
  swap.put(off);
  const locked = (vma.flags & VM_LOCKED) !== 0 || (pages.flags[pfn] & PG_MLOCKED) !== 0;
  if (swap.map[off] === 0 && (swap.full() || locked || (write && pages.refcount[pfn] === 2))) deleteFromSwapCache(k, pfn);
  const exclusive = (lo & _PAGE_SWP_EXCLUSIVE) !== 0 || pages.refcount[pfn] === 1;
  const fresh = (pages.flags[pfn] & PG_ANON) === 0;
  if (fresh) {
    // folio_add_new_anon_rmap: a page shared with other processes belongs to the oldest
    // anon_vma of the family, so that rmap finds every one of them.
    pages.flags[pfn] |= PG_ANON;
    anonPageRmap(k, pfn, vma, page);
    if (!exclusive) pages.rmapOwner[pfn] = vma.anonVma!.root.id;
  }
  let flags = _PAGE_ACCESSED;
  let writable = false;
  if (exclusive) {
    pages.flags[pfn] |= PG_ANON_EXCLUSIVE;
    if ((vma.flags & VM_WRITE) !== 0) {
      writable = true;
      if (write) {
        flags |= softwareDirty(k);
        write = false;
      }
    }
  }
  if ((lo & _PAGE_SWP_SOFT_DIRTY) !== 0) flags |= _PAGE_SOFT_DIRTY;
  pages.mapcount[pfn]++;
  mm.rssAnon++;
  mm.swapents--;
  mm.noteRss();
  k.ops.setPte(w, mkPteLo(pfn, vmaPteFlags(vma, writable) | flags), mkPteHi(pfn, (vma.flags & VM_EXEC) === 0));
  return write ? 'wp' : FAULT_DONE;
}

/**
 * shmem_swapin_folio: page `idx` of a shmem file is in swap: read it through the swap
 * cache, put it back in the file's page cache, and free the slot (the page is dirty again:
 * it has no copy anywhere else). The frame, or -1 if none was free.
 */
export function shmemSwapin(k: Kmm, m: AddressSpace, idx: number, vma: Vma | null): number {
  const off = m.swapped.load(idx);
  const swap = k.swap!;
  const r = readSwapCache(k, off, vma);
  if (r.pfn < 0) return -1;
  if (r.read) k.count(K_PGMAJFAULT);
  const pfn = r.pfn;
  const pages = k.pages;
  pages.flags[pfn] = (pages.flags[pfn] & ~PG_ANON) | PG_SHMEM | PG_DIRTY;
  pages.rmapOwner[pfn] = m.ino;
  pages.rmapIndex[pfn] = idx | 0;
  k.reclaim.readahead.delete(pfn);
  // The page cache takes the swap cache's reference; the entry's reference to the slot goes.
  pages.refcount[pfn]++;
  m.swapped.erase(idx);
  m.pages.store(idx, pfn);
  swap.put(off);
  deleteFromSwapCache(k, pfn);
  return pfn;
}

/** The page-cache index of shmem page pfn in m (the rmap index holds its low 32 bits). */
export function shmemIndex(k: Kmm, m: AddressSpace, pfn: number): number {
  const low = k.pages.rmapIndex[pfn] >>> 0;
  // Above 2^32 pages the index is low plus a multiple of 2^32.
  for (let idx = low; idx < 2 ** 52; idx += 2 ** 32) if (m.pages.load(idx) === pfn) return idx;
  throw new KernelBug(`reclaim: shmem page ${pfn} not in its page cache`);
}

/** pageout of a dirty swap-cache page: its content to its slot (swap_writepage). */
export function pageout(k: Kmm, pfn: number): void {
  const slot = k.swap!.slotOf.get(pfn)!;
  k.swap!.write(slot, k.mem.u8.subarray(pfn * PAGE, pfn * PAGE + PAGE));
  k.pages.flags[pfn] &= ~PG_DIRTY;
  k.count(K_PSWPOUT);
}

/**
 * shmem_writeout: a dirty shmem page moves from its file's page cache to the swap cache;
 * the page cache keeps the swap entry instead (one reference to the slot), and the page is
 * written. False if no slot is free (the page stays dirty and active).
 */
export function shmemWriteout(k: Kmm, pfn: number): boolean {
  const swap = k.swap;
  if (swap === null || swap.freeSlots === 0) return false;
  const m = k.rmap.mappings.get(k.pages.rmapOwner[pfn])!;
  const idx = shmemIndex(k, m, pfn);
  if (!addToSwapCache(k, pfn)) return false;
  const slot = swap.slotOf.get(pfn)!;
  swap.dup(slot);
  m.pages.erase(idx);
  m.swapped.store(idx, slot);
  // The page cache's reference to the page becomes the swap cache's.
  k.pages.refcount[pfn]--;
  pageout(k, pfn);
  return true;
}
