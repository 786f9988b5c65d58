// Guard regions (mm/madvise.c: madvise_guard_install, madvise_guard_remove; Linux 6.13,
// file-backed and read-only mappings 6.15, VM_MAYBE_GUARD as the project's 6.18 host has
// it): MADV_GUARD_INSTALL puts a guard marker (swapfile.ts, PTE_MARKER_GUARD) in every PTE
// of the range, after zapping what was mapped there; any access to it is SIGSEGV
// (fault.ts), and GUP, uaccess and populate see EFAULT. Markers live in PTE tables only
// (a huge PMD in the range is zapped, split if it is only partly inside) and stay through
// MADV_DONTNEED, FREE, COLD, PAGEOUT, mprotect, mlock, truncation and hole punching;
// mremap moves them, fork copies them, munmap and exit drop them, GUARD_REMOVE clears them.
// Installing never splits the VMA: it sets VM_MAYBE_GUARD on the whole of it.
//
// Linux installs with a page walk that may race with faults and retries up to
// MAX_MADVISE_GUARD_RETRIES times before restarting the system call; here nothing can
// fault in between, so one zap is always enough.
//
// Both run in slices (mm/slice.ts) a page table's span at a time: installing visits every
// span of the range (it makes the tables), each charged its 512 PTEs; removing only the
// spans with a table (slice_range.ts's inPieces). The caller holds the mm meanwhile.

import * as U from '../uapi.ts';
import { anonVmaPrepare } from './anon_vma.ts';
import type { Kmm } from './kmm.ts';
import { pteWord, unmapVmaRange } from './memory.ts';
import type { Mm } from './mm.ts';
import { VM_HUGETLB, VM_LOCKED, VM_MAYBE_GUARD, VM_SHARED, VM_SPECIAL, type Vma, vmaHasFile } from './mm_types.ts';
import type { Gather } from './mmu_gather.ts';
import { forEachPte } from './pagewalk.ts';
import { SPAN } from './pgtable.ts';
import type { Sliced } from './slice.ts';
import { inPieces, pieceCost } from './slice_range.ts';
import { GUARD_PTE_LO, isGuardPte } from './swapfile.ts';

const PAGE = 4096;

/**
 * is_valid_guard_vma: never VM_SPECIAL or hugetlb VMAs; to install, never a locked one
 * (the zap would take its pages away). Removal is allowed under mlock: it destroys nothing.
 */
function validGuardVma(v: Vma, allowLocked: boolean): boolean {
  return (v.flags & (VM_SPECIAL | VM_HUGETLB | (allowLocked ? 0 : VM_LOCKED))) === 0;
}

/** Whether [from, to) maps anything but guard markers: a page, a huge PMD or a swap entry. */
function populated(k: Kmm, mm: Mm, from: number, to: number): boolean {
  let found = false;
  const seen = (): void => { found = true; };
  forEachPte(k, mm, from, to, seen, () => ((found = true)), seen);
  return found;
}

/**
 * madvise_guard_install on [from, to) of v: EINVAL for a VMA that cannot take guards;
 * otherwise VM_MAYBE_GUARD on the VMA (an anonymous one gets its anon_vma), whatever is
 * mapped in the range zapped (guard markers stay), and a marker in every empty PTE, page
 * tables made as needed (ENOMEM if a frame for one is lacking; the markers put in stay).
 */
export function* guardInstall(k: Kmm, mm: Mm, v: Vma, from: number, to: number, g: Gather): Sliced {
  if (!validGuardVma(v, false)) return -U.EINVAL;
  v.flags |= VM_MAYBE_GUARD;
  if ((v.flags & VM_SHARED) === 0 && !vmaHasFile(v)) anonVmaPrepare(k, v, mm.vmas.prevOf(v.start), mm.vmas.findNext(v.end));
  for (let a = from; a < to;) {
    const b = Math.min(to, a - (a % SPAN[2]) + SPAN[2]);
    if (populated(k, mm, a, b)) unmapVmaRange(k, v, a, b, g);
    for (let va = a; va < b; va += PAGE) {
      const w = pteWord(k, mm, va, true);
      if (w < 0) return -U.ENOMEM;
      if (k.ops.lo(w) === 0) k.ops.setPte(w, GUARD_PTE_LO, 0);
    }
    const spent = k.slice.spend(pieceCost(a, b, (b - a) / PAGE));
    a = b;
    if (spent && a < to) yield;
  }
  return 0;
}

/**
 * madvise_guard_remove on [from, to) of v: every guard marker there cleared (the page
 * faults in afresh next time); huge PMDs are left whole (they hold no markers).
 */
export function* guardRemove(k: Kmm, mm: Mm, v: Vma, from: number, to: number): Sliced {
  if (!validGuardVma(v, true)) return -U.EINVAL;
  yield* inPieces(k, mm, from, to, (a, b) => forEachPte(k, mm, a, b, () => undefined, () => true, undefined, (w) => {
    if (isGuardPte(k.ops.lo(w))) k.ops.ptepGetAndClear(w);
  }));
  return 0;
}
