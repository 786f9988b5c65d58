// Faulting pages in from the kernel's side (mm/gup.c): MAP_POPULATE, mlock and
// MADV_POPULATE_* fault in a range as the guest's own accesses would, and GUP with
// FOLL_WRITE marks the pages it finds dirty.

import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, X86_PF_USER, X86_PF_WRITE } from '../../machine/index.ts';
import { handleMmFault } from './fault.ts';
import type { Kmm } from './kmm.ts';

import type { Mm } from './mm.ts';
import { FAULT_DONE, FAULT_OOM, FAULT_SEGV_ACCERR, VM_ACCESS_FLAGS, VM_LOCKONFAULT, VM_SHARED, VM_WRITE } from './mm_types.ts';
import { PG_DIRTY } from './page_alloc.ts';
import { leafWord } from './pgtable.ts';
import type { Sliced } from './slice.ts';
import { reclaimForAllocation } from './vmscan.ts';

/**
 * Fault in pages of [va, end) (one VMA's) until the slice's budget is spent: the address
 * it got to (end when done), or minus the result of the first page that could not be
 * populated (FAULT_* codes are positive).
 */
export function populateSome(k: Kmm, mm: Mm, va: number, end: number, write: boolean, cpu: number): number {
  for (; va < end; va += 4096) {
    if (k.slice.left <= 0) return va;
    k.slice.spend();
    const leaf = leafWord(k, mm, va);
    if (leaf !== null) {
      const lo = k.ops.lo(leaf.w);
      if ((lo & _PAGE_PRESENT) !== 0 && (!write || (lo & _PAGE_RW) !== 0)) {
        // GUP with FOLL_WRITE | FOLL_TOUCH marks a clean page dirty (folio_mark_dirty).
        const pfn = leaf.pfn;
        if (write && !leaf.huge && (lo & _PAGE_DIRTY) === 0 && !k.pages.isSpecial(pfn)) k.pages.flags[pfn] |= PG_DIRTY;
        continue;
      }
    }
    const r = faultForGup(k, mm, va, write, cpu);
    if (r !== FAULT_DONE) return -r;
  }
  return end;
}

/**
 * A fault from the kernel on behalf of the process (faultin_page), between whose pages
 * nothing is held: an allocation at the min watermark reclaims here and retries, as the
 * guest's own fault would; out of memory asks the OOM killer once, then retries once more.
 */
function faultForGup(k: Kmm, mm: Mm, va: number, write: boolean, cpu: number): number {
  const code = (write ? X86_PF_WRITE : 0) | X86_PF_USER;
  let oomTried = false;
  for (;;) {
    const r = handleMmFault(k, mm, va, code, cpu);
    if (r !== FAULT_OOM) return r;
    if (reclaimForAllocation(k)) continue;
    if (oomTried || k.oom === null) return r;
    oomTried = true;
    k.oom.outOfMemory(mm, cpu, va);
  }
}

/**
 * __mm_populate: fault in the pages of every VMA in [start, end) that is not
 * lock-on-fault, with a write fault for private writable memory (so COW is broken now, as
 * GUP with FOLL_WRITE does). A VMA without access rights fails (GUP gives EFAULT there).
 * Returns the first failure; callers that ignore population errors ignore it. Sliced: after
 * each slice the VMA is looked up again from the address it got to (slice.ts), and the mm
 * is held for read between slices (__mm_populate takes mmap_lock for read).
 */
export function mmPopulate(k: Kmm, mm: Mm, start: number, end: number, cpu: number, ignoreErrors = false): Sliced {
  return populateRange(k, mm, start, end, cpu, ignoreErrors, true);
}

/**
 * populate_vma_page_range for a caller that holds the mm for write and goes on holding it
 * between slices (mprotect making locked private memory writable): the pages of
 * [start, end) faulted in as mmPopulate does, errors ignored.
 */
export function populateVmaRange(k: Kmm, mm: Mm, start: number, end: number, cpu: number): Sliced {
  return populateRange(k, mm, start, end, cpu, true, false);
}

function* populateRange(k: Kmm, mm: Mm, start: number, end: number, cpu: number, ignoreErrors: boolean, forRead: boolean): Sliced {
  let at = start;
  while (at < end) {
    const v = mm.vmas.findNext(at);
    if (v === null || v.start >= end) break;
    if (at < v.start) at = v.start;
    const to = Math.min(end, v.end);
    if ((v.flags & VM_LOCKONFAULT) !== 0) {
      at = to;
      continue;
    }
    const write = (v.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    const got = (v.flags & VM_ACCESS_FLAGS) === 0 ? -FAULT_SEGV_ACCERR : populateSome(k, mm, at, to, write, cpu);
    if (got < 0) {
      if (!ignoreErrors) return -got;
      at = to;
    } else if (got < to) {
      at = got;
      k.slice.shared = forRead;
      yield;
    } else {
      at = to;
    }
  }
  return FAULT_DONE;
}
