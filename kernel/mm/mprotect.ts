// mprotect(2) (mm/mprotect.c) with the check order of ../shared/reference/vma-syscalls.md
// section 7: VMAs are split and merged as their flags change (vma_modify_flags), and the
// PTEs of each are rewritten for the new rights (change_protection), the backing doing it
// where it maps otherwise (hugetlb).

import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_SOFT_DIRTY, mkPteHi, ptePfn } from '../../machine/index.ts';
import {
  EACCES, EINVAL, ENOMEM, EPERM, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE,
} from '../uapi.ts';
import { populateVmaRange } from './gup.ts';
import { changeHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';

import { mayExpandVm, type Mm, vmStatAccount } from './mm.ts';
import {
  PAGE_SIZE as PAGE, pageAlign, protToVmFlags, type Vma, VM_ACCESS_FLAGS, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_LOCKED,
  VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_NORESERVE, VM_SHARED, VM_WRITE,
} from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { _PAGE_PROTNONE, softDirtyWp, vmaPteFlags } from './pgtable.ts';
import { finish, type MaybeSliced, type Sliced } from './slice.ts';
import { piecesThenRest } from './slice_range.ts';
import { rangeSplitError, splitVma, vmaMerge } from './vma.ts';
import { forEachPte } from './pagewalk.ts';

/** mprotect(2) in one go. */
export function sysMprotect(k: Kmm, mm: Mm, addr: number, len: number, prot: number, cpu: number): number {
  return finish(k, sysMprotectSliced(k, mm, addr, len, prot, cpu));
}

/** mprotect(2), its PTEs rewritten in slices. */
export function sysMprotectSliced(k: Kmm, mm: Mm, addr: number, len: number, prot: number, cpu: number): MaybeSliced {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || !Number.isInteger(prot)) return -EINVAL;
  const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
  const p = prot & ~(PROT_GROWSDOWN | PROT_GROWSUP);
  if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0) return -EINVAL;
  if (len === 0) return 0;
  if (len < 0) return -ENOMEM;
  const end = addr + pageAlign(len);
  if (end <= addr || end > 2 ** 64) return -ENOMEM;
  if ((p & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) !== 0) return -EINVAL;
  let start = addr;
  const first = mm.vmas.findNext(start);
  if (first === null || first.start >= end) return -ENOMEM;
  if ((grows & PROT_GROWSUP) !== 0) return -EINVAL;
  if ((grows & PROT_GROWSDOWN) !== 0) {
    if ((first.flags & VM_GROWSDOWN) === 0) return -EINVAL;
    start = first.start;
  } else if (first.start > start) {
    return -ENOMEM;
  }
  const cut = rangeSplitError(mm, start, end);
  if (cut < 0) return cut;
  return mprotectRange(k, mm, start, end, protToVmFlags(p), cpu);
}

/**
 * Every VMA of [start, end) to the rights `want`, the PTEs rewritten a piece at a time
 * (slice_range.ts) with the one flush at the end, which also runs if the caller is killed
 * at a slice boundary (the VMAs after the one it was in then keep their old rights, as
 * after a failure partway).
 */
function* mprotectRange(k: Kmm, mm: Mm, start: number, end: number, want: number, cpu: number): Sliced {
  const g = new Gather();
  let result = 0;
  try {
    for (let at = start; at < end && result === 0;) {
      const v = mm.vmas.find(at);
      const r = v === null ? -ENOMEM : yield* mprotectFixup(k, mm, v, at, end, want, g, cpu);
      if (r < 0) result = r;
      else at = r;
    }
  } finally {
    finishGather(k, mm, g, cpu);
  }
  return result;
}

/**
 * mprotect_fixup for the part of v from `at` (inside it) to `end`: the new rights, split
 * out, PTEs rewritten into g, merged back where it can. The address it got to, or -errno:
 * EPERM for a seal (even with no change; VMAs before it keep their new protection), the
 * backing's refusal, EACCES beyond VM_MAY*, ENOMEM over RLIMIT_DATA or at the map count.
 */
function* mprotectFixup(k: Kmm, mm: Mm, v: Vma, at: number, end: number, want: number, g: Gather, cpu: number): Sliced {
  if (v.sealed) return -EPERM;
  const refused = v.ops.mprotect?.(v) ?? 0; // an mshare region's vm_ops refuse it, whole or part
  if (refused < 0) return refused;
  let newFlags = (v.flags & ~VM_ACCESS_FLAGS) | want;
  // Making private memory writable for the first time charges it ...
  if ((newFlags & VM_WRITE) !== 0 && (v.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE)) === 0) newFlags |= VM_ACCOUNT;
  // ... and making never-faulted anonymous memory read-only uncharges it again.
  else if ((newFlags & VM_WRITE) === 0 && (v.flags & VM_ACCOUNT) !== 0 && v.mapping === null && v.anonVma === null) newFlags &= ~VM_ACCOUNT;
  if ((want & ~((v.flags & (VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)) >> 4)) !== 0) return -EACCES;
  // The same rights: nothing is split (nor a huge PMD in it) and nothing rewritten.
  if (((v.flags & ~VM_ACCESS_FLAGS) | want) === v.flags) return Math.min(end, v.end);
  const pages = (Math.min(end, v.end) - Math.max(at, v.start)) / PAGE;
  if (!mayExpandVm(mm, newFlags, pages) && mayExpandVm(mm, v.flags, pages)) return -ENOMEM; // RO -> RW over RLIMIT_DATA
  if (newFlags !== v.flags && (v.start < at || v.end > end) && mm.vmas.count >= k.vm.maxMapCount) return -ENOMEM; // a split at the limit
  let t = v;
  if (t.start < at) t = splitVma(mm, t, at);
  if (t.end > end) splitVma(mm, t, end);
  if (newFlags !== t.flags) {
    const oldFlags = t.flags;
    vmStatAccount(mm, t.flags, -pages);
    vmStatAccount(mm, newFlags, pages);
    t.flags = newFlags;
    yield* changePtesInSlices(k, mm, t, g);
    // A locked private VMA becoming writable: break COW now rather than on a later access
    // (populate_vma_page_range, in slices, the mm still held; it does nothing for
    // lock-on-fault VMAs; errors ignored). Merged first, as Linux merges before it changes.
    if ((oldFlags & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED && (newFlags & VM_WRITE) !== 0) {
      const { start, end: next } = t;
      vmaMerge(mm, t);
      yield* populateVmaRange(k, mm, start, next, cpu);
      return next;
    }
  }
  const next = t.end;
  vmaMerge(mm, t);
  return next;
}

/**
 * change_protection in slices: the backing's own way at once, or the PTEs a piece at a
 * time; killed at a slice boundary, the rest of this VMA is rewritten at once, so no PTE
 * keeps rights its VMA no longer has.
 */
function* changePtesInSlices(k: Kmm, mm: Mm, vma: Vma, g: Gather): Generator<void, void, void> {
  if (vma.ops.changeProtection !== undefined) {
    vma.ops.changeProtection(k, vma, g);
    return;
  }
  yield* piecesThenRest(k, mm, vma.start, vma.end, (a, b) => changePtes(k, mm, vma, a, b, g));
}

/** Rewrite the PTEs of [from, to) of vma for its (new) flags, collecting the range to flush: how many (forEachPte). */
function changePtes(k: Kmm, mm: Mm, vma: Vma, from: number, to: number, g: Gather): number {
  const access = (vma.flags & VM_ACCESS_FLAGS) !== 0;
  const nx = (vma.flags & VM_EXEC) === 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  return forEachPte(k, mm, from, to, (w, va) => {
    const lo = k.ops.lo(w);
    const hi = k.ops.hi(w);
    const pfn = ptePfn(lo, hi);
    // Write is granted here only to shared pages; private pages regain it on a write fault.
    // (Write-notified mappings stay read-only: their driver hears of each first write; under
    // soft-dirty tracking only a dirty, soft-dirty PTE may be made writable, as
    // can_change_pte_writable says.)
    const sdOk = !softDirtyWp(k, vma) || (lo & (_PAGE_DIRTY | _PAGE_SOFT_DIRTY)) === (_PAGE_DIRTY | _PAGE_SOFT_DIRTY);
    const writable = shared && (vma.flags & VM_WRITE) !== 0 && !k.pages.isSpecial(pfn) && vma.ops.pageMkwrite === undefined && sdOk;
    let next = (lo & ~(_PAGE_PRESENT | _PAGE_RW | _PAGE_PROTNONE)) | vmaPteFlags(vma, writable);
    if (!access) next = (lo & ~(_PAGE_PRESENT | _PAGE_RW)) | _PAGE_PROTNONE;
    k.ops.ptepModify(w, next, mkPteHi(pfn, nx), true);
    g.cover(va, va + PAGE);
  }, (w, va) => changeHugePmd(k, vma, w, va, vma.start, vma.end, g));
}
