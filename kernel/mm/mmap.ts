// mmap(2), brk(2) and fork's dup_mmap (mm/mmap.c: do_mmap, mmap_region, brk, dup_mmap; mm/vma.c: __mmap_region), with
// the check order of ../shared/reference/vma-syscalls.md sections 4 and 11. Results are
// Linux raw results: an address, or -errno.
//
// sysMmap in three steps:
//   mmapRequest   the arguments, the file, the page size, the length (do_mmap's checks)
//   mmapPrepare   what the mapping will be (a VmaDesc): anonymous, shared anonymous
//                 (shmem), anonymous hugetlb, or whatever the file's mmap operation makes it
//   mmapRegion    __mmap_region: gather what a MAP_FIXED replaces, check the limits, put
//                 the VMA in, complete the unmap, account, merge, populate
// Not yet: overcommit accounting.

import { K_FORKS } from '../../machine/index.ts';
import type { FdTable, File } from '../fs/index.ts';
import {
  EACCES, EAGAIN, EBADF, EEXIST, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM, MAP_ANONYMOUS, MAP_DENYWRITE,
  MAP_DROPPABLE, MAP_EXECUTABLE, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGE_MASK, MAP_HUGE_SHIFT,
  MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
  MAP_STACK, MAP_TYPE, MAP_UNINITIALIZED, MMAP_MIN_ADDR, PROT_WRITE, RLIMIT_DATA, TASK_SIZE,
} from '../uapi.ts';
import { anonVmaFork } from './anon_vma.ts';
import { anonVmOps } from './fault.ts';
import { shmemZeroSetup } from './filemap.ts';
import { mmPopulate } from './gup.ts';
import { finish, type MaybeSliced, type Sliced, thenReturn } from './slice.ts';
import type { Kmm } from './kmm.ts';
import { copyPageRange } from './memory.ts';
import { canDoMlock, mayExpandVm, mlockFutureOk, type Mm, mmAlloc, USER_TOP, vmStatAccount } from './mm.ts';
import {
  PAGE_SIZE as PAGE, pageAlign, protToVmFlags, VM_ACCOUNT, VM_DONTCOPY, VM_DONTDUMP, VM_GROWSDOWN, VM_HUGETLB,
  VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NOHUGEPAGE,
  VM_MAYBE_GUARD, VM_NORESERVE, VM_READ, VM_SHARED, VM_SOFTDIRTY, VM_WIPEONFORK, VM_WRITE, Vma, type VmaDesc,
} from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { exitMmap, exitMmapSliced } from './exit_mmap.ts';
import { doMunmap, VmaMunmap } from './munmap.ts';
import { checkSealsMmap } from './seals.ts';
import { startGap, unmappedArea } from './unmapped_area.ts';
import { linkVma, vmaMerge } from './vma.ts';

/** The flags MAP_SHARED_VALIDATE accepts on a file (LEGACY_MAP_MASK; no MAP_SYNC: no DAX). */
const LEGACY_MAP_MASK = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE |
  MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB;

/** What mmapRequest found: the file (null: anonymous), the page size, the rounded length. */
interface MmapRequest {
  readonly file: File | null;
  /** Huge page size of a hugetlb mapping (anonymous MAP_HUGETLB or a hugetlbfs file), else 0. */
  readonly hugeSize: number;
  readonly len: number;
}

/** mmap(2) in one go (its population included). `files` resolves fd (null: anonymous mappings only). */
export function sysMmap(k: Kmm, mm: Mm, addr: number, len: number, prot: number, flags: number, fd: number, off: number, cpu: number, files: FdTable | null = null): number {
  return finish(k, sysMmapSliced(k, mm, addr, len, prot, flags, fd, off, cpu, files));
}

/** mmap(2), whose population (MAP_POPULATE, MAP_LOCKED, mlockall's MCL_FUTURE) runs in slices. */
export function sysMmapSliced(k: Kmm, mm: Mm, addr: number, len: number, prot: number, flags: number, fd: number, off: number, cpu: number, files: FdTable | null): MaybeSliced {
  if (![addr, len, prot, flags, fd, off].every(Number.isInteger)) return -EINVAL;
  const req = mmapRequest(k, mm, len, flags, fd, off, files);
  if (typeof req === 'number') return req;
  const start = mmapAddress(mm, req, addr, flags);
  if (start < 0) return start;
  // Rows 13 and 14: locked memory needs CAP_IPC_LOCK or room under RLIMIT_MEMLOCK.
  if ((flags & MAP_LOCKED) !== 0 && !canDoMlock(mm)) return -EPERM;
  if (!mlockFutureOk(mm, ((flags & MAP_LOCKED) !== 0 ? VM_LOCKED : 0) | mm.defFlags, req.len)) return -EAGAIN;
  const type = flags & MAP_TYPE;
  const desc: VmaDesc = {
    start, end: start + req.len, prot, mapFlags: flags, off, shared: type === MAP_SHARED || type === MAP_SHARED_VALIDATE,
    pgoff: start / PAGE, flags: protToVmFlags(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
    ops: anonVmOps, mapping: null, file: null, privateData: null, droppable: false, check: null, action: null,
  };
  const r = mmapPrepare(k, req, desc);
  if (r < 0) return r;
  if ((flags & MAP_NORESERVE) !== 0) desc.flags |= VM_NORESERVE;
  // accountable_mapping: only private writable memory is charged (VM_ACCOUNT); hugetlb
  // pages are accounted by their pool.
  if ((desc.flags & (VM_NORESERVE | VM_SHARED | VM_WRITE | VM_HUGETLB)) === VM_WRITE) desc.flags |= VM_ACCOUNT;
  if ((flags & MAP_LOCKED) !== 0) desc.flags |= VM_LOCKED;
  // calc_vm_flag_bits: a stack is never backed by transparent huge pages (Linux 6.7+).
  if ((flags & MAP_STACK) !== 0) desc.flags |= VM_NOHUGEPAGE;
  desc.flags |= mm.defFlags;
  if (k.vm.softDirty) desc.flags |= VM_SOFTDIRTY; // __mmap_complete: a new mapping is all soft-dirty
  return mmapRegion(k, mm, desc, (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0, cpu);
}

/**
 * do_mmap's first checks: a page-aligned offset, the descriptor (EBADF),
 * MAP_HUGETLB's page size, a length that is not 0 and does not overflow, the map count.
 */
function mmapRequest(k: Kmm, mm: Mm, len: number, flags: number, fd: number, off: number, files: FdTable | null): MmapRequest | number {
  if (off % PAGE !== 0) return -EINVAL;
  let file: File | null = null;
  let hugeSize = 0;
  if ((flags & MAP_ANONYMOUS) === 0) {
    file = files?.getIo(fd) ?? null;
    if (file === null) return -EBADF;
    // A hugetlbfs file: the length is rounded to its page size (ksys_mmap_pgoff).
    hugeSize = file.ops.hugePageSize?.(file) ?? 0;
    if (hugeSize === 0 && (flags & MAP_HUGETLB) !== 0) return -EINVAL; // not a hugetlbfs file
  } else if ((flags & MAP_HUGETLB) !== 0) {
    // Anonymous MAP_HUGETLB maps a file Linux makes on hugetlbfs (hugetlb_file_setup): from
    // here on it follows the file rules, with the length rounded up to the huge page size.
    hugeSize = k.hugetlb.pageSize((flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK);
    if (hugeSize === 0) return -EINVAL;
  }
  if (len <= 0) return -EINVAL;
  const aligned = hugeSize === 0 ? pageAlign(len) : Math.ceil(len / hugeSize) * hugeSize;
  if (aligned > 2 ** 64 - PAGE) return -ENOMEM;
  if (off / PAGE + aligned / PAGE > 2 ** 64 / PAGE) return -EOVERFLOW;
  if (mm.vmas.count > k.vm.maxMapCount) return -ENOMEM;
  return { file, hugeSize, len: aligned };
}

/**
 * The address (get_unmapped_area): a fixed one checked, the file's own choice (msharefs),
 * or a free range, aligned to the huge page size for hugetlb; -errno.
 */
function mmapAddress(mm: Mm, req: MmapRequest, addr: number, flags: number): number {
  const { file, hugeSize, len } = req;
  let start: number;
  if (file?.ops.getUnmappedArea !== undefined) {
    start = file.ops.getUnmappedArea(file, mm, addr, len, flags);
    if (start < 0) return start;
  } else if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0) {
    if (addr % PAGE !== 0 || (hugeSize !== 0 && addr % hugeSize !== 0)) return -EINVAL;
    if (addr < MMAP_MIN_ADDR) return -EPERM;
    if (addr > TASK_SIZE || len > TASK_SIZE - addr) return -ENOMEM;
    start = addr;
  } else {
    // hugetlb_get_unmapped_area: an address aligned to the huge page size.
    start = unmappedArea(mm, addr < 0 || addr > TASK_SIZE ? 0 : addr, len + hugeSize, flags);
    if (start < 0) return start;
    if (hugeSize !== 0) start = Math.ceil(start / hugeSize) * hugeSize;
  }
  if ((flags & MAP_FIXED_NOREPLACE) !== 0 && mm.vmas.intersecting(start, start + len).length > 0) return -EEXIST;
  return start;
}

/**
 * file_mmap_ok for a regular file: the offset, taken as the unsigned long the syscall
 * passes (a negative one is huge), and the length must end within MAX_LFS_FILESIZE.
 */
function fileMmapOk(off: number, len: number): boolean {
  const max = (1n << 63n) - 1n;
  const l = BigInt(len);
  if (l > max) return false;
  return BigInt.asUintN(64, BigInt(off)) >> 12n <= (max - l) >> 12n;
}

/**
 * What the mapping will be: do_mmap's checks of the type against the file, then the
 * backing's preparation (the file's mmap operation, hugetlb's, shmem_zero_setup). 0 or
 * -errno.
 */
function mmapPrepare(k: Kmm, req: MmapRequest, desc: VmaDesc): number {
  const { file } = req;
  const flags = desc.mapFlags;
  const type = flags & MAP_TYPE;
  if (file === null && req.hugeSize === 0) return mmapPrepareAnon(k, desc, type);
  // do_mmap's file checks, in order (anonymous hugetlb maps a file too, at the caller's
  // offset): first file_mmap_ok, then the type against the file's mode.
  if (!fileMmapOk(desc.off, req.len)) return -EOVERFLOW;
  if (type === MAP_SHARED_VALIDATE && (flags & ~LEGACY_MAP_MASK) !== 0) return -EOPNOTSUPP;
  if (desc.shared) {
    if ((desc.prot & PROT_WRITE) !== 0 && file !== null && !file.writable) return -EACCES;
  } else if (type !== MAP_PRIVATE) {
    return -EINVAL;
  }
  if (file !== null && !file.readable) return -EACCES;
  if (file === null) return k.hugetlb.mmapAnonymous(desc, req.hugeSize);
  if (file.ops.mmap === undefined) return -ENODEV;
  if ((flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
  if (desc.shared) {
    desc.flags |= VM_SHARED | VM_MAYSHARE;
    // A shared mapping of a descriptor not open for writing can never become writable.
    if (!file.writable) desc.flags &= ~(VM_MAYWRITE | VM_SHARED);
  }
  const sealed = file.ops.seals?.(file);
  const r = sealed === undefined ? 0 : checkSealsMmap(sealed.seals, desc);
  return r < 0 ? r : file.ops.mmap(file, desc);
}

/** Anonymous memory: private (a stack if MAP_GROWSDOWN), shared (shmem), or droppable. */
function mmapPrepareAnon(k: Kmm, desc: VmaDesc, type: number): number {
  const flags = desc.mapFlags;
  if (type === MAP_SHARED) {
    if ((flags & MAP_GROWSDOWN) !== 0) return -EINVAL;
    desc.flags |= VM_SHARED | VM_MAYSHARE;
    shmemZeroSetup(k, desc);
  } else if (type === MAP_PRIVATE) {
    if ((flags & MAP_GROWSDOWN) !== 0) desc.flags |= VM_GROWSDOWN;
  } else if (type === MAP_DROPPABLE) {
    // Memory the kernel may drop under pressure (none here: it stays): never locked,
    // huge or a stack, not reserved, not inherited, not dumped.
    if ((flags & (MAP_LOCKED | MAP_HUGETLB | MAP_GROWSDOWN)) !== 0) return -EINVAL;
    desc.flags |= VM_NORESERVE | VM_WIPEONFORK | VM_DONTDUMP;
    desc.droppable = true;
  } else {
    return -EINVAL; // any other type, MAP_SHARED_VALIDATE included
  }
  return 0;
}

/**
 * __mmap_region: gather what a MAP_FIXED covers (splits, seals, the hole limit), check the
 * limits on the net growth, clear the old PTEs, then replace the old VMAs with the new one
 * in one step and complete the unmap. A failure before the PTEs are cleared leaves the old
 * mappings in place; the file's late check failing after that leaves a hole, as Linux's
 * does. Returns the address.
 */
function mmapRegion(k: Kmm, mm: Mm, desc: VmaDesc, fixed: boolean, cpu: number): MaybeSliced {
  const { start, end } = desc;
  // Droppable memory is never locked, even under mlockall(MCL_FUTURE); it is still
  // populated as a locked mapping would be.
  const populateFlags = desc.flags;
  const vmFlags = desc.droppable ? desc.flags & ~VM_LOCKED_MASK : desc.flags;
  const vms = new VmaMunmap(mm, start, end);
  if (fixed) {
    const r = vms.gather(k);
    if (r < 0) return r;
  }
  if (!mayExpandVm(mm, vmFlags, (end - start) / PAGE - vms.nrPages)) return -ENOMEM;
  if (vms.vmas.length === 0) return replaceRegion(k, mm, desc, vms, populateFlags, vmFlags, cpu);
  return clearThenReplace(k, mm, desc, vms, populateFlags, vmFlags, cpu);
}

/**
 * A MAP_FIXED over mappings: their PTEs cleared in slices (vms_clean_up_area; the mm is
 * held, so nothing faults in meanwhile), then replaceRegion. Killed at a slice boundary,
 * the rest is done at once, the new mapping put in place but not populated (Linux's
 * mmap_region does not stop for a fatal signal).
 */
function* clearThenReplace(k: Kmm, mm: Mm, desc: VmaDesc, vms: VmaMunmap, populateFlags: number, vmFlags: number, cpu: number): Sliced {
  let cleared = false;
  try {
    yield* vms.clearPtesSliced(k);
    cleared = true;
  } finally {
    if (!cleared) {
      vms.clearPtes(k);
      replaceRegion(k, mm, desc, vms, populateFlags, vmFlags, cpu, false);
    }
  }
  return yield* toSliced(replaceRegion(k, mm, desc, vms, populateFlags, vmFlags, cpu));
}

/** A result as a sliced operation (one that is already a number returns it at once). */
function* toSliced(r: MaybeSliced): Sliced {
  return typeof r === 'number' ? r : yield* r;
}

/**
 * The rest of __mmap_region once the old PTEs are gone: the file's late check, the old VMAs
 * replaced by the new one, the unmap completed, accounting, merge, and the population
 * MAP_POPULATE or a locked mapping asks for (in slices). Returns the address.
 */
function replaceRegion(k: Kmm, mm: Mm, desc: VmaDesc, vms: VmaMunmap, populateFlags: number, vmFlags: number, cpu: number, populate = true): MaybeSliced {
  const { start, end } = desc;
  vms.clearPtes(k); // vms_clean_up_area (what is left of it)
  const late = desc.check?.() ?? 0;
  for (const v of vms.vmas) mm.vmas.remove(v);
  if (late < 0) {
    // vms_abort_munmap_vmas with the PTEs gone: "the old failure method of leaving a gap".
    vms.complete(k, cpu);
    return late;
  }
  const vma = new Vma(start, end, vmFlags, desc.pgoff, desc.ops, desc.mapping, desc.file);
  vma.privateData = desc.privateData;
  vma.droppable = desc.droppable;
  mm.vmas.insert(vma);
  linkVma(mm, vma);
  vma.ops.open?.(vma);
  desc.action?.(vma);
  vms.complete(k, cpu);
  vmStatAccount(mm, vmFlags, (end - start) / PAGE);
  // Linux tries the merge with VM_LOCKED from mlockall(MCL_FUTURE) still set and clears it
  // from a droppable mapping only afterwards, so such a mapping merges with nothing.
  if (populateFlags === vmFlags) vmaMerge(mm, vma);
  const wantPopulate = ((populateFlags & VM_LOCKED) !== 0 && (populateFlags & VM_LOCKONFAULT) === 0)
    || (desc.mapFlags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE;
  if (wantPopulate && populate) return thenReturn(mmPopulate(k, mm, start, end, cpu, true), start); // MAP_POPULATE hides errors
  return start;
}

/**
 * brk(2) (../shared/reference/vma-syscalls.md section 11): always returns the resulting
 * break; a request it cannot satisfy returns the old one. The unaligned value is stored and
 * returned. Shrinking unmaps [PAGE_ALIGN(new), PAGE_ALIGN(old)); growing needs a page of
 * room below the next VMA (and its stack guard gap), then extends the heap VMA or creates
 * one.
 */
export function sysBrk(k: Kmm, mm: Mm, addr: number, cpu: number): number {
  return finish(k, sysBrkSliced(k, mm, addr, cpu));
}

/** brk(2), whose population of a locked heap (mlockall's MCL_FUTURE) runs in slices. */
export function sysBrkSliced(k: Kmm, mm: Mm, addr: number, cpu: number): MaybeSliced {
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
  const vma = new Vma(oldBrk, newBrk, flags, oldBrk / PAGE, anonVmOps);
  mm.vmas.insert(vma);
  linkVma(mm, vma);
  vmStatAccount(mm, flags, (newBrk - oldBrk) / PAGE);
  vmaMerge(mm, vma);
  mm.brk = addr;
  if ((mm.defFlags & VM_LOCKED) !== 0) return thenReturn(mmPopulate(k, mm, oldBrk, newBrk, cpu, true), addr);
  return addr;
}

/**
 * dup_mmap for fork, in slices (copy_page_range's), holding `old` as mmap_lock for write
 * does (../shared/reference/fork-reclaim.md section 1.1): a new mm with a copy of every
 * VMA of `old` in order, but VM_DONTCOPY ones (MADV_DONTFORK), each with its flags less
 * VM_LOCKED and VM_LOCKONFAULT (mlock is not inherited), its file, offset, seal and
 * backing, linked into the anon_vmas of its parent (anon_vma_fork) and its file before its
 * tables are copied, so reclaim and truncation between slices find it; VM_WIPEONFORK ones
 * come empty. Page tables are copied only where vma_needs_copy says (an anon_vma, a
 * backing that copies its own, or VM_MAYBE_GUARD); other shared mappings fault in afresh
 * in the child. Counters, limits and the break come along; the parent's TLBs are flushed
 * once at the end (flush_tlb_mm). The new mm, or -ENOMEM (what was copied is freed, the
 * parent unchanged but for read-only PTEs that its next writes reuse). Ended at a slice
 * boundary (the caller killed), the copy so far is freed and the parent flushed.
 */
export function* dupMmapSliced(k: Kmm, old: Mm, cpu: number): Sliced<Mm | number> {
  const mm = mmAlloc(k);
  if (typeof mm === 'number') return mm;
  old.rlimits.forEach((r, i) => { mm.rlimits[i] = [r[0], r[1]]; });
  mm.mmapBase = old.mmapBase;
  mm.startStack = old.startStack;
  mm.startBrk = old.startBrk;
  mm.brk = old.brk;
  mm.defFlags = old.defFlags & VM_NOHUGEPAGE; // VM_INIT_DEF_MASK: mlockall(MCL_FUTURE) is not inherited
  mm.capIpcLock = old.capIpcLock;
  let r = 0;
  let done = false;
  try {
    // The parent's VMAs do not change meanwhile: its mm is held (kernel.ts's waitsForMm).
    for (const src of [...old.vmas.all()]) {
      if ((src.flags & VM_DONTCOPY) !== 0) continue;
      const v = dupVma(k, mm, src);
      // vma_needs_copy: an anon_vma, a backing with its own tables, or guard markers maybe
      // (VM_COPY_ON_FORK: they are in the page tables only).
      if ((src.flags & VM_WIPEONFORK) === 0 && (src.anonVma !== null || src.ops.copyPageRange !== undefined || (src.flags & VM_MAYBE_GUARD) !== 0)) {
        r = yield* copyPageRange(k, v, src);
      }
      if (r < 0) break;
    }
    done = true;
  } finally {
    const g = new Gather();
    g.cover(0, USER_TOP);
    finishGather(k, old, g, cpu);
    k.count(K_FORKS);
    // Killed at a slice boundary: the copy so far goes back in slices of its own (exit_mmap's
    // cond_resched); a copy that ran out of memory goes back at once, for the retry.
    if (!done) k.slice.background.push(exitMmapSliced(k, mm));
    else if (r < 0) exitMmap(k, mm);
  }
  if (r < 0) return r;
  // dup_mm: the child's high-water marks start at what it has.
  mm.hiwaterRss = mm.rss();
  mm.hiwaterVm = mm.totalVm;
  return mm;
}

/** dupMmapSliced in one go (tests, and callers that are not system calls). */
export function dupMmap(k: Kmm, old: Mm, cpu: number): Mm | number {
  return finish(k, dupMmapSliced(k, old, cpu));
}

/** A copy of the parent's VMA src in the child's mm, linked in and accounted (its tables not copied). */
function dupVma(k: Kmm, mm: Mm, src: Vma): Vma {
  const v = new Vma(src.start, src.end, src.flags & ~VM_LOCKED_MASK, src.pgoff, src.ops, src.mapping, src.file);
  v.privateData = src.privateData;
  v.sealed = src.sealed;
  v.droppable = src.droppable;
  v.anonName = src.anonName; // dup_anon_vma_name
  v.ops.dupPrivate?.(v);
  if ((src.flags & VM_WIPEONFORK) === 0) anonVmaFork(k, v, src);
  mm.vmas.insert(v);
  linkVma(mm, v);
  v.ops.open?.(v);
  vmStatAccount(mm, v.flags, (v.end - v.start) / PAGE);
  return v;
}
