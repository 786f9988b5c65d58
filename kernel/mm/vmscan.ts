// Page reclaim (mm/vmscan.c, mm/swap.c, mm/workingset.c): the classic two-list LRU of one
// node with no memory cgroups. Folios enter the inactive list; reclaim scans lists from the
// tail in batches of SWAP_CLUSTER_MAX, asks folio_referenced whether each was used since it
// last looked (second chance), unmaps what it evicts from every process through the reverse
// map (try_to_unmap: swap PTEs for anonymous memory, none for shmem), writes dirty pages to
// swap and frees them, leaving shadow entries that tell a later refault how recently the
// page was evicted (workingset detection). Mlocked pages sit on the unevictable list;
// hugetlb pages are never on an LRU list. What a pass unmaps is flushed and freed once at
// its end (reclaim_batch.ts).
//
// Who reclaims (ptlab's kernel thread serves one request at a time, so reclaim runs where
// nothing is half done, see kernel.ts):
//   kswapd    woken when an allocation leaves free memory below the low watermark, runs
//             between requests (Kernel.tick) until free memory is above high;
//   direct    a user fault (or a populate loop) whose page allocation would go below min
//             reclaims SWAP_CLUSTER_MAX pages and retries; 16 rounds without progress
//             call the OOM killer (out_of_memory).
//
// The rmap counters (ptlab's own): per folio_referenced and try_to_unmap call, the VMAs
// and PTEs the walk visited, the accessed bits it cleared and the CPUs its TLB flushes
// went to: what the mshare reviewer asked about (how many PTEs reclaim reads for a page a
// thousand processes map).

import {
  _PAGE_DIRTY, _PAGE_SOFT_DIRTY, K_ALLOCSTALL, K_PGSCAN, K_RMAP_PTE_VISITS, K_RMAP_VMA_VISITS, pteLeaf,
} from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { splitHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import {
  DEF_PRIORITY, MAX_RECLAIM_RETRIES, mlockFolio, SWAP_CLUSTER_MAX,
} from './lru.ts';
import type { Mm } from './mm.ts';
import { VM_EXEC, VM_LOCKED } from './mm_types.ts';
import { type Gather, releaseDeferred } from './mmu_gather.ts';
import {
  LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, PG_ACTIVE, PG_ANON, PG_DIRTY, PG_LAZYFREE,
  PG_LRU, PG_MLOCKED, PG_REFERENCED, PG_SWAPCACHE, PG_WORKINGSET,
} from './page_alloc.ts';
import { pmdWord } from './pgtable.ts';
import { folioReferenced, rmapVmas, tryToUnmap } from './rmap.ts';
import { activateFolio, finishBatch, putback, UnmapBatch } from './reclaim_batch.ts';
import { addToSwapCache } from './swap_state.ts';

/** What one reclaim pass is asked to do (struct scan_control). */
interface ScanControl {
  nrToReclaim: number;
  nrReclaimed: number;
  nrScanned: number;
  priority: number;
  kswapd: boolean;
  /** May age (deactivate) the anon or file active list: bit 0 anon, bit 1 file. */
  mayDeactivate: number;
  fileIsTiny: boolean;
  /** What the pass unmapped, to be flushed and freed at its end. */
  batch: UnmapBatch;
}

// --- shrinking the lists -------------------------------------------------------------------------

/** inactive_is_low: the inactive list is small next to the active one (ratio by total size). */
function inactiveIsLow(k: Kmm, inactiveLru: number): boolean {
  const inactive = k.pages.lruPages[inactiveLru];
  const active = k.pages.lruPages[inactiveLru + 1];
  const gb = Math.floor((inactive + active) / 2 ** 18);
  const ratio = gb > 0 ? Math.floor(Math.sqrt(10 * gb)) : 1;
  return inactive * ratio < active;
}

/** Take up to `nr` pages' worth of folios off the tail of `lru` (isolate_lru_folios), each with a reference. */
function isolate(k: Kmm, lru: number, nr: number): { folios: number[]; scanned: number } {
  const pages = k.pages;
  const folios: number[] = [];
  let scanned = 0;
  while (scanned < nr) {
    const pfn = pages.lruTailOf(lru);
    if (pfn === 0) break;
    isolateFolio(k, pfn);
    folios.push(pfn);
    scanned += 1 << pages.orderOf(pfn);
  }
  return { folios, scanned };
}

/** folio_isolate_lru: off its list, with a reference for the reclaimer. */
function isolateFolio(k: Kmm, pfn: number): void {
  k.pages.lruDel(pfn);
  k.pages.refcount[pfn]++;
}

/**
 * shrink_active_list: age `nr` pages of an active list. Every folio is deactivated (its
 * accessed bits cleared on the way), except a referenced executable file page.
 */
function shrinkActiveList(k: Kmm, nr: number, lru: number): void {
  const pages = k.pages;
  const ev = k.reclaim.ev;
  const { folios, scanned } = isolate(k, lru, nr);
  ev.pgrefill += scanned;
  let deactivated = 0;
  for (const pfn of folios) {
    if ((pages.flags[pfn] & PG_MLOCKED) !== 0) continue;
    const { referenced, vmFlags } = folioReferenced(k, pfn);
    if ((vmFlags & VM_LOCKED) !== 0) {
      mlockFolio(k, pfn);
      continue;
    }
    if (referenced > 0 && (vmFlags & VM_EXEC) !== 0 && (pages.flags[pfn] & PG_LAZYFREE) !== 0) continue;
    pages.flags[pfn] = (pages.flags[pfn] & ~(PG_ACTIVE | PG_REFERENCED)) | PG_WORKINGSET;
    deactivated += 1 << pages.orderOf(pfn);
  }
  ev.pgdeactivate += deactivated;
  putback(k, folios);
}

type Verdict = 'activate' | 'keep' | 'reclaim' | 'reclaim-clean';

/** folio_check_references: what the accessed bits and PG_referenced say of an inactive folio. */
function checkReferences(k: Kmm, pfn: number): Verdict {
  const pages = k.pages;
  const { referenced, vmFlags } = folioReferenced(k, pfn);
  if ((vmFlags & VM_LOCKED) !== 0) {
    mlockFolio(k, pfn);
    return 'activate';
  }
  const file = (pages.flags[pfn] & PG_LAZYFREE) !== 0;
  const referencedFolio = (pages.flags[pfn] & PG_REFERENCED) !== 0;
  pages.flags[pfn] &= ~PG_REFERENCED;
  if (referenced > 0) {
    pages.flags[pfn] |= PG_REFERENCED;
    // A page used in two VMAs, or twice in a row, is activated; once, it gets another trip.
    if (referencedFolio || referenced > 1) return 'activate';
    if ((vmFlags & VM_EXEC) !== 0 && file) return 'activate';
    return 'keep';
  }
  return referencedFolio && file ? 'reclaim-clean' : 'reclaim';
}

/**
 * Split a transparent huge page that reclaim isolated (split_folio_to_list): its PMD
 * mappings first, then the folio; the 511 pages after the head go on the inactive list.
 * False if a PMD could not be split (no frame for its table), or if the folio is mapped by
 * nothing but held by another reference (it cannot be split under that pin).
 */
function splitIsolatedThp(k: Kmm, pfn: number): boolean {
  const pages = k.pages;
  for (const { vma, va } of rmapVmas(k, pfn)) {
    // A reverse-map walk as try_to_unmap's is (counted and priced alike), its entries PMDs.
    k.count(K_RMAP_VMA_VISITS);
    k.count(K_RMAP_PTE_VISITS);
    const mm = vma.mm!;
    const pw = pmdWord(k, mm, va, false);
    if (pw < 0 || !pteLeaf(k.ops.lo(pw))) continue;
    if (!splitHugePmd(k, mm, pw, va - (va % 2 ** 21), -1)) return false;
  }
  if (pages.orderOf(pfn) !== 0) {
    if (pages.mapcount[pfn] !== 0) throw new KernelBug(`reclaim: THP ${pfn} mapped ${pages.mapcount[pfn]} times, by no PMD`);
    // Mapped by nothing, yet not freed: a reference beyond reclaim's holds it (an
    // mmu_gather whose shootdown is still outstanding). can_split_folio fails on such
    // an extra pin in Linux too, and the folio stays.
    return false;
  }
  for (let i = 1; i < 512; i++) {
    pages.refcount[pfn + i]--; // the isolation reference splitBlock copied
    pages.lruAdd(pfn + i);
  }
  return true;
}

/**
 * shrink_folio_list, its first half for a whole isolated list: decide for each folio,
 * unmap what goes (the flushes gathered in `batch`), and leave it in `batch` to be written
 * and freed by finishBatch; the rest go back to the lists (activated where reclaim said
 * so). Returns the pages left in the batch.
 */
function shrinkFolioList(k: Kmm, folios: number[], batch: UnmapBatch, file: boolean, ignoreReferences = false): number {
  const pages = k.pages;
  const back: number[] = [];
  let pending = 0;
  for (const pfn of folios) {
    const fate = unmapForReclaim(k, pfn, ignoreReferences, batch.flushes);
    if (fate === 'activate') activateFolio(k, pfn);
    if (fate !== 'candidate') {
      back.push(pfn);
      continue;
    }
    batch.folios.push(pfn);
    batch.file.push(file);
    pending += 1 << pages.orderOf(pfn);
  }
  putback(k, back);
  return pending;
}

/**
 * The first half of shrink_folio_list for one folio: the reference check (unless told to
 * ignore it), a swap slot for anonymous memory (a THP split first), and try_to_unmap.
 * 'candidate': unmapped, to be written and freed once the flushes are done.
 */
function unmapForReclaim(k: Kmm, pfn: number, ignoreReferences: boolean, flushes: Map<Mm, Gather>): 'activate' | 'keep' | 'candidate' {
  const pages = k.pages;
  const f = pages.flags[pfn];
  if ((f & PG_MLOCKED) !== 0) return 'keep';
  const verdict = ignoreReferences || (pages.mapcount[pfn] === 0 && (f & PG_REFERENCED) === 0) ? 'reclaim' : checkReferences(k, pfn);
  if (verdict === 'activate' || verdict === 'keep') return verdict;
  const anon = (f & PG_ANON) !== 0;
  const lazy = (f & PG_LAZYFREE) !== 0;
  if (anon && !lazy && (f & PG_SWAPCACHE) === 0) {
    // Anonymous memory needs a slot first. A THP is split (ptlab swaps 4 KiB pages; Linux
    // splits too when no THP-sized slot run is free, even with no swap at all); with no
    // slot (no swap, or full) it stays, active.
    if (pages.orderOf(pfn) > 0 && !splitIsolatedThp(k, pfn)) return 'activate';
    if (!addToSwapCache(k, pfn)) return 'activate';
    pages.flags[pfn] |= PG_DIRTY;
  } else if (lazy && pages.orderOf(pfn) > 0 && !splitIsolatedThp(k, pfn)) {
    return 'keep';
  }
  if (pages.mapcount[pfn] > 0 && !tryToUnmap(k, pfn, flushes)) return 'activate';
  return 'candidate';
}

/**
 * shrink_inactive_list: reclaim from up to `nr` pages at the tail of an inactive list. The
 * folios unmapped wait in sc.batch; returns their pages (freed when the pass ends).
 */
function shrinkInactiveList(k: Kmm, nr: number, lru: number, sc: ScanControl): number {
  const ev = k.reclaim.ev;
  const { folios, scanned } = isolate(k, lru, nr);
  if (folios.length === 0) return 0;
  sc.nrScanned += scanned;
  if (sc.kswapd) ev.pgscanKswapd += scanned;
  else ev.pgscanDirect += scanned;
  if (lru === LRU_INACTIVE_FILE) ev.pgscanFile += scanned;
  else ev.pgscanAnon += scanned;
  k.count(K_PGSCAN, scanned);
  const reclaimed = shrinkFolioList(k, folios, sc.batch, lru === LRU_INACTIVE_FILE);
  // lru_note_cost: pages rotated back cost the type that was scanned.
  k.reclaim.cost[lru === LRU_INACTIVE_FILE ? 1 : 0] += scanned - reclaimed;
  return reclaimed;
}

/** get_scan_count: how many pages of each evictable list to scan at this priority. */
function scanCounts(k: Kmm, sc: ScanControl): number[] {
  const r = k.reclaim;
  const lp = k.pages.lruPages;
  const nr = [0, 0, 0, 0];
  const swapOk = k.swap !== null && k.swap.freeSlots > 0;
  let balance: 'file' | 'anon' | 'equal' | 'fract';
  if (!swapOk) balance = 'file';
  else if (sc.priority === 0 && r.swappiness > 0) balance = 'equal';
  else if (sc.fileIsTiny) balance = 'anon';
  else balance = 'fract';
  // calculate_pressure_balance: swappiness weighs anon against file, each by its cost.
  const total = r.cost[0] + r.cost[1];
  if (total > (lp[0] + lp[1] + lp[2] + lp[3]) / 4) {
    r.cost[0] /= 2;
    r.cost[1] /= 2;
  }
  const ap = r.swappiness * (total + 1) / (r.cost[0] + 1);
  const fp = (200 - r.swappiness) * (total + 1) / (r.cost[1] + 1);
  for (let lru = 0; lru < 4; lru++) {
    const file = lru >= LRU_INACTIVE_FILE;
    let scan = Math.floor(lp[lru] / 2 ** sc.priority);
    if (balance === 'fract') scan = Math.floor(scan * (file ? fp : ap) / (ap + fp + 1));
    else if (balance === 'file' && !file) scan = 0;
    else if (balance === 'anon' && file) scan = 0;
    nr[lru] = scan;
  }
  return nr;
}

/** shrink_lruvec: scan the lists in proportion, SWAP_CLUSTER_MAX at a time; then age anon if its inactive list is low. */
function shrinkLruvec(k: Kmm, sc: ScanControl): void {
  const nr = scanCounts(k, sc);
  const proportional = !sc.kswapd && sc.priority === DEF_PRIORITY;
  let reclaimed = 0;
  while (nr[LRU_INACTIVE_ANON] > 0 || nr[LRU_ACTIVE_FILE] > 0 || nr[LRU_INACTIVE_FILE] > 0) {
    for (let lru = 0; lru < 4; lru++) {
      if (nr[lru] === 0) continue;
      const n = Math.min(nr[lru], SWAP_CLUSTER_MAX);
      nr[lru] -= n;
      if (lru === LRU_ACTIVE_ANON || lru === LRU_ACTIVE_FILE) {
        if ((sc.mayDeactivate & (lru === LRU_ACTIVE_FILE ? 2 : 1)) !== 0) shrinkActiveList(k, n, lru);
      } else {
        reclaimed += shrinkInactiveList(k, n, lru, sc);
      }
    }
    if (reclaimed >= sc.nrToReclaim - sc.nrReclaimed && !proportional) break;
  }
  sc.nrReclaimed += reclaimed;
  if (k.swap !== null && k.swap.freeSlots > 0 && inactiveIsLow(k, LRU_INACTIVE_ANON)) shrinkActiveList(k, SWAP_CLUSTER_MAX, LRU_ACTIVE_ANON);
}

/** shrink_node with prepare_scan_control: which active lists may be aged, whether file memory is tiny. */
function shrinkNode(k: Kmm, sc: ScanControl): void {
  const lp = k.pages.lruPages;
  sc.mayDeactivate = (inactiveIsLow(k, LRU_INACTIVE_ANON) ? 1 : 0) | (inactiveIsLow(k, LRU_INACTIVE_FILE) ? 2 : 0);
  const file = lp[LRU_INACTIVE_FILE] + lp[LRU_ACTIVE_FILE];
  const anon = lp[LRU_INACTIVE_ANON] + lp[LRU_ACTIVE_ANON];
  sc.fileIsTiny = file + k.pages.nrFree <= k.pages.wmark.high && (sc.mayDeactivate & 1) === 0 && Math.floor(anon / 2 ** sc.priority) > 0;
  shrinkLruvec(k, sc);
}

/**
 * try_to_free_pages: direct reclaim for an allocation that found free memory below min:
 * SWAP_CLUSTER_MAX pages, from priority DEF_PRIORITY down until that many were freed.
 * Returns the pages reclaimed.
 */
export function tryToFreePages(k: Kmm, stall = true): number {
  // allocstall counts allocations that stalled in direct reclaim, not a call's entry.
  if (stall) {
    k.count(K_ALLOCSTALL);
  }
  const sc: ScanControl = {
    nrToReclaim: SWAP_CLUSTER_MAX, nrReclaimed: 0, nrScanned: 0, priority: DEF_PRIORITY, kswapd: false, mayDeactivate: 0,
    fileIsTiny: false, batch: new UnmapBatch(),
  };
  memalloc(k, () => {
    // The priorities count what they unmapped; what the pass frees is known at its end.
    for (; sc.priority >= 0; sc.priority--) {
      shrinkNode(k, sc);
      if (sc.nrReclaimed >= sc.nrToReclaim) break;
    }
    sc.nrReclaimed = finishBatch(k, sc.batch, 'direct');
  });
  // Direct reclaim that frees memory lets a kswapd that gave up try again.
  if (sc.nrReclaimed > 0) k.reclaim.kswapdFailures = 0;
  return sc.nrReclaimed;
}

/**
 * The slow path of a user page allocation that found free memory at the min watermark
 * (__alloc_pages_slowpath): direct reclaim until a page can be had, giving up after
 * MAX_RECLAIM_RETRIES rounds that reclaim nothing. True: retry the fault; false: out of
 * memory (the caller asks the OOM killer). Free memory above min (the allocation failed
 * for another reason, such as injected failure) is out of memory at once.
 */
export function reclaimForAllocation(k: Kmm): boolean {
  const pages = k.pages;
  if (pages.nrFree - 1 >= pages.wmark.min) return false;
  let noProgress = 0;
  while (pages.nrFree - 1 < pages.wmark.min) {
    releaseDeferred(k);
    if (pages.nrFree - 1 >= pages.wmark.min) break;
    if (tryToFreePages(k) === 0 && !shouldReclaimRetry(k, ++noProgress)) return false;
  }
  return true;
}

/**
 * should_reclaim_retry after `noProgress` rounds that freed nothing: not after
 * MAX_RECLAIM_RETRIES, nor once free memory and what reclaim could still free (the
 * evictable lists: file, and anonymous while swap has a free slot; never the unevictable
 * list of mlocked pages), less the share of it the failed rounds say it cannot, would not
 * lift free memory above min. Memory that is mostly mlocked goes to the OOM killer after
 * one round, not sixteen.
 */
function shouldReclaimRetry(k: Kmm, noProgress: number): boolean {
  if (noProgress >= MAX_RECLAIM_RETRIES) return false;
  const pages = k.pages;
  const lp = pages.lruPages;
  let reclaimable = lp[LRU_INACTIVE_FILE] + lp[LRU_ACTIVE_FILE];
  if (k.swap !== null && k.swap.freeSlots > 0) reclaimable += lp[LRU_INACTIVE_ANON] + lp[LRU_ACTIVE_ANON];
  const available = reclaimable - Math.ceil(noProgress * reclaimable / MAX_RECLAIM_RETRIES) + pages.nrFree;
  return available > pages.wmark.min;
}

/**
 * Direct reclaim at a system call's entry while free memory is below low (the call's own
 * allocations would stall there in Linux): until it is above low, or a round frees nothing.
 */
export function reclaimBeforeCall(k: Kmm): void {
  const pages = k.pages;
  while (pages.nrFree < pages.wmark.low) {
    releaseDeferred(k);
    if (pages.nrFree >= pages.wmark.low || tryToFreePages(k, false) === 0) return;
  }
}

/**
 * One step of kswapd (balance_pgdat), run between requests while it is awake: a pass of
 * shrink_node at its current priority towards the high watermark. Each step that falls
 * short lowers the priority (scans more); a full descent with nothing reclaimed counts a
 * failure, and after MAX_RECLAIM_RETRIES kswapd sleeps until direct reclaim succeeds.
 */
export function kswapdStep(k: Kmm): void {
  const r = k.reclaim;
  const pages = k.pages;
  if (!r.kswapdWoken) return;
  if (pages.nrFree >= pages.wmark.high || r.kswapdFailures >= MAX_RECLAIM_RETRIES) {
    r.kswapdWoken = false;
    r.kswapdPriority = DEF_PRIORITY;
    return;
  }
  r.ev.kswapdRuns++;
  const want = pages.wmark.high - pages.nrFree;
  const sc: ScanControl = {
    nrToReclaim: Math.max(SWAP_CLUSTER_MAX, Math.min(want, 4 * SWAP_CLUSTER_MAX)), nrReclaimed: 0, nrScanned: 0,
    priority: r.kswapdPriority, kswapd: true, mayDeactivate: 0, fileIsTiny: false, batch: new UnmapBatch(),
  };
  // kswapd's own clock (clock.ts): its work is charged to no process.
  k.clock.background(() => memalloc(k, () => {
    shrinkNode(k, sc);
    sc.nrReclaimed = finishBatch(k, sc.batch, 'kswapd');
  }));
  if (sc.nrReclaimed >= sc.nrToReclaim) return;
  if (r.kswapdPriority > 0) {
    r.kswapdPriority--;
    return;
  }
  r.kswapdPriority = DEF_PRIORITY;
  if (sc.nrReclaimed === 0) r.kswapdFailures++;
}

/**
 * reclaim_pages (MADV_PAGEOUT): reclaim these folios now, whatever their accessed bits say;
 * those on no LRU list (isolated, unevictable memory) are left. Returns the pages freed.
 */
export function reclaimPages(k: Kmm, pfns: Iterable<number>): number {
  const pages = k.pages;
  const folios: number[] = [];
  for (const pfn of pfns) {
    if ((pages.flags[pfn] & (PG_LRU | PG_MLOCKED)) !== PG_LRU) continue;
    isolateFolio(k, pfn);
    folios.push(pfn);
  }
  let n = 0;
  memalloc(k, () => {
    const batch = new UnmapBatch();
    shrinkFolioList(k, folios, batch, false, true);
    n = finishBatch(k, batch, null);
  });
  return n;
}

/** Run fn as reclaim (PF_MEMALLOC): its allocations may take the reserve. */
function memalloc(k: Kmm, fn: () => void): void {
  const was = k.reclaim.reserveOk;
  k.reclaim.reserveOk = true;
  try {
    fn();
  } finally {
    k.reclaim.reserveOk = was;
  }
}
