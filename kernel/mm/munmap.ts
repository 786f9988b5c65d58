// munmap (mm/vma.c: do_vmi_munmap and the vms_* steps, which MAP_FIXED shares): taking
// mappings away, their page tables, and the frames and tables only they used, flushed from
// every TLB before anything is freed. exit_mmap is exit_mmap.ts.

import { EINVAL, ENOMEM, EPERM, TASK_SIZE } from '../uapi.ts';
import type { Kmm } from './kmm.ts';
import { freePgtables, unmapVmaRange } from './memory.ts';
import { type Mm, USER_TOP, vmStatAccount } from './mm.ts';
import { PAGE_SIZE as PAGE, pageAlign, type Vma } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { SPAN } from './pgtable.ts';
import { finish, type MaybeSliced, type Sliced } from './slice.ts';
import { inPieces } from './slice_range.ts';
import { rangeSplitError, releaseVma, splitVma } from './vma.ts';

/** munmap(2) in one go. */
export function sysMunmap(k: Kmm, mm: Mm, addr: number, len: number, cpu: number): number {
  return finish(k, sysMunmapSliced(k, mm, addr, len, cpu));
}

/** munmap(2), in slices: see doMunmapSliced. */
export function sysMunmapSliced(k: Kmm, mm: Mm, addr: number, len: number, cpu: number): MaybeSliced {
  if (!Number.isInteger(addr) || !Number.isInteger(len)) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0 || addr > TASK_SIZE || len < 0 || len > TASK_SIZE - addr) return -EINVAL;
  const end = addr + pageAlign(len);
  if (end === addr) return -EINVAL;
  return doMunmapSliced(k, mm, addr, end, cpu);
}

/**
 * do_vmi_munmap in slices: the VMAs are split and taken out of the tree at once
 * (vms_gather_munmap_vmas: a fault of the mm then finds no mapping, and the mm's threads
 * wait for the call anyway, as on mmap_lock), then their PTEs are zapped a piece at a
 * time (unmap_vmas' cond_resched), the tables and the flush come last. What it freed stays
 * in the gather until that one flush, as in one go. If the caller is killed at a slice
 * boundary, the rest is done at once (munmap is not interruptible on Linux either): no
 * frame is left mapped by a VMA that is gone.
 */
export function doMunmapSliced(k: Kmm, mm: Mm, start: number, end: number, cpu: number): MaybeSliced {
  if (start % PAGE !== 0 || start < 0 || start > TASK_SIZE || end > TASK_SIZE || end <= start) return -EINVAL;
  const vms = new VmaMunmap(mm, start, end);
  const r = vms.gather(k);
  if (r < 0) return r;
  for (const v of vms.vmas) mm.vmas.remove(v);
  return unmapped(k, vms, cpu);
}

function* unmapped(k: Kmm, vms: VmaMunmap, cpu: number): Sliced {
  yield* vms.completeSliced(k, cpu);
  return 0;
}

/**
 * do_vmi_munmap: remove every mapping in [start, end): split, zap, flush, free tables and
 * frames. EINVAL for an unaligned start or a range that is empty or leaves the address
 * space (mremap's shrink and brk come here with lengths a guest chose). A sealed VMA in
 * the range fails the whole call with EPERM and removes nothing, but, as on Linux
 * (vms_gather_munmap_vmas), a split already made at `start` stays.
 */
export function doMunmap(k: Kmm, mm: Mm, start: number, end: number, cpu: number): number {
  return finish(k, doMunmapSliced(k, mm, start, end, cpu));
}

/**
 * vma_munmap_struct: the VMAs an munmap or a MAP_FIXED mmap takes away, gathered first and
 * removed later, so a MAP_FIXED replaces its range in one step and a failure before that
 * step leaves every old mapping in place ("Avoid MAP_FIXED gap exposure").
 *
 *   gather()      split the edge VMAs and collect those inside (vms_gather_munmap_vmas);
 *                 they stay in the tree. EPERM for a seal, ENOMEM for a hole punched at
 *                 vm.max_map_count; splits made before the failure stay.
 *   clearPtes()   zap their PTEs and free the page tables that only they used
 *                 (vms_clear_ptes), once: complete() skips it if already done.
 *   complete()    after the caller took them out of the tree: counters, PTEs if still
 *                 there, the TLB flush, the frames, the VMAs (vms_complete_munmap_vmas).
 *
 * An abort needs no undo: until the caller removes them, the VMAs never left the tree.
 */
export class VmaMunmap {
  readonly mm: Mm;
  readonly start: number;
  readonly end: number;
  /** The VMAs inside [start, end), after splitting. */
  vmas: Vma[] = [];
  /** Their pages in total (the old mapping a MAP_FIXED gives back under RLIMIT_AS). */
  nrPages = 0;
  /** PTEs still to clear. */
  private ptesPending = false;
  /** How far zapInSlices got: the VMA (index in vmas) and the address in it. */
  private vi = 0;
  private at = 0;
  private readonly g = new Gather();

  constructor(mm: Mm, start: number, end: number) {
    this.mm = mm;
    this.start = start;
    this.end = end;
  }

  gather(k: Kmm): number {
    const { mm, start, end } = this;
    const cut = rangeSplitError(mm, start, end); // hugetlb splits only at its page size; mshare never
    if (cut < 0) return cut;
    const found = mm.vmas.intersecting(start, end);
    if (found.length === 0) return 0;
    const first = found[0];
    if (first.start < start) {
      // Punching a hole inside one VMA adds one: refused at the limit (other splits may
      // pass it for a moment).
      if (end < first.end && mm.vmas.count >= k.vm.maxMapCount) return -ENOMEM;
      if (first.sealed) return -EPERM; // no point splitting what cannot go
    }
    if (found.some((v) => v.sealed)) {
      if (first.start < start) splitVma(mm, first, start);
      return -EPERM;
    }
    if (first.start < start) splitVma(mm, first, start);
    const last = mm.vmas.intersecting(start, end).at(-1)!;
    if (last.end > end) splitVma(mm, last, end);
    this.vmas = mm.vmas.intersecting(start, end);
    this.nrPages = this.vmas.reduce((n, v) => n + (v.end - v.start) / PAGE, 0);
    this.ptesPending = true;
    return 0;
  }

  /** clearPtes in slices (zapInSlices), the tables freed at the end; the VMAs stay where they are. */
  *clearPtesSliced(k: Kmm): Generator<void, void, void> {
    if (!this.ptesPending) return;
    yield* this.zapInSlices(k);
    this.freeTables(k);
  }

  clearPtes(k: Kmm): void {
    if (!this.ptesPending) return;
    const zap = this.zapInSlices(k);
    while (zap.next().done !== true); // the rest at once, its yields ignored
    this.freeTables(k);
  }

  /** unmap_vmas: zap the VMAs' PTEs a piece at a time from where it got to, yielding between slices. */
  private *zapInSlices(k: Kmm): Generator<void, void, void> {
    const [floor, ceiling] = this.bounds();
    for (; this.vi < this.vmas.length; this.vi++) {
      const v = this.vmas[this.vi];
      if (this.at < v.start) this.at = v.start;
      if (v.ops.unmap !== undefined) {
        unmapVmaRange(k, v, v.start, v.end, this.g, true); // hugetlb, mshare: whole (their pages are big)
        this.at = v.end;
        continue;
      }
      yield* inPieces(k, this.mm, this.at, v.end, (a, b) => {
        const work = unmapVmaRange(k, v, a, b, this.g, true);
        this.freePieceTable(k, a, b, floor, Math.min(ceiling, v.end)); // a later VMA's PTEs may share it
        this.at = b;
        return work;
      });
    }
  }

  private freeTables(k: Kmm): void {
    this.ptesPending = false;
    const [floor, ceiling] = this.bounds();
    freePgtables(k, this.mm, this.start, this.end, floor, ceiling, this.g);
  }

  /** Where tables may be freed: no neighbour outside [start, end) can need them there. */
  private bounds(): [number, number] {
    const { mm, start, end } = this;
    const prev = mm.vmas.prevOf(this.vmas.length > 0 ? this.vmas[0].start : start);
    const next = mm.vmas.findNext(this.vmas.length > 0 ? this.vmas[this.vmas.length - 1].end : end);
    return [prev === null ? 0 : prev.end, next === null ? USER_TOP : next.start];
  }

  /**
   * The page table of the piece [a, b) just zapped, if nothing outside [floor, ceiling)
   * can need it (ceiling no further than the VMA being zapped): freed now rather than by freeTables at the end, which would have all of them to
   * look through in one slice (free_pgtables after unmap_vmas in Linux; the result is the same).
   */
  private freePieceTable(k: Kmm, a: number, b: number, floor: number, ceiling: number): void {
    const base = a - (a % SPAN[2]);
    if (base >= floor && base + SPAN[2] <= ceiling) freePgtables(k, this.mm, a, b, base, base + SPAN[2], this.g);
  }

  complete(k: Kmm, cpu: number): void {
    for (const v of this.vmas) vmStatAccount(this.mm, v.flags, -(v.end - v.start) / PAGE);
    this.clearPtes(k);
    this.release(k, cpu);
  }

  /** complete(), the PTEs zapped in slices; killed at a slice boundary, the rest is done at once. */
  *completeSliced(k: Kmm, cpu: number): Sliced<void> {
    for (const v of this.vmas) vmStatAccount(this.mm, v.flags, -(v.end - v.start) / PAGE);
    this.mm.unmapping = this.vmas;
    try {
      if (this.ptesPending) yield* this.zapInSlices(k);
    } finally {
      this.clearPtes(k);
      this.mm.unmapping = [];
      this.release(k, cpu);
    }
  }

  private release(k: Kmm, cpu: number): void {
    finishGather(k, this.mm, this.g, cpu);
    for (const v of this.vmas) releaseVma(k, v);
  }
}
