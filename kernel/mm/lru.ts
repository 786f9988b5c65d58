// The LRU lists' side of memory management that is not reclaim itself (mm/swap.c,
// mm/mlock.c's folio part, mm/workingset.c): folios going on their lists as they are
// mapped (unevictable when mlocked), accesses through read/write (second chance),
// MADV_COLD and MADV_FREE moving folios between lists, and workingset detection: the
// shadow entry an evicted page leaves, and what a refault with one says. Also reclaim's
// state and events (vmscan.ts does the reclaiming).

import type { Kmm } from './kmm.ts';
import { VM_LOCKED, type Vma } from './mm_types.ts';
import {
  LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, PG_ACTIVE, PG_ANON, PG_LAZYFREE, PG_LRU,
  PG_MLOCKED, PG_REFERENCED, PG_SWAPCACHE, PG_WORKINGSET,
} from './page_alloc.ts';

export const SWAP_CLUSTER_MAX = 32;
export const DEF_PRIORITY = 12;
/** Rounds of direct reclaim without progress before the OOM killer (MAX_RECLAIM_RETRIES). */
export const MAX_RECLAIM_RETRIES = 16;

/**
 * /proc/vmstat events of reclaim, swap and the workingset (count_vm_event). Those `ptlab
 * stat` shows too (pswpin, pswpout, allocstall, the rmap counters) are kernel counters only
 * (Kmm.count, machine/counters.ts), read from there.
 */
export class ReclaimEvents {
  pgscanKswapd = 0;
  pgscanDirect = 0;
  pgscanAnon = 0;
  pgscanFile = 0;
  pgstealKswapd = 0;
  pgstealDirect = 0;
  pgstealAnon = 0;
  pgstealFile = 0;
  pgrefill = 0;
  pgactivate = 0;
  pgdeactivate = 0;
  pglazyfree = 0;
  pglazyfreed = 0;
  workingsetRefaultAnon = 0;
  workingsetRefaultFile = 0;
  workingsetActivateAnon = 0;
  workingsetActivateFile = 0;
  workingsetRestoreAnon = 0;
  workingsetRestoreFile = 0;
  swapRa = 0;
  swapRaHit = 0;
  kswapdRuns = 0;
}

/** Reclaim's state and knobs: vm.swappiness, vm.page-cluster, kswapd's. */
export class ReclaimState {
  /** Reclaim is running (PF_MEMALLOC): its own allocations (a table to split a THP) may take the reserve below min. */
  reserveOk = false;
  /** kswapd was woken and has not brought free memory above high yet. */
  kswapdWoken = false;
  kswapdPriority = DEF_PRIORITY;
  /** Runs of kswapd that reclaimed nothing (kswapd_failures); at MAX_RECLAIM_RETRIES it stops until direct reclaim frees something. */
  kswapdFailures = 0;
  swappiness = 60;
  pageCluster = 3;
  /** The lruvec's nonresident age (workingset.c): evictions and activations, in pages. */
  nonresidentAge = 0;
  /** Reclaim cost of each type (lru_note_cost): [anon, file]. */
  readonly cost = [0, 0];
  /** Readahead pages in the swap cache not hit yet (PG_readahead), and hits since the last window. */
  readonly readahead = new Set<number>();
  raHits = 0;
  /** Per VMA, the last swap fault's page and readahead window (vma->swap_readahead_info). */
  readonly raInfo = new WeakMap<Vma, { prev: number; win: number }>();
  readonly ev = new ReclaimEvents();

  wakeKswapd(): void {
    if (this.kswapdFailures < MAX_RECLAIM_RETRIES) this.kswapdWoken = true;
  }
}

// --- adding folios to the LRU ---------------------------------------------------------------------

/** folio_add_lru_vma: a folio newly mapped in vma goes on the LRU (unevictable if vma is mlocked). */
export function lruAddVma(k: Kmm, pfn: number, vma: Vma | null): void {
  if (vma !== null && (vma.flags & VM_LOCKED) !== 0) mlockFolio(k, pfn);
  k.pages.lruAdd(pfn);
}

/** mlock_folio: the folio is mlocked (unevictable); moved there if on a list. */
export function mlockFolio(k: Kmm, pfn: number): void {
  const pages = k.pages;
  if ((pages.flags[pfn] & PG_MLOCKED) !== 0) return;
  const onLru = (pages.flags[pfn] & PG_LRU) !== 0;
  if (onLru) pages.lruDel(pfn);
  pages.flags[pfn] |= PG_MLOCKED;
  pages.flags[pfn] &= ~PG_ACTIVE;
  pages.mlocked += 1 << pages.orderOf(pfn);
  if (onLru) pages.lruAdd(pfn);
}

/**
 * munlock_folio: the folio leaves the unevictable list for the inactive one. If another
 * VM_LOCKED VMA still maps it, reclaim finds that VMA and mlocks it again, as Linux's does
 * when its mlock count runs out.
 */
export function munlockFolio(k: Kmm, pfn: number): void {
  const pages = k.pages;
  if ((pages.flags[pfn] & PG_MLOCKED) === 0) return;
  const onLru = (pages.flags[pfn] & PG_LRU) !== 0;
  if (onLru) pages.lruDel(pfn);
  pages.flags[pfn] &= ~PG_MLOCKED;
  pages.mlocked -= 1 << pages.orderOf(pfn);
  if (onLru) pages.lruAdd(pfn);
}

/** mark_page_accessed for an access not through a mapping (read/write of a tmpfs file). */
export function folioMarkAccessed(k: Kmm, pfn: number): void {
  const pages = k.pages;
  const f = pages.flags[pfn];
  if ((f & PG_ACTIVE) !== 0 || (f & PG_MLOCKED) !== 0) {
    pages.flags[pfn] |= PG_REFERENCED;
    return;
  }
  if ((f & PG_REFERENCED) === 0) {
    pages.flags[pfn] |= PG_REFERENCED;
    return;
  }
  // The second touch on the inactive list activates (folio_activate).
  pages.flags[pfn] &= ~PG_REFERENCED;
  if ((f & PG_LRU) === 0) return;
  pages.lruDel(pfn);
  pages.flags[pfn] |= PG_ACTIVE;
  pages.lruAdd(pfn);
  k.reclaim.ev.pgactivate += 1 << pages.orderOf(pfn);
}

/**
 * MADV_COLD (deactivate_file_folio / lru_deactivate): the folio moves to the inactive list,
 * unreferenced, to be reclaimed before others.
 */
export function deactivateFolio(k: Kmm, pfn: number): void {
  const pages = k.pages;
  if ((pages.flags[pfn] & (PG_LRU | PG_MLOCKED)) !== PG_LRU) return;
  const wasActive = (pages.flags[pfn] & PG_ACTIVE) !== 0;
  pages.lruDel(pfn);
  pages.flags[pfn] &= ~(PG_ACTIVE | PG_REFERENCED);
  pages.lruAdd(pfn);
  if (wasActive) k.reclaim.ev.pgdeactivate += 1 << pages.orderOf(pfn);
}

/**
 * folio_mark_lazyfree (MADV_FREE): a clean anonymous folio is no longer swap-backed; it
 * moves to the inactive file list, and reclaim drops it unless it is written again.
 */
export function markLazyfree(k: Kmm, pfn: number): void {
  const pages = k.pages;
  const f = pages.flags[pfn];
  if ((f & (PG_ANON | PG_LRU)) !== (PG_ANON | PG_LRU) || (f & (PG_SWAPCACHE | PG_LAZYFREE | PG_MLOCKED)) !== 0) return;
  pages.lruDel(pfn);
  pages.flags[pfn] = (pages.flags[pfn] & ~(PG_ACTIVE | PG_REFERENCED)) | PG_LAZYFREE;
  pages.lruAdd(pfn);
  k.reclaim.ev.pglazyfree += 1 << pages.orderOf(pfn);
}
// --- workingset detection ------------------------------------------------------------------------

/** workingset_eviction: the shadow entry left where the evicted folio was. */
export function workingsetEviction(k: Kmm, pfn: number): number {
  const r = k.reclaim;
  const shadow = r.nonresidentAge * 2 + ((k.pages.flags[pfn] & PG_WORKINGSET) !== 0 ? 1 : 0);
  r.nonresidentAge += 1 << k.pages.orderOf(pfn);
  return shadow;
}

/**
 * workingset_refault: a folio read back where a shadow was. If it was evicted more recently
 * than the workingset could have been (the refault distance fits in the active lists), it
 * starts active; if it had been active before, it is a restore (thrashing).
 */
export function workingsetRefault(k: Kmm, pfn: number, shadow: number): void {
  const r = k.reclaim;
  const pages = k.pages;
  const file = (pages.flags[pfn] & PG_LAZYFREE) !== 0;
  const ev = r.ev;
  if (file) ev.workingsetRefaultFile++;
  else ev.workingsetRefaultAnon++;
  const distance = r.nonresidentAge - Math.floor(shadow / 2);
  const lp = pages.lruPages;
  let size = lp[LRU_ACTIVE_FILE];
  if (!file) size += lp[LRU_INACTIVE_FILE];
  if (k.swap !== null && k.swap.freeSlots > 0) {
    size += lp[LRU_ACTIVE_ANON];
    if (file) size += lp[LRU_INACTIVE_ANON];
  }
  if (distance > size) return;
  pages.flags[pfn] |= PG_ACTIVE;
  r.nonresidentAge += 1;
  if (file) ev.workingsetActivateFile++;
  else ev.workingsetActivateAnon++;
  if (shadow % 2 === 1) {
    pages.flags[pfn] |= PG_WORKINGSET;
    if (file) ev.workingsetRestoreFile++;
    else ev.workingsetRestoreAnon++;
  }
}
