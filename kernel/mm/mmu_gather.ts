// mmu_gather (mm/mmu_gather.c): what an operation that removes or changes translations
// frees is gathered while it works, and released only after the shootdown of the range
// it covered: no stale translation in any TLB may reach a reused frame. A CPU that does
// not acknowledge in time (it computes without touching memory and cannot be interrupted,
// see tlbflush.ts) makes the release wait in `deferred` until it does; the kernel loop
// calls releaseDeferred between requests.

import type { ControlBlock } from '../../machine/index.ts';
import type { Kmm } from './kmm.ts';
import { USER_TOP, type Mm } from './mm.ts';
import { PG_PGTABLE } from './page_alloc.ts';
import { freeSwapCache } from './swap_state.ts';
import { TlbFlusher } from './tlbflush.ts';

/** Shootdowns: the flusher, and the gathers waiting for CPUs that did not acknowledge yet. */
export class TlbState {
  readonly flusher: TlbFlusher;
  /** Frames and tables freed by shootdowns that a CPU has not acknowledged yet. */
  deferred: { waits: [number, number][]; g: Gather }[] = [];

  constructor(cb: ControlBlock) {
    this.flusher = new TlbFlusher(cb);
  }
}

/** Frames and tables to release after the shootdown of [start, end). */
export class Gather {
  start = Infinity;
  end = -Infinity;
  pages: number[] = [];
  tables: number[] = [];
  /** Releases other than page references (a hugetlb page back to its pool). */
  after: (() => void)[] = [];

  /** A gather holding what this one held (its range too); this one is left empty. */
  takeAll(): Gather {
    const held = new Gather();
    [held.pages, this.pages] = [this.pages, held.pages];
    [held.tables, this.tables] = [this.tables, held.tables];
    [held.after, this.after] = [this.after, held.after];
    held.cover(this.start, this.end);
    return held;
  }

  cover(start: number, end: number): void {
    if (start < this.start) this.start = start;
    if (end > this.end) this.end = end;
  }
}

/** Shoot down [g.start, g.end) on the mm's CPUs, then release what g holds. */
export function finishGather(k: Kmm, mm: Mm, g: Gather, initiator: number): void {
  // An mm whose tables other mms link to (mshare) is cached under their addresses, not its
  // own: any change flushes everything (flush_tlb_all).
  if (mm.flushAll && g.end > g.start) g.cover(0, USER_TOP);
  let cpus: Iterable<number> = mm.cpus;
  if (mm.flushCpus !== null && g.end > g.start) {
    const list = [...mm.flushCpus()];
    k.events.mshareFlushes++;
    k.events.mshareFlushCpus += list.length;
    cpus = list;
  }
  const late = g.end > g.start ? k.tlb.flusher.flushRange(cpus, g.start, g.end, initiator) : [];
  if (late.length > 0) {
    // Some CPU did not acknowledge in time: keep what it may still reach until it does (an
    // empty entry too: a reference page released meanwhile waits for it, see refpage.ts).
    // The lists move over whole, never through a call's arguments: an unmap may free
    // millions of frames.
    k.tlb.deferred.push({ waits: late, g: g.takeAll() });
  }
  releaseGather(k, g);
}

/** Run fn once every shootdown still outstanding has been acknowledged (now if none is). */
export function afterFlushes(k: Kmm, fn: () => void): void {
  if (k.tlb.deferred.length === 0) {
    fn();
    return;
  }
  const g = new Gather();
  g.after.push(fn);
  k.tlb.deferred.push({ waits: k.tlb.deferred.flatMap((d) => d.waits), g });
}

/** Release deferred frames whose CPUs have all acknowledged (the kernel loop calls this). */
export function releaseDeferred(k: Kmm): void {
  if (k.tlb.deferred.length === 0) return;
  k.tlb.deferred = k.tlb.deferred.filter((d) => {
    if (!d.waits.every(([cpu, seq]) => k.tlb.flusher.done(cpu, seq))) return true;
    releaseGather(k, d.g);
    return false;
  });
}

/**
 * Release what g holds without a shootdown: only for an mm that no CPU runs. A page mapped
 * nowhere now leaves the swap cache first, unless a swap entry refers to its slot
 * (free_pages_and_swap_cache): reclaim may have put it there while the release waited.
 */
export function releaseGather(k: Kmm, g: Gather): void {
  for (const pfn of g.pages) {
    freeSwapCache(k, pfn);
    k.pages.putPage(pfn);
  }
  for (const t of g.tables) {
    k.mem.zeroFrame(t);
    k.pages.flags[t] &= ~PG_PGTABLE;
    k.pages.putPage(t);
  }
  for (const f of g.after) f();
  g.pages.length = 0;
  g.tables.length = 0;
  g.after.length = 0;
  g.start = Infinity;
  g.end = -Infinity;
}
