// mprotect(2) (mm/mprotect.c) with the check order of ../shared/reference/vma-syscalls.md
// section 7: VMAs are split and merged as their flags change (vma_modify_flags), and the
// PTEs of each are rewritten for the new rights (change_protection), the backing doing it
// where it maps otherwise (hugetlb).

import { _PAGE_PRESENT, _PAGE_RW, mkPteHi, ptePfn } from '../../machine/index.ts';
import { EACCES, EINVAL, ENOMEM, EPERM, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE } from '../uapi.ts';
import { populate } from './gup.ts';
import { changeHugePmd } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';

import { mayExpandVm, type Mm, vmStatAccount } from './mm.ts';
import {
  PAGE_SIZE as PAGE, pageAlign, protToVmFlags, type Vma, VM_ACCESS_FLAGS, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_LOCKED,
  VM_LOCKONFAULT, VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_NORESERVE, VM_SHARED, VM_WRITE,
} from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { _PAGE_PROTNONE, vmaPteFlags } from './pgtable.ts';
import { rangeSplitError, splitVma, vmaMerge } from './vma.ts';
import { forEachPte } from './pagewalk.ts';

/** mprotect(2). */
export function sysMprotect(k: Kmm, mm: Mm, addr: number, len: number, prot: number, cpu: number): number {
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
  const want = protToVmFlags(p);
  let at = start;
  let result = 0;
  const g = new Gather();
  while (at < end) {
    let v = mm.vmas.find(at);
    if (v === null) {
      result = -ENOMEM;
      break;
    }
    if (v.sealed) {
      result = -EPERM; // even with no change; VMAs before it keep their new protection
      break;
    }
    const refused = v.ops.mprotect?.(v) ?? 0; // an mshare region's vm_ops refuse it, whole or part
    if (refused < 0) {
      result = refused;
      break;
    }
    let newFlags = (v.flags & ~VM_ACCESS_FLAGS) | want;
    // mprotect_fixup: making private memory writable for the first time charges it.
    if ((newFlags & VM_WRITE) !== 0 && (v.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE)) === 0) newFlags |= VM_ACCOUNT;
    // ... and making never-faulted anonymous memory read-only uncharges it again.
    else if ((newFlags & VM_WRITE) === 0 && (v.flags & VM_ACCOUNT) !== 0 && v.mapping === null && v.anonVma === null) newFlags &= ~VM_ACCOUNT;
    // VM_MAY* allow every right for anonymous memory (no files yet); kept for the rule.
    if ((want & ~((v.flags & (VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)) >> 4)) !== 0) {
      result = -EACCES;
      break;
    }
    const pages = (Math.min(end, v.end) - Math.max(at, v.start)) / PAGE;
    if (!mayExpandVm(mm, newFlags, pages) && mayExpandVm(mm, v.flags, pages)) {
      result = -ENOMEM; // RO -> RW over RLIMIT_DATA (mprotect_fixup)
      break;
    }
    if (newFlags !== v.flags && ((v.start < at ? 1 : 0) + (v.end > end ? 1 : 0)) > 0 && mm.vmas.count >= k.vm.maxMapCount) {
      result = -ENOMEM; // a split at vm.max_map_count
      break;
    }
    if (v.start < at) v = splitVma(mm, v, at);
    if (v.end > end) splitVma(mm, v, end);
    if (newFlags !== v.flags) {
      const oldFlags = v.flags;
      vmStatAccount(mm, v.flags, -pages);
      vmStatAccount(mm, newFlags, pages);
      v.flags = newFlags;
      changePtes(k, mm, v, g);
      // A locked private VMA becoming writable: break COW now rather than on a later access
      // (mprotect_fixup's populate_vma_page_range, which does nothing for lock-on-fault
      // VMAs; errors are ignored).
      if ((oldFlags & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED && (newFlags & VM_WRITE) !== 0 && (newFlags & VM_LOCKONFAULT) === 0) {
        populate(k, mm, v.start, v.end, true, cpu);
      }
    }
    at = v.end;
    vmaMerge(mm, v);
  }
  finishGather(k, mm, g, cpu);
  return result;
}

/** Rewrite the PTEs of vma for its (new) flags, collecting the range to flush. */
function changePtes(k: Kmm, mm: Mm, vma: Vma, g: Gather): void {
  if (vma.ops.changeProtection !== undefined) {
    vma.ops.changeProtection(k, vma, g);
    return;
  }
  const access = (vma.flags & VM_ACCESS_FLAGS) !== 0;
  const nx = (vma.flags & VM_EXEC) === 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  forEachPte(k, mm, vma.start, vma.end, (w, va) => {
    const lo = k.ops.lo(w);
    const hi = k.ops.hi(w);
    const pfn = ptePfn(lo, hi);
    // Write is granted here only to shared pages; private pages regain it on a write fault.
    // (Write-notified mappings stay read-only: their driver hears of each first write.)
    const writable = shared && (vma.flags & VM_WRITE) !== 0 && !k.pages.isSpecial(pfn) && vma.ops.pageMkwrite === undefined;
    let next = (lo & ~(_PAGE_PRESENT | _PAGE_RW | _PAGE_PROTNONE)) | vmaPteFlags(vma, writable);
    if (!access) next = (lo & ~(_PAGE_PRESENT | _PAGE_RW)) | _PAGE_PROTNONE;
    k.ops.ptepModify(w, next, mkPteHi(pfn, nx), true);
    g.cover(va, va + PAGE);
  }, (w, va) => changeHugePmd(k, vma, w, va, vma.start, vma.end, g));
}
