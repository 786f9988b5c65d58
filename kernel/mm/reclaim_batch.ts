// The end of a reclaim pass (mm/vmscan.c's try_to_unmap_flush and the second half of
// shrink_folio_list): the folios reclaim isolated and unmapped wait in an UnmapBatch with
// the flushes their unmapping gathered; once the pass is over, one shootdown per mm covers
// them all, and then they are written out and freed. Linux batches the flushes of each
// shrink_folio_list call (TTU_BATCH_FLUSH); ptlab keeps the batch for the whole pass of
// try_to_free_pages or of a kswapd step, whose priorities would otherwise each shoot down
// the few pages they unmapped.

import { K_PGSTEAL } from '../../machine/index.ts';
import type { Kmm } from './kmm.ts';
import { workingsetEviction } from './lru.ts';
import type { Mm } from './mm.ts';
import { finishGather, type Gather } from './mmu_gather.ts';
import { PG_ACTIVE, PG_DIRTY, PG_LAZYFREE, PG_MLOCKED, PG_REFERENCED, PG_SHMEM, PG_SWAPCACHE, PG_WORKINGSET } from './page_alloc.ts';
import { deleteFromSwapCache, pageout, shmemIndex, shmemWriteout } from './swap_state.ts';

/**
 * What a reclaim pass has unmapped and not freed yet (Linux's per-task tlbflush_unmap_batch
 * with TTU_BATCH_FLUSH, kept for the whole pass): the flushes gathered per mm, and the
 * folios waiting for them with the list each came from (file: bit set). finishBatch sends
 * the flushes, once per mm for the pass, then frees the folios.
 */
export class UnmapBatch {
  readonly flushes = new Map<Mm, Gather>();
  readonly folios: number[] = [];
  readonly file: boolean[] = [];
}

/** Put isolated folios back on the lists their flags name (move_folios_to_lru) and drop the isolation reference. */
export function putback(k: Kmm, folios: number[]): void {
  const pages = k.pages;
  for (const pfn of folios) {
    if ((pages.flags[pfn] & PG_ACTIVE) !== 0) k.reclaim.nonresidentAge += 1 << pages.orderOf(pfn);
    pages.lruAdd(pfn);
    pages.putPage(pfn);
  }
}

/** An isolated folio goes back active (unless it is mlocked: the unevictable list has no active half). */
export function activateFolio(k: Kmm, pfn: number): void {
  const pages = k.pages;
  if ((pages.flags[pfn] & PG_MLOCKED) !== 0) return;
  pages.flags[pfn] |= PG_ACTIVE;
  k.reclaim.ev.pgactivate += 1 << pages.orderOf(pfn);
}

/**
 * The end of a reclaim pass (try_to_unmap_flush, then shrink_folio_list's second half):
 * one shootdown per mm for everything the pass unmapped, then each folio written out if
 * dirty and freed, or put back. Counts pgsteal as kswapd's or direct reclaim's (not for
 * reclaim_pages: null) and returns the pages freed.
 */
export function finishBatch(k: Kmm, batch: UnmapBatch, by: 'kswapd' | 'direct' | null): number {
  const ev = k.reclaim.ev;
  // No stale translation may reach a page that is written out or freed.
  for (const [mm, g] of batch.flushes) finishGather(k, mm, g, -1);
  batch.flushes.clear();
  // A CPU that did not acknowledge (it runs guest code without memory accesses) may still
  // write through its TLB: leave the pages unmapped and in their caches; a later scan
  // writes and frees them (as writeback still in flight would).
  const settled = k.tlb.deferred.length === 0;
  const back: number[] = [];
  let reclaimed = 0;
  for (let i = 0; i < batch.folios.length; i++) {
    const pfn = batch.folios[i];
    const fate = settled ? freeReclaimed(k, pfn) : 'keep';
    if (fate === 'activate') activateFolio(k, pfn);
    if (typeof fate !== 'number') {
      back.push(pfn);
      continue;
    }
    reclaimed += fate;
    if (by === null) continue;
    if (batch.file[i]) ev.pgstealFile += fate;
    else ev.pgstealAnon += fate;
  }
  putback(k, back);
  batch.folios.length = 0;
  batch.file.length = 0;
  if (by === null) return reclaimed;
  if (by === 'kswapd') ev.pgstealKswapd += reclaimed;
  else ev.pgstealDirect += reclaimed;
  k.count(K_PGSTEAL, reclaimed);
  return reclaimed;
}

/**
 * The second half for one unmapped folio: a lazily freed page is dropped; a dirty one
 * written to swap (shmem moving to the swap cache first); then, if only the isolation and
 * cache references are left (__remove_mapping), it leaves its cache with a shadow entry
 * and is freed. The pages freed, or what to do with it instead.
 */
function freeReclaimed(k: Kmm, pfn: number): number | 'activate' | 'keep' {
  const pages = k.pages;
  const f = pages.flags[pfn];
  const nr = 1 << pages.orderOf(pfn);
  if ((f & PG_LAZYFREE) !== 0) {
    // Dropped: the mappings are gone and nothing else holds it.
    if (pages.refcount[pfn] !== 1) return 'keep';
    pages.flags[pfn] &= ~(PG_LAZYFREE | PG_ACTIVE | PG_REFERENCED | PG_WORKINGSET | PG_DIRTY);
    pages.putPage(pfn);
    k.reclaim.ev.pglazyfreed += nr;
    return nr;
  }
  if ((f & PG_SHMEM) !== 0 && (f & PG_SWAPCACHE) === 0) {
    if ((f & PG_DIRTY) !== 0 && !shmemWriteout(k, pfn)) return 'activate';
  } else if ((f & PG_DIRTY) !== 0) {
    pageout(k, pfn);
  }
  if (pages.refcount[pfn] !== 2 || pages.mapcount[pfn] !== 0) return 'keep';
  const shadow = workingsetEviction(k, pfn);
  if ((pages.flags[pfn] & PG_SWAPCACHE) !== 0) {
    deleteFromSwapCache(k, pfn, shadow);
  } else {
    // A clean shmem page never written: the hole it filled comes back (with the shadow).
    const m = k.rmap.mappings.get(pages.rmapOwner[pfn])!;
    const idx = shmemIndex(k, m, pfn);
    m.pages.erase(idx);
    m.shadows.store(idx, shadow);
    pages.putPage(pfn);
  }
  pages.flags[pfn] &= ~(PG_ACTIVE | PG_REFERENCED | PG_WORKINGSET);
  pages.putPage(pfn);
  return nr;
}
