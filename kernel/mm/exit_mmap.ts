// exit_mmap (mm/mmap.c): the address space of a process that ended, torn down in slices
// (unmap_vmas and free_pgtables call cond_resched: Linux tears down a big address space in
// the dying task without holding up other CPUs).
//
// The VMAs go in address order, each one's PTEs zapped a piece at a time (inPieces, charged
// by pieceCost as munmap's pieces are), then the VMA itself. Between slices reclaim's
// reverse-map walks, /proc and other processes' calls run, so at each yield every structure
// is consistent: the VMA being zapped is still in the tree and linked (its zapped part has
// no PTEs, what is left is mapped as before), the VMAs before it are gone with the tables
// only they used, and what was freed is back in the allocator. No CPU runs the mm any more
// (its last thread is gone), so nothing is shot down, as in one go.

import { KernelBug } from '../bug.ts';
import type { Kmm } from './kmm.ts';
import { freePgtables, unmapVmaRange } from './memory.ts';
import { type Mm, USER_TOP, vmStatAccount } from './mm.ts';
import { PAGE_SIZE } from './mm_types.ts';
import { Gather, releaseGather } from './mmu_gather.ts';
import { PG_PGTABLE } from './page_alloc.ts';
import { SPAN } from './pgtable.ts';
import { drain, type Sliced } from './slice.ts';
import { inPieces } from './slice_range.ts';
import { releaseVma } from './vma.ts';

/**
 * exit_mmap in slices: free every mapping, frame and page table of mm, and its PML4,
 * yielding when the slice budget (mm/slice.ts) is spent. Sets mm.exiting first. Must be
 * run to its end: a teardown is never abandoned.
 */
export function* exitMmapSliced(k: Kmm, mm: Mm): Sliced<void> {
  mm.exiting = true;
  const g = new Gather();
  // Each VMA is the first in the tree when its turn comes: the ones before it are gone.
  for (let v = mm.vmas.findNext(0); v !== null; v = mm.vmas.findNext(0)) {
    const vma = v;
    const next = mm.vmas.findNext(vma.end);
    // Nothing below vma is mapped any more: a table no later VMA reaches can go.
    const ceiling = next === null ? USER_TOP : next.start;
    if (vma.ops.unmap !== undefined) {
      k.slice.spend(unmapVmaRange(k, vma, vma.start, vma.end, g, true)); // hugetlb, mshare: whole
    } else {
      const pieces = inPieces(k, mm, vma.start, vma.end, (a, b) => {
        const work = unmapVmaRange(k, vma, a, b, g, true);
        const base = a - (a % SPAN[2]);
        if (base + SPAN[2] <= ceiling) freePgtables(k, mm, a, b, base, base + SPAN[2], g);
        return work;
      });
      for (let n = pieces.next(); n.done !== true; n = pieces.next()) {
        releaseGather(k, g);
        yield;
      }
    }
    mm.vmas.remove(vma);
    vmStatAccount(mm, vma.flags, -(vma.end - vma.start) / PAGE_SIZE);
    releaseVma(k, vma);
    // The tables of every level that only vma used (hugetlb's and mshare's, the upper levels).
    freePgtables(k, mm, vma.start, vma.end, 0, ceiling, g);
    if (k.slice.spend(1) && next !== null) {
      releaseGather(k, g);
      yield;
    }
  }
  freePgtables(k, mm, 0, USER_TOP, 0, USER_TOP, g);
  releaseGather(k, g);
  if (mm.ptePages !== 0) throw new KernelBug(`exitMmap: ${mm.ptePages} page-table pages unaccounted for`);
  k.mem.zeroFrame(mm.pml4);
  k.pages.flags[mm.pml4] &= ~PG_PGTABLE;
  k.pages.putPage(mm.pml4);
}

/**
 * exit_mmap in one go, for callers that are not the exit of a process (an mshare region's
 * host mm, a fork that failed): the slices run back to back, and the caller's slice budget
 * is left as it was.
 */
export function exitMmap(k: Kmm, mm: Mm): void {
  const left = k.slice.left;
  drain(exitMmapSliced(k, mm));
  k.slice.left = left;
}
