// mlock, mlock2, munlock, mlockall and munlockall (mm/mlock.c): VM_LOCKED (and
// VM_LOCKONFAULT) set on the range's VMAs, split and merged as needed, then the locked
// pages faulted in; RLIMIT_MEMLOCK binds without CAP_IPC_LOCK.

import { EAGAIN, EINVAL, ENOMEM, EPERM, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, RLIMIT_MEMLOCK, TASK_SIZE } from '../uapi.ts';
import { mmPopulate } from './gup.ts';
import { mlockPtes } from './memory.ts';
import { finish, type MaybeSliced, type Sliced, thenReturn } from './slice.ts';
import { piecesThenRest } from './slice_range.ts';
import type { Kmm } from './kmm.ts';
import { canDoMlock, lockedVm, type Mm } from './mm.ts';
import { FAULT_DONE, FAULT_OOM, PAGE_SIZE as PAGE, pageAlign, VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT } from './mm_types.ts';
import { modifyFlags, rangeSplitError } from './vma.ts';

/**
 * mlock, mlock2 and munlock (mm/mlock.c do_mlock, apply_vma_lock_flags): without
 * CAP_IPC_LOCK, EPERM if RLIMIT_MEMLOCK is 0 and ENOMEM if the newly locked pages would
 * exceed it; the start is rounded down to a page and the length up around it; a range that
 * starts in a hole, or has one, gives ENOMEM (VMAs before the hole keep the change); then
 * locked pages are faulted in (mlock's population errors: EFAULT becomes ENOMEM, ENOMEM
 * becomes EAGAIN).
 */
export function sysMlock(k: Kmm, mm: Mm, addr: number, len: number, lockFlags: number, cpu: number): number {
  return finish(k, sysMlockSliced(k, mm, addr, len, lockFlags, cpu));
}

/** sysMlock whose population runs in slices (slice.ts). */
export function sysMlockSliced(k: Kmm, mm: Mm, addr: number, len: number, lockFlags: number, cpu: number): MaybeSliced {
  if (lockFlags !== 0 && !canDoMlock(mm)) return -EPERM;
  if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len < 0) return -EINVAL;
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
  const cut = rangeSplitError(mm, start, end);
  if (cut < 0) return cut;
  let at = start;
  while (at < end) {
    const v = mm.vmas.find(at);
    if (v === null) return -ENOMEM;
    const to = Math.min(end, v.end);
    // mlock_fixup leaves droppable memory unlocked (and populates it all the same).
    if (modifyFlags(mm, v, at, to, (f) => (v.droppable ? f : (f & ~VM_LOCKED_MASK) | lockFlags)) === null) return -ENOMEM;
    at = to;
  }
  // __mm_populate runs for lock-on-fault too: it skips VMAs that are lock-on-fault, but
  // not droppable ones inside the range, which mlock left unlocked.
  // mlock_vma_pages_range: the pages already there are mlocked (or munlocked) now; those
  // faulted in later are mlocked as they come (lruAddVma).
  return mlockThen(k, mm, [[start, end, lockFlags !== 0]], (lockFlags & VM_LOCKED) !== 0 ? mlockPopulate(k, mm, start, end, cpu) : null);
}

/**
 * mlock_vma_pages_range over each [start, end, lock] of `ranges` in slices (a kill at a
 * slice boundary does the rest at once: no page stays mlocked in a VMA that is not, nor
 * the other way), then `then`'s work and result (0 without).
 */
function* mlockThen(k: Kmm, mm: Mm, ranges: [number, number, boolean][], then: Sliced | null): Sliced {
  let i = 0;
  try {
    for (; i < ranges.length; i++) {
      const [start, end, lock] = ranges[i]!;
      yield* piecesThenRest(k, mm, start, end, (a, b) => mlockPtes(k, mm, a, b, lock));
    }
  } finally {
    for (i++; i < ranges.length; i++) {
      const [start, end, lock] = ranges[i]!;
      mlockPtes(k, mm, start, end, lock);
    }
  }
  return then === null ? 0 : yield* then;
}

/** mlock's population, with its errors: EFAULT becomes ENOMEM, ENOMEM becomes EAGAIN. */
function* mlockPopulate(k: Kmm, mm: Mm, start: number, end: number, cpu: number): Sliced {
  const r = yield* mmPopulate(k, mm, start, end, cpu);
  return r === FAULT_DONE ? 0 : r === FAULT_OOM ? -EAGAIN : -ENOMEM;
}

/** mlockall(2) and munlockall(2) (flags 0), in one go. */
export function sysMlockall(k: Kmm, mm: Mm, flags: number, cpu: number): number {
  return finish(k, sysMlockallSliced(k, mm, flags, cpu));
}

/** mlockall(2) and munlockall(2), whose population runs in slices. */
export function sysMlockallSliced(k: Kmm, mm: Mm, flags: number, cpu: number): MaybeSliced {
  if (!Number.isInteger(flags)) return -EINVAL;
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
    v = modifyFlags(mm, v, v.start, v.end, (f) => (w.droppable ? f : (f & ~VM_LOCKED_MASK) | set)) ?? v; // whole VMAs: no split
  }
  const ranges = mm.vmas.all().map((v): [number, number, boolean] => [v.start, v.end, (v.flags & VM_LOCKED) !== 0]);
  return mlockThen(k, mm, ranges, set !== 0 ? thenReturn(mmPopulate(k, mm, 0, TASK_SIZE, cpu, true), 0) : null); // skips lock-on-fault VMAs
}
