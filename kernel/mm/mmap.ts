// mmap, munmap, mprotect, brk, mseal, mlock and mincore (compare mm/mmap.c, mm/vma.c,
// mm/mprotect.c, mm/mlock.c), with the check orders of ../shared/reference/vma-syscalls.md
// sections 4, 5, 7, 10 and 11. Results are Linux raw results: an address or 0, or -errno.
//
// Anonymous MAP_HUGETLB maps huge pages from the pools of kernel/hugetlb.ts (hugetlbfs
// files are not there yet). Not yet: overcommit accounting.

import {
  EACCES, EAGAIN, EBADF, EEXIST, EFAULT, EINVAL, ENODEV, ENOMEM, EOVERFLOW, MAP_32BIT, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MAP_ANONYMOUS, MAP_FIXED,
  MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGE_MASK, MAP_HUGE_SHIFT, MAP_HUGETLB, MAP_LOCKED,
  MAP_NONBLOCK, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED,
  MAP_TYPE, MMAP_MIN_ADDR, PROT_EXEC, MAP_SHARED_VALIDATE, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_UNINITIALIZED,
  MAP_STACK, EOPNOTSUPP, MAP_DROPPABLE, MS_ASYNC, MS_INVALIDATE, MS_SYNC, EBUSY, PROT_GROWSDOWN, PROT_GROWSUP,
  PROT_READ, PROT_SEM, PROT_WRITE, RLIMIT_DATA, RLIMIT_MEMLOCK, TASK_SIZE, EPERM,
} from '../uapi.ts';
import { FAULT_DONE, FAULT_OOM, mmPopulate, populate, vmaPteFlags } from './fault.ts';
import { changeHugePmd, splitHugePmd } from './huge_memory.ts';
import { canDoMlock, lockedVm, mlockFutureOk, mayExpandVm, type Mm, USER_TOP, vmStatAccount } from './mm.ts';
import { Vma, VM_ACCESS_FLAGS, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_LOCKED, VM_MAYEXEC, VM_LOCKED_MASK, VM_LOCKONFAULT, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ, VM_SHARED, VM_WRITE, VM_WIPEONFORK, VM_DONTDUMP, VM_SOFTDIRTY, VM_DONTEXPAND, VM_HUGETLB } from './mm_types.ts';
import { _PAGE_PRESENT, _PAGE_RW, mkPteHi, ptePfn, pteLeaf } from '../../machine/index.ts';
import type { FdTable, File } from '../fs/file.ts';
import { PG_PGTABLE } from './page_alloc.ts';
import { copyToUser } from './uaccess.ts';
import { mmapRegion, type MshareRegion, mshareUnlink } from './mshare.ts';
import type { RefPage } from './refpage.ts';
import { changeHugetlbLeaf, type HState, HugetlbMapping, hugetlbCut, unsharePmds } from './hugetlb.ts';
import { KernelBug } from '../bug.ts';
import { finishGather, releaseGather, Gather } from './mmu_gather.ts';
import { forEachPte, freePgtables, leafWord, pmdWord, zapRange } from './memory.ts';
import { type Kmm } from './kmm.ts';
import { AddressSpace, releaseIfUnused } from './filemap.ts';
import { anonVmaClone, mergeableAnonVma, unlinkAnonVmas } from './anon_vma.ts';
import { SPAN, _PAGE_PROTNONE } from './pgtable.ts';

const PAGE = 4096;

export function pageAlign(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}

function isUserInt(n: number): boolean {
  return Number.isInteger(n);
}

export function protToVmFlags(prot: number): number {
  return ((prot & PROT_READ) !== 0 ? VM_READ : 0) | ((prot & PROT_WRITE) !== 0 ? VM_WRITE : 0)
    | ((prot & PROT_EXEC) !== 0 ? VM_EXEC : 0);
}

/** Two VMAs that touch can become one (is_mergeable_vma for anonymous memory). */
function canMerge(a: Vma, b: Vma): boolean {
  if (a.end !== b.start || ((a.flags ^ b.flags) & ~VM_SOFTDIRTY) !== 0 || a.shmem !== b.shmem || a.refpage !== b.refpage || a.hugetlb !== b.hugetlb || a.sealed !== b.sealed || a.droppable !== b.droppable) return false;
  if (!mergeableAnonVma(a, b)) return false;
  return a.pgoff + (a.end - a.start) / PAGE === b.pgoff;
}

/** Merge vma with its neighbours where possible; returns the surviving VMA. */
export function mergeAround(mm: Mm, vma: Vma): Vma {
  let v = vma;
  const prev = mm.vmas.prevOf(v.start);
  if (prev !== null && canMerge(prev, v)) {
    mm.vmas.remove(v);
    v.shmem?.mappers.delete(v);
    v.refpage?.put();
    if (v.hugetlb !== null) {
      v.hugetlb.users--; // the survivor maps it still
      v.hugetlb.vmas.delete(v);
    }
    setVmaBounds(mm, prev, prev.start, v.end);
    prev.flags |= v.flags & VM_SOFTDIRTY;
    anonVmaClone(prev, v); // dup_anon_vma: the survivor takes over the pages' anon_vma
    unlinkAnonVmas(mm.k, v);
    v = prev;
  }
  const next = mm.vmas.findNext(v.end);
  if (next !== null && next !== v && canMerge(v, next)) {
    mm.vmas.remove(next);
    next.shmem?.mappers.delete(next);
    next.refpage?.put();
    if (next.hugetlb !== null) {
      next.hugetlb.users--;
      next.hugetlb.vmas.delete(next);
    }
    setVmaBounds(mm, v, v.start, next.end);
    v.flags |= next.flags & VM_SOFTDIRTY;
    anonVmaClone(v, next);
    unlinkAnonVmas(mm.k, next);
  }
  return v;
}

/** Split vma at addr; returns the upper part (now in the tree). */
export function splitVma(mm: Mm, vma: Vma, addr: number): Vma {
  // vma_adjust_trans_huge: a huge PMD across the new boundary is split first.
  if (addr % SPAN[2] !== 0) {
    const pw = pmdWord(mm.k, mm, addr, false);
    if (pw >= 0 && pteLeaf(mm.k.ops.lo(pw)) && !splitHugePmd(mm.k, mm, pw, addr - (addr % SPAN[2]), -1)) throw new KernelBug('splitVma: a deposited table is missing');
  }
  const upper = new Vma(addr, vma.end, vma.flags, vma.pgoff + (addr - vma.start) / PAGE, vma.shmem);
  anonVmaClone(upper, vma);
  upper.sealed = vma.sealed;
  upper.droppable = vma.droppable;
  upper.refpage = vma.refpage;
  upper.refpage?.get();
  upper.hugetlb = vma.hugetlb;
  if (upper.hugetlb !== null) {
    upper.hugetlb.users++;
    upper.hugetlb.vmas.add(upper);
  }
  setVmaBounds(mm, vma, vma.start, addr);
  mm.vmas.insert(upper);
  linkVma(mm, upper);
  return upper;
}

/**
 * Give [from, to) of v the flags fn(v.flags), splitting v where the range ends inside it
 * and merging with neighbours that then match (vma_modify_flags). Returns the VMA that
 * holds [from, to) afterwards, or null if a split would pass vm.max_map_count (ENOMEM).
 */
export function modifyFlags(k: Kmm, mm: Mm, v: Vma, from: number, to: number, fn: (flags: number) => number): Vma | null {
  const flags = fn(v.flags);
  if (flags === v.flags) return v;
  let t = v;
  if (t.start < from) {
    if (mm.vmas.count >= k.vm.maxMapCount) return null; // a split at the limit fails
    t = splitVma(mm, t, from);
  }
  if (t.end > to) {
    if (mm.vmas.count >= k.vm.maxMapCount) return null;
    splitVma(mm, t, to);
  }
  t.flags = flags;
  return mergeAround(mm, t);
}

/**
 * Change a VMA's bounds in mm's tree and, for a file VMA, in its file's i_mmap (out and
 * back in, since its page-offset range is the interval tree's key).
 */
export function setVmaBounds(mm: Mm, vma: Vma, start: number, end: number): void {
  const m = vma.shmem !== null && vma.shmem.mappers.delete(vma) ? vma.shmem : null;
  mm.vmas.setBounds(vma, start, end);
  m?.mappers.add(vma);
}

/** Give a VMA just inserted into mm's tree its mm, and enter it in its file's i_mmap. */
export function linkVma(mm: Mm, vma: Vma): void {
  vma.mm = mm;
  vma.shmem?.mappers.add(vma);
}

/** A VMA removed for good: out of its file's i_mmap; an object nothing holds frees its pages. */
export function releaseVma(k: Kmm, vma: Vma): void {
  unlinkAnonVmas(k, vma);
  vma.refpage?.put();
  if (vma.hugetlb !== null) {
    vma.hugetlb.vmas.delete(vma);
    const size = vma.hugetlb.h.size;
    vma.hugetlb.unmapped((vma.pgoff * PAGE) / size, (vma.end - vma.start) / size);
    vma.hugetlb.release(k);
  }
  if (vma.mshare !== null) {
    vma.mshare.mappers.delete(vma);
    if (vma.mshare.mappers.size === 0) vma.mshare.unmapped();
    return;
  }
  const obj = vma.shmem;
  if (obj === null) return;
  obj.mappers.delete(vma);
  releaseIfUnused(k, obj);
}

/** stack_guard_gap: room kept free below a VM_GROWSDOWN mapping (256 pages). */
export const STACK_GUARD_GAP = 256 * PAGE;
/** Where the bottom-up fallback search starts (TASK_UNMAPPED_BASE). */
const TASK_UNMAPPED_BASE = pageAlign(TASK_SIZE / 3);
const PMD_SIZE = 2 ** 21;

/** vm_start_gap: a VMA's start, less the guard gap below a stack. */
export function startGap(v: Vma): number {
  return (v.flags & VM_GROWSDOWN) !== 0 ? Math.max(0, v.start - STACK_GUARD_GAP) : v.start;
}

/** True if [addr, addr + len) misses every VMA and every guard gap. */
function rangeFree(mm: Mm, addr: number, len: number): boolean {
  const next = mm.vmas.findNext(addr);
  return next === null || addr + len <= startGap(next);
}

/**
 * Choose an address for a new anonymous mapping (get_unmapped_area, top-down layout, as
 * ../shared/reference/vma-syscalls.md section 3 observes x86-64 doing): a usable hint
 * (rounded down to a page) wins; else the highest gap below mmap_base that fits, keeping
 * stack guard gaps and aligning lengths that are multiples of 2 MiB to 2 MiB; else a
 * bottom-up search from TASK_UNMAPPED_BASE. MAP_32BIT searches [1 GiB, 2 GiB).
 */
export function unmappedArea(mm: Mm, addr: number, len: number, flags: number): number {
  if (len > TASK_SIZE || len > TASK_SIZE - MMAP_MIN_ADDR) return -ENOMEM;
  if (addr > 0 && (flags & MAP_32BIT) === 0) {
    const hint = addr - (addr % PAGE);
    if (hint >= MMAP_MIN_ADDR && hint <= TASK_SIZE - len && rangeFree(mm, hint, len)) return hint;
  }
  const align = len % PMD_SIZE === 0 ? PMD_SIZE : PAGE;
  const [low, high] = (flags & MAP_32BIT) !== 0 ? [2 ** 30, 2 ** 31] : [MMAP_MIN_ADDR, Math.min(mm.mmapBase, TASK_SIZE)];
  const down = searchTopDown(mm, len, align, low, high);
  if (down >= 0 || (flags & MAP_32BIT) !== 0) return down; // searchTopDown fails with -ENOMEM
  return searchBottomUp(mm, len, align, TASK_UNMAPPED_BASE, TASK_SIZE);
}

function searchTopDown(mm: Mm, len: number, align: number, low: number, high: number): number {
  let top = high;
  for (;;) {
    const gap = mm.vmas.gapRangeTopDown(len, low, top);
    if (gap === null) return -ENOMEM;
    const [a, b] = gap;
    const above = mm.vmas.findNext(b);
    const limit = above !== null && above.start === b ? Math.min(b, startGap(above)) : b;
    const start = Math.floor((limit - len) / align) * align;
    if (start >= a) return start;
    top = a; // this gap is too small once guard and alignment are kept: look lower
  }
}

function searchBottomUp(mm: Mm, len: number, align: number, low: number, high: number): number {
  for (let at = Math.ceil(low / align) * align; at + len <= high;) {
    const next = mm.vmas.findNext(at);
    if (next === null || at + len <= startGap(next)) return at;
    at = Math.ceil(next.end / align) * align;
  }
  return -ENOMEM;
}

/** The flags MAP_SHARED_VALIDATE accepts on a file (LEGACY_MAP_MASK; no MAP_SYNC: no DAX). */
const LEGACY_MAP_MASK = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE |
  MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB;

/** mmap(2) for anonymous memory. */
export function sysMmap(k: Kmm, mm: Mm, addr: number, len: number, prot: number, flags: number, fd: number, off: number, cpu: number, files: FdTable | null = null): number {
  if (![addr, len, prot, flags, fd, off].every(isUserInt)) return -EINVAL;
  if (off % PAGE !== 0) return -EINVAL;
  let file: File | null = null;
  let hugetlbFile: HugetlbMapping | null = null;
  if ((flags & MAP_ANONYMOUS) === 0) {
    file = files?.get(fd) ?? null;
    if (file === null) return -EBADF;
    const region = file.ops.region?.(file);
    if (region !== undefined) return len === 0 ? -EINVAL : mmapRegion(k, mm, region as MshareRegion, addr, len, prot, flags, cpu);
    hugetlbFile = file.ops.hugetlb?.(file) ?? null;
    if (hugetlbFile === null && (flags & MAP_HUGETLB) !== 0) return -EINVAL; // not a hugetlbfs file
  }
  // Anonymous MAP_HUGETLB maps a file Linux makes on hugetlbfs, so from here on it follows
  // the file rules, with its length rounded up to the huge page size.
  const hugetlb = file === null && (flags & MAP_HUGETLB) !== 0;
  let hstate: HState | null = null;
  if (hugetlb) {
    const log = (flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
    if (log !== 0 && log !== 21 && log !== 30) return -EINVAL;
    hstate = log === 30 ? k.hugetlb.hstates[1] : k.hugetlb.hstates[0];
  }
  if (hugetlbFile !== null) hstate = hugetlbFile.h; // the length is rounded to the file's page size
  if (len === 0 || len < 0) return -EINVAL;
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  const aligned = hstate === null ? pageAlign(len) : Math.ceil(len / hstate.size) * hstate.size;
  if (aligned > 2 ** 64 - PAGE) return -ENOMEM;
  if (off / PAGE + aligned / PAGE > 2 ** 64 / PAGE) return -EOVERFLOW;
  if (mm.vmas.count > k.vm.maxMapCount) return -ENOMEM;
  let start: number;
  if (fixed) {
    if (addr % PAGE !== 0 || (hstate !== null && addr % hstate.size !== 0)) return -EINVAL;
    if (addr < MMAP_MIN_ADDR) return -EPERM;
    if (addr > TASK_SIZE || aligned > TASK_SIZE - addr) return -ENOMEM;
    start = addr;
    if ((flags & MAP_FIXED_NOREPLACE) !== 0 && mm.vmas.intersecting(start, start + aligned).length > 0) return -EEXIST;
  } else {
    // hugetlb_get_unmapped_area: an address aligned to the huge page size.
    const pad = hstate === null ? 0 : hstate.size;
    start = unmappedArea(mm, addr < 0 || addr > TASK_SIZE ? 0 : addr, aligned + pad, flags);
    if (start < 0) return start;
    if (hstate !== null) start = Math.ceil(start / hstate.size) * hstate.size;
  }
  // Rows 13 and 14: locked memory needs CAP_IPC_LOCK or room under RLIMIT_MEMLOCK.
  if ((flags & MAP_LOCKED) !== 0 && !canDoMlock(mm)) return -EPERM;
  if (!mlockFutureOk(mm, ((flags & MAP_LOCKED) !== 0 ? VM_LOCKED : 0) | mm.defFlags, aligned)) return -EAGAIN;
  const type = flags & MAP_TYPE;
  let vmFlags = protToVmFlags(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  let shmem: AddressSpace | null = null;
  let pgoff = start / PAGE;
  let droppable = false;
  let refpage: RefPage | null = null;
  let hugetlbMap: HugetlbMapping | null = null;
  let hugetlbReserve = false;
  if (file !== null || hugetlb) {
    // do_mmap's file checks, in order.
    if (type === MAP_SHARED_VALIDATE && (flags & ~LEGACY_MAP_MASK) !== 0) return -EOPNOTSUPP;
    const shared = type === MAP_SHARED || type === MAP_SHARED_VALIDATE;
    if (shared) {
      if ((prot & PROT_WRITE) !== 0 && file !== null && !file.writable) return -EACCES;
    } else if (type !== MAP_PRIVATE) {
      return -EINVAL;
    }
    if (file !== null && !file.readable) return -EACCES;
    refpage = file?.ops.refpage?.(file) ?? null;
    if (refpage !== null) {
      // v5 forced even a shared mapping anonymous, leaving it broken; ptlab refuses it.
      if (shared || (flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
      pgoff = off / PAGE;
    } else if (file === null) {
      // Anonymous hugetlb: pages from the pool, reserved now unless MAP_NORESERVE.
      if ((flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
      const h = hstate!;
      hugetlbMap = new HugetlbMapping(h, shared);
      if (shared) vmFlags |= VM_SHARED | VM_MAYSHARE;
      vmFlags |= VM_HUGETLB | VM_DONTEXPAND;
      pgoff = 0;
      if ((flags & MAP_NORESERVE) === 0) {
        if (h.free.length - h.resv < aligned / h.size) return -ENOMEM;
        hugetlbReserve = true;
      }
    } else if (hugetlbFile !== null) {
      // hugetlbfs_file_mmap: the offset must be a whole number of huge pages.
      const h = hugetlbFile.h;
      if (off % h.size !== 0 || (flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
      vmFlags |= VM_HUGETLB | VM_DONTEXPAND;
      pgoff = off / PAGE;
      if (shared) {
        vmFlags |= VM_SHARED | VM_MAYSHARE;
        if (!file.writable) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
        hugetlbMap = hugetlbFile;
        // hugetlbfs_file_mmap: a writable mapping past the end extends the file.
        if ((prot & PROT_WRITE) !== 0 && hugetlbFile.size < off + aligned) hugetlbFile.size = off + aligned;
        hugetlbReserve = (flags & MAP_NORESERVE) === 0;
        if (hugetlbReserve) {
          let need = 0;
          for (let i = off / h.size; i < (off + aligned) / h.size; i++) if (!hugetlbFile.pages!.has(i) && !hugetlbFile.resvIdx.has(i)) need++;
          if (h.free.length - h.resv < need) return -ENOMEM;
        }
      } else {
        hugetlbMap = new HugetlbMapping(h, false);
        hugetlbMap.source = hugetlbFile;
        if ((flags & MAP_NORESERVE) === 0) {
          if (h.free.length - h.resv < aligned / h.size) return -ENOMEM;
          hugetlbReserve = true;
        }
      }
    } else if (file.ops.mmap === undefined) {
      return -ENODEV;
    } else {
      if ((flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
      if (shared) {
        vmFlags |= VM_SHARED | VM_MAYSHARE;
        // A shared mapping of a descriptor not open for writing can never become writable.
        if (!file.writable) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
      }
      const target = file.ops.mmap(file, shared, aligned);
      if (typeof target === 'number') return target;
      shmem = target;
      if (shmem !== null) pgoff = off / PAGE;
    }
  } else if (type === MAP_SHARED) {
    if ((flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
    vmFlags |= VM_SHARED | VM_MAYSHARE;
    shmem = new AddressSpace(k.nextIno(), aligned);
    pgoff = 0;
  } else if (type === MAP_PRIVATE) {
    if ((flags & MAP_GROWSDOWN) !== 0) vmFlags |= VM_GROWSDOWN;
  } else if (type === MAP_DROPPABLE) {
    // Memory the kernel may drop under pressure (none here: it stays): never locked,
    // huge or a stack, not reserved, not inherited, not dumped.
    if ((flags & (MAP_LOCKED | MAP_HUGETLB | MAP_GROWSDOWN)) !== 0) return -EINVAL;
    vmFlags |= VM_NORESERVE | VM_WIPEONFORK | VM_DONTDUMP;
    droppable = true;
  } else {
    return -EINVAL; // any other type, MAP_SHARED_VALIDATE included
  }
  if ((flags & MAP_NORESERVE) !== 0) vmFlags |= VM_NORESERVE;
  // accountable_mapping: only private writable memory is charged (VM_ACCOUNT); hugetlb
  // pages are accounted by their pool.
  if ((vmFlags & (VM_NORESERVE | VM_SHARED | VM_WRITE | VM_HUGETLB)) === VM_WRITE) vmFlags |= VM_ACCOUNT;
  if ((flags & MAP_LOCKED) !== 0) vmFlags |= VM_LOCKED;
  vmFlags |= mm.defFlags;
  if (k.vm.softDirty) vmFlags |= VM_SOFTDIRTY; // __mmap_complete: a new mapping is all soft-dirty
  // Droppable memory is never locked, even under mlockall(MCL_FUTURE); it is still
  // populated as a locked mapping would be.
  const populateFlags = vmFlags;
  if (droppable) vmFlags &= ~VM_LOCKED_MASK;
  // __mmap_region: gather what a MAP_FIXED covers (splits, seals, the hole limit), check
  // the limits on the net growth, clear the old PTEs, then replace the old VMAs with the
  // new one in one step and complete the unmap. A failure before the replacement leaves
  // the old mappings in place.
  const vms = new VmaMunmap(mm, start, start + aligned);
  if (fixed) {
    const r = vms.gather(k);
    if (r < 0) return r;
  }
  if (!mayExpandVm(mm, vmFlags, aligned / PAGE - vms.nrPages)) return -ENOMEM;
  vms.clearPtes(k); // vms_clean_up_area
  for (const v of vms.vmas) mm.vmas.remove(v);
  const vma = new Vma(start, start + aligned, vmFlags, pgoff, shmem);
  vma.droppable = droppable;
  vma.refpage = refpage;
  refpage?.get();
  if (hugetlbMap !== null) {
    vma.hugetlb = hugetlbMap;
    hugetlbMap.users++;
    hugetlbMap.vmas.add(vma);
    if (hugetlbReserve) hugetlbMap.reserve(pgoff * PAGE / hugetlbMap.h.size, aligned / hugetlbMap.h.size);
  }
  mm.vmas.insert(vma);
  linkVma(mm, vma);
  vms.complete(k, cpu);
  vmStatAccount(mm, vmFlags, aligned / PAGE);
  // Linux tries the merge with VM_LOCKED from mlockall(MCL_FUTURE) still set and clears it
  // from a droppable mapping only afterwards, so such a mapping merges with nothing.
  if (populateFlags === vmFlags) mergeAround(mm, vma);
  const wantPopulate = ((populateFlags & VM_LOCKED) !== 0 && (populateFlags & VM_LOCKONFAULT) === 0) || (flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE;
  if (wantPopulate) mmPopulate(k, mm, start, start + aligned, cpu, true); // MAP_POPULATE hides errors
  return start;
}

/**
 * exit_mmap: free every mapping, frame and page table of mm, and its PML4. No CPU may run
 * it any more (a process that exited, a region nothing maps), so nothing is shot down.
 */
export function exitMmap(k: Kmm, mm: Mm): void {
  const g = new Gather();
  for (const v of [...mm.vmas.all()]) {
    if (v.mshare !== null) mshareUnlink(k, mm, v, -1);
    else zapRange(k, mm, v.start, v.end, g);
    mm.vmas.remove(v);
    releaseVma(k, v);
  }
  freePgtables(k, mm, 0, USER_TOP, 0, USER_TOP, g);
  releaseGather(k, g);
  if (mm.ptePages !== 0) throw new KernelBug(`exitMmap: ${mm.ptePages} page-table pages unaccounted for`);
  k.mem.zeroFrame(mm.pml4);
  k.pages.flags[mm.pml4] &= ~PG_PGTABLE;
  k.pages.putPage(mm.pml4);
}

/** munmap(2). */
export function sysMunmap(k: Kmm, mm: Mm, addr: number, len: number, cpu: number): number {
  if (!isUserInt(addr) || !isUserInt(len)) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0 || addr > TASK_SIZE || len < 0 || len > TASK_SIZE - addr) return -EINVAL;
  const end = addr + pageAlign(len);
  if (end === addr) return -EINVAL;
  return doMunmap(k, mm, addr, end, cpu);
}

/**
 * Remove every mapping in [start, end): split, zap, flush, free tables and frames. A sealed
 * VMA in the range fails the whole call with EPERM and removes nothing, but, as on Linux
 * (vms_gather_munmap_vmas), a split already made at `start` stays.
 */
export function doMunmap(k: Kmm, mm: Mm, start: number, end: number, cpu: number): number {
  const vms = new VmaMunmap(mm, start, end);
  const r = vms.gather(k);
  if (r < 0) return r; // nothing detached; a split already made stays, as in Linux
  for (const v of vms.vmas) mm.vmas.remove(v); // vma_iter_clear: the range is empty now
  vms.complete(k, cpu);
  return 0;
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
  private readonly g = new Gather();

  constructor(mm: Mm, start: number, end: number) {
    this.mm = mm;
    this.start = start;
    this.end = end;
  }

  gather(k: Kmm): number {
    const { mm, start, end } = this;
    if (hugetlbCut(mm, start, end)) return -EINVAL; // a hugetlb VMA splits only at its page size
    const found = mm.vmas.intersecting(start, end);
    if (found.length === 0) return 0;
    const first = found[0];
    if (first.start < start) {
      // Punching a hole inside one VMA adds one: refused at the limit (other splits may
      // pass it for a moment).
      if (end < first.end && mm.vmas.count >= k.vm.maxMapCount) return -ENOMEM;
      if (first.sealed) return -EPERM; // no point splitting what cannot go
    }
    // An mshare region's VMA goes whole or not at all (its may_split refuses).
    if (found.some((v) => v.mshare !== null && (v.start < start || v.end > end))) return -EINVAL;
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

  clearPtes(k: Kmm): void {
    if (!this.ptesPending) return;
    this.ptesPending = false;
    const { mm, start, end, g } = this;
    for (const v of this.vmas) {
      if (v.mshare !== null) mshareUnlink(k, mm, v, -1); // the region's tables are not this mm's to zap
      else zapRange(k, mm, v.start, v.end, g);
    }
    // Tables are freed only where no neighbour outside [start, end) can need them.
    const prev = mm.vmas.prevOf(this.vmas.length > 0 ? this.vmas[0].start : start);
    const next = mm.vmas.findNext(this.vmas.length > 0 ? this.vmas[this.vmas.length - 1].end : end);
    freePgtables(k, mm, start, end, prev === null ? 0 : prev.end, next === null ? USER_TOP : next.start, g);
  }

  complete(k: Kmm, cpu: number): void {
    for (const v of this.vmas) vmStatAccount(this.mm, v.flags, -(v.end - v.start) / PAGE);
    this.clearPtes(k);
    finishGather(k, this.mm, this.g, cpu);
    for (const v of this.vmas) releaseVma(k, v);
  }
}

/** mprotect(2). */
export function sysMprotect(k: Kmm, mm: Mm, addr: number, len: number, prot: number, cpu: number): number {
  if (!isUserInt(addr) || !isUserInt(len) || !isUserInt(prot)) return -EINVAL;
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
  if (hugetlbCut(mm, start, end)) {
    return -EINVAL;
  }
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
    if (v.mshare !== null) {
      result = -EINVAL; // the region's vm_ops refuse mprotect, whole or part
      break;
    }
    let newFlags = (v.flags & ~VM_ACCESS_FLAGS) | want;
    // mprotect_fixup: making private memory writable for the first time charges it.
    if ((newFlags & VM_WRITE) !== 0 && (v.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE)) === 0) newFlags |= VM_ACCOUNT;
    // ... and making never-faulted anonymous memory read-only uncharges it again.
    else if ((newFlags & VM_WRITE) === 0 && (v.flags & VM_ACCOUNT) !== 0 && v.shmem === null && v.anonVma === null) newFlags &= ~VM_ACCOUNT;
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
    mergeAround(mm, v);
  }
  finishGather(k, mm, g, cpu);
  return result;
}

/** Rewrite the PTEs of vma for its (new) flags, collecting the range to flush. */
function changePtes(k: Kmm, mm: Mm, vma: Vma, g: Gather): void {
  if (vma.hugetlb !== null) unsharePmds(k, mm, vma.start, vma.end, g); // the others keep their rights
  const access = (vma.flags & VM_ACCESS_FLAGS) !== 0;
  const nx = (vma.flags & VM_EXEC) === 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  forEachPte(k, mm, vma.start, vma.end, (w, va) => {
    const lo = k.ops.lo(w);
    const hi = k.ops.hi(w);
    const pfn = ptePfn(lo, hi);
    // Write is granted here only to shared pages; private pages regain it on a write fault.
    // (Write-notified mappings stay read-only: their driver hears of each first write.)
    const writable = shared && (vma.flags & VM_WRITE) !== 0 && !k.pages.isSpecial(pfn) && (vma.shmem?.vmOps ?? null) === null;
    let next = (lo & ~(_PAGE_PRESENT | _PAGE_RW | _PAGE_PROTNONE)) | vmaPteFlags(vma, writable);
    if (!access) next = (lo & ~(_PAGE_PRESENT | _PAGE_RW)) | _PAGE_PROTNONE;
    k.ops.ptepModify(w, next, mkPteHi(pfn, nx), true);
    g.cover(va, va + PAGE);
  }, (w, va) => (vma.hugetlb !== null ? changeHugetlbLeaf(k, vma, w, va, g) : changeHugePmd(k, vma, w, va, vma.start, vma.end, g)));
}

/**
 * brk(2) (../shared/reference/vma-syscalls.md section 11): always returns the resulting
 * break; a request it cannot satisfy returns the old one. The unaligned value is stored and
 * returned. Shrinking unmaps [PAGE_ALIGN(new), PAGE_ALIGN(old)); growing needs a page of
 * room below the next VMA (and its stack guard gap), then extends the heap VMA or creates
 * one. No RLIMIT_DATA yet.
 */
export function sysBrk(k: Kmm, mm: Mm, addr: number, cpu: number): number {
  if (!Number.isInteger(addr) || addr < mm.startBrk || addr > TASK_SIZE) return mm.brk;
  const newBrk = pageAlign(addr);
  const oldBrk = pageAlign(mm.brk);
  if (newBrk === oldBrk) {
    mm.brk = addr;
    return addr;
  }
  if (newBrk < oldBrk) {
    if (doMunmap(k, mm, newBrk, oldBrk, cpu) < 0) return mm.brk; // a sealed heap
    mm.brk = addr;
    return addr;
  }
  if (addr - mm.startBrk > mm.rlimits[RLIMIT_DATA][0]) return mm.brk; // check_data_rlimit
  const next = mm.vmas.findNext(oldBrk);
  if (next !== null && newBrk + PAGE > startGap(next)) return mm.brk;
  if (!mlockFutureOk(mm, mm.defFlags, newBrk - oldBrk)) return mm.brk;
  if (!mayExpandVm(mm, VM_READ | VM_WRITE, (newBrk - oldBrk) / PAGE)) return mm.brk;
  if (mm.vmas.count > k.vm.maxMapCount) return mm.brk;
  const flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | mm.defFlags | (k.vm.softDirty ? VM_SOFTDIRTY : 0);
  const vma = new Vma(oldBrk, newBrk, flags, oldBrk / PAGE, null);
  mm.vmas.insert(vma);
  linkVma(mm, vma);
  vmStatAccount(mm, flags, (newBrk - oldBrk) / PAGE);
  mergeAround(mm, vma);
  mm.brk = addr;
  if ((mm.defFlags & VM_LOCKED) !== 0) mmPopulate(k, mm, oldBrk, newBrk, cpu, true);
  return addr;
}

/**
 * mseal(2) (../shared/reference/vma-syscalls.md section 10): seal [addr, addr + len) against
 * munmap, MAP_FIXED, mprotect, mremap and destructive madvise. The whole range must be
 * mapped (else ENOMEM and nothing changes); VMAs are split at its ends. Idempotent.
 */
export function sysMseal(k: Kmm, mm: Mm, addr: number, len: number, flags: number): number {
  if (!isUserInt(addr) || !isUserInt(len) || !isUserInt(flags)) return -EINVAL;
  if (flags !== 0) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0 || len < 0) return -EINVAL;
  const end = addr + pageAlign(len);
  if (end > 2 ** 64) return -EINVAL;
  if (len === 0) return 0;
  let at = addr;
  for (const v of mm.vmas.intersecting(addr, end)) {
    if (v.start > at) return -ENOMEM;
    at = v.end;
  }
  if (at < end) return -ENOMEM;
  if (hugetlbCut(mm, addr, end)) return -EINVAL;
  for (const v of mm.vmas.intersecting(addr, end)) {
    if (v.sealed) continue;
    let t = v;
    if ((t.start < addr || t.end > end) && mm.vmas.count >= k.vm.maxMapCount) return -ENOMEM;
    if (t.start < addr) t = splitVma(mm, t, addr);
    if (t.end > end) splitVma(mm, t, end);
    t.sealed = true;
    mergeAround(mm, t);
  }
  return 0;
}

/**
 * mlock, mlock2 and munlock (mm/mlock.c do_mlock, apply_vma_lock_flags): without
 * CAP_IPC_LOCK, EPERM if RLIMIT_MEMLOCK is 0 and ENOMEM if the newly locked pages would
 * exceed it; the start is rounded down to a page and the length up around it; a range that
 * starts in a hole, or has one, gives ENOMEM (VMAs before the hole keep the change); then
 * locked pages are faulted in (mlock's population errors: EFAULT becomes ENOMEM, ENOMEM
 * becomes EAGAIN).
 */
export function sysMlock(k: Kmm, mm: Mm, addr: number, len: number, lockFlags: number, cpu: number): number {
  if (lockFlags !== 0 && !canDoMlock(mm)) return -EPERM;
  if (!isUserInt(addr) || !isUserInt(len) || addr < 0 || len < 0) return -EINVAL;
  const start = addr - (addr % PAGE);
  const end = start + pageAlign(len + (addr % PAGE));
  if (end > 2 ** 64) return -EINVAL;
  if (lockFlags !== 0 && !mm.capIpcLock) {
    // do_mlock: the new pages, not counting those already locked, must fit RLIMIT_MEMLOCK.
    const limit = Math.floor(mm.rlimits[RLIMIT_MEMLOCK][0] / PAGE);
    const locked = lockedVm(mm) + (end - start) / PAGE;
    if (locked > limit && locked - lockedVm(mm, start, end) > limit) return -ENOMEM;
  }
  if (end === start) return 0;
  const first = mm.vmas.find(start);
  if (first === null) return -ENOMEM;
  if (hugetlbCut(mm, start, end)) return -EINVAL;
  let at = start;
  while (at < end) {
    const v = mm.vmas.find(at);
    if (v === null) return -ENOMEM;
    const to = Math.min(end, v.end);
    // mlock_fixup leaves droppable memory unlocked (and populates it all the same).
    if (modifyFlags(k, mm, v, at, to, (f) => (v.droppable ? f : (f & ~VM_LOCKED_MASK) | lockFlags)) === null) return -ENOMEM;
    at = to;
  }
  // __mm_populate runs for lock-on-fault too: it skips VMAs that are lock-on-fault, but
  // not droppable ones inside the range, which mlock left unlocked.
  if ((lockFlags & VM_LOCKED) !== 0) {
    const r = mmPopulate(k, mm, start, end, cpu);
    if (r === FAULT_OOM) return -EAGAIN;
    if (r !== FAULT_DONE) return -ENOMEM;
  }
  return 0;
}

/** mlockall(2) and munlockall(2) (flags 0). */
export function sysMlockall(k: Kmm, mm: Mm, flags: number, cpu: number): number {
  if (!isUserInt(flags)) return -EINVAL;
  if (flags !== 0 && ((flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) !== 0 || flags === MCL_ONFAULT)) return -EINVAL;
  if (flags !== 0 && !canDoMlock(mm)) return -EPERM;
  // MCL_CURRENT without CAP_IPC_LOCK: the whole address space must fit RLIMIT_MEMLOCK.
  if ((flags & MCL_CURRENT) !== 0 && !mm.capIpcLock && mm.totalVm > Math.floor(mm.rlimits[RLIMIT_MEMLOCK][0] / PAGE)) return -ENOMEM;
  const lock = VM_LOCKED | ((flags & MCL_ONFAULT) !== 0 ? VM_LOCKONFAULT : 0);
  mm.defFlags = (mm.defFlags & ~VM_LOCKED_MASK) | ((flags & MCL_FUTURE) !== 0 ? lock : 0);
  if (flags !== 0 && (flags & MCL_CURRENT) === 0) return 0;
  const set = flags === 0 ? 0 : lock;
  for (let v = mm.vmas.findNext(0); v !== null; v = mm.vmas.findNext(v.end)) {
    const w = v;
    v = modifyFlags(k, mm, v, v.start, v.end, (f) => (w.droppable ? f : (f & ~VM_LOCKED_MASK) | set)) ?? v; // whole VMAs: no split
  }
  if (set !== 0) mmPopulate(k, mm, 0, TASK_SIZE, cpu, true); // skips lock-on-fault VMAs
  return 0;
}

/** msync(2) (mm/msync.c): tmpfs has nothing to write back, so only the checks remain. */
export function sysMsync(mm: Mm, addr: number, len: number, flags: number): number {
  if (!isUserInt(addr) || !isUserInt(len) || !isUserInt(flags)) return -EINVAL;
  if ((flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) !== 0) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0) return -EINVAL;
  if ((flags & MS_ASYNC) !== 0 && (flags & MS_SYNC) !== 0) return -EINVAL;
  if (len < 0) return -ENOMEM;
  let start = addr;
  const end = addr + pageAlign(len);
  if (end === start) return 0;
  let unmapped = 0;
  for (let v = mm.vmas.findNext(start); ; v = mm.vmas.findNext(start)) {
    if (v === null) return -ENOMEM;
    if (start < v.start) {
      if (flags === MS_ASYNC) return -ENOMEM;
      start = v.start;
      if (start >= end) return -ENOMEM;
      unmapped = -ENOMEM;
    }
    if ((flags & MS_INVALIDATE) !== 0 && (v.flags & VM_LOCKED) !== 0) return -EBUSY;
    start = v.end;
    if (start >= end) return unmapped;
  }
}

/**
 * mincore(2) (mm/mincore.c): one byte per page of [addr, addr + len) written to vec, 1 if
 * resident (a mapped PTE, PROT_NONE and the zero page included, or a shmem page in its
 * object). EINVAL for an unaligned start, ENOMEM for a range past TASK_SIZE, EFAULT for a
 * vector past it, ENOMEM at the first unmapped page (the bytes before it are written, as
 * Linux does). The answer goes out one VMA and at most a page of bytes at a time, as
 * Linux's does, so no length makes the kernel allocate more than a page for it.
 */
export function sysMincore(k: Kmm, mm: Mm, addr: number, len: number, vec: number, cpu: number): number {
  if (!isUserInt(addr) || !isUserInt(len) || addr % PAGE !== 0 || addr < 0) return -EINVAL;
  if (len < 0 || addr + len > TASK_SIZE) return -ENOMEM; // access_ok(start, len)
  let pages = Math.ceil(len / PAGE);
  if (!isUserInt(vec) || vec < 0 || vec + pages > TASK_SIZE) return -EFAULT; // access_ok(vec, pages)
  const tmp = new Uint8Array(PAGE);
  for (let va = addr, out = vec; pages > 0;) {
    const n = mincoreChunk(k, mm, va, Math.min(pages, PAGE), tmp);
    if (n < 0) return n;
    const r = copyToUser(k, mm, out, tmp.subarray(0, n), cpu);
    if (r < 0) return r;
    pages -= n;
    out += n;
    va += n * PAGE;
  }
  return 0;
}

/** do_mincore: up to `pages` bytes for [va, ...) within one VMA into tmp; how many, or -ENOMEM. */
function mincoreChunk(k: Kmm, mm: Mm, va: number, pages: number, tmp: Uint8Array): number {
  const v = mm.vmas.find(va);
  if (v === null) return -ENOMEM;
  const n = Math.min(pages, (v.end - va) / PAGE);
  for (let i = 0; i < n; i++) {
    const at = va + i * PAGE;
    tmp[i] = leafWord(k, mm, at) !== null ? 1 // pte_present: PROT_NONE entries keep their page
      : v.shmem !== null && v.shmem.pages.has(v.pgoff + (at - v.start) / PAGE) ? 1 : 0;
  }
  return n;
}
