// mremap(2) (compare mm/mremap.c) with the check order of
// ../shared/reference/vma-syscalls.md section 8: parameter checks, then the VMA checks
// (EFAULT for no VMA at old_addr or a resize that leaves it, EPERM for a seal), then shrink
// (an unmap), same size (nothing), grow in place when the next VMA leaves room, or move
// (MAYMOVE / FIXED, optionally DONTUNMAP): the destination VMA is created, the page-table
// entries move with their frames, the source range is flushed and unmapped (or, with
// DONTUNMAP, left empty). Locked memory that grows is faulted in.
//
// In slices (slice.ts): the unmaps (munmap.ts) and the move (mremap_move.ts) yield between
// pieces; everything up to the populate is done under mmap_lock on Linux, with nothing that
// stops it, so a kill at a slice boundary runs that part to its end at once (unkillable).
// The populate of locked memory that grew comes after Linux lets the lock go: a kill ends it.

import { mayExpandVm, mlockFutureOk, type Mm, vmStatAccount } from './mm.ts';

import * as U from '../uapi.ts';
import { type Vma, VM_LOCKED, VM_MAYSHARE, VM_SHARED, pageAlign } from './mm_types.ts';

import type { Kmm } from './kmm.ts';
import { mmPopulate } from './gup.ts';
import { finish, type MaybeSliced, type Sliced } from './slice.ts';
import { moveRange, munmapStep, unkillable } from './mremap_move.ts';
import { setVmaBounds, vmaMerge } from './vma.ts';
import { unmappedArea } from './unmapped_area.ts';

const PAGE = 4096;

/** What check_mremap_params found: page-aligned lengths and the three flags. */
interface MremapRequest {
  readonly oldAddr: number;
  readonly oldLen: number;
  readonly newLen: number;
  readonly newAddr: number;
  readonly fixed: boolean;
  readonly dontUnmap: boolean;
  readonly mayMove: boolean;
}

/** mremap(2) in one go. */
export function sysMremap(k: Kmm, mm: Mm, oldAddr: number, oldLenIn: number, newLenIn: number, flags: number, newAddr: number, cpu: number): number {
  return finish(k, sysMremapSliced(k, mm, oldAddr, oldLenIn, newLenIn, flags, newAddr, cpu));
}

/** mremap(2) in slices: the checks of its arguments now, the rest as a call in slices. */
export function sysMremapSliced(k: Kmm, mm: Mm, oldAddr: number, oldLenIn: number, newLenIn: number, flags: number, newAddr: number, cpu: number): MaybeSliced {
  const r = mremapParams(oldAddr, oldLenIn, newLenIn, flags, newAddr);
  if (typeof r === 'number') return r;
  return mremapThenPopulate(k, mm, r, cpu);
}

/** Where locked memory grew: the range to fault in once the move is over. */
interface Grown {
  start: number;
  end: number;
}

function* mremapThenPopulate(k: Kmm, mm: Mm, r: MremapRequest, cpu: number): Sliced {
  const grown: Grown = { start: 0, end: 0 };
  const to = yield* unkillable(mremapLocked(k, mm, r, grown, cpu));
  // Locked memory that grew is faulted in, errors ignored (mremap's mm_populate, after
  // mmap_write_unlock).
  if (to >= 0 && grown.end > grown.start) yield* mmPopulate(k, mm, grown.start, grown.end, cpu, true);
  return to;
}

/** Everything mremap does under mmap_lock: the new address or -errno. */
function* mremapLocked(k: Kmm, mm: Mm, r: MremapRequest, grown: Grown, cpu: number): Sliced {
  const { oldAddr, oldLen, newLen, newAddr, fixed, dontUnmap, mayMove } = r;
  const vma = mm.vmas.find(oldAddr);
  const bad = vma === null ? -U.EFAULT : mremapVmaError(mm, vma, r);
  if (bad < 0 || vma === null) return bad;
  // Shrink: an unmap of the tail (across VMAs too, since 6.17).
  if (!fixed && newLen < oldLen) {
    const u = yield* munmapStep(k, mm, oldAddr + newLen, oldAddr + oldLen, cpu);
    return u < 0 ? u : oldAddr;
  }
  if (!fixed && !dontUnmap && newLen === oldLen && oldLen !== 0) return oldAddr;
  // move_vma needs room for up to three more VMAs.
  const moving = fixed || dontUnmap || oldLen !== newLen;
  if (moving && mayMove && mm.vmas.count >= k.vm.maxMapCount - 3) return -U.ENOMEM;
  if (fixed && oldLen === newLen && oldAddr + oldLen > vma.end) return yield* moveMulti(k, mm, oldAddr, oldLen, newAddr, dontUnmap, cpu);
  // The part that stays (a shrinking FIXED move drops the tail first) must lie inside the VMA.
  if (oldAddr + Math.min(oldLen, newLen) > vma.end) return -U.EFAULT;
  let len = oldLen;
  if (fixed) {
    // mremap_to: the destination goes first, then a shrinking source loses its tail.
    const u = yield* munmapStep(k, mm, newAddr, newAddr + newLen, cpu);
    if (u < 0) return u;
    if (newLen < len) {
      const u2 = yield* munmapStep(k, mm, oldAddr + newLen, oldAddr + len, cpu);
      if (u2 < 0) return u2;
      len = newLen;
    }
  }
  // Everything else needs [oldAddr, oldAddr + len) inside one VMA.
  const cur = mm.vmas.find(oldAddr);
  if (cur === null || oldAddr + len > cur.end) return -U.EFAULT;
  // Locked memory may grow only within RLIMIT_MEMLOCK (without CAP_IPC_LOCK).
  if (newLen > len && !mlockFutureOk(mm, cur.flags, newLen - len)) return -U.EAGAIN;
  const locked = (cur.flags & VM_LOCKED) !== 0;
  if (!fixed && !dontUnmap && len !== 0 && oldAddr + len === cur.end) {
    const to = growInPlace(mm, cur, oldAddr, len, newLen);
    if (to !== 0) return lockedGrowth(locked, to, len, newLen, grown);
  }
  if (!mayMove) return -U.ENOMEM;
  const to = yield* mremapMove(k, mm, cur, r, len, cpu);
  return lockedGrowth(locked, to, len, newLen, grown);
}

/** to, with grown set to what locked memory gained at to if it grew. */
function lockedGrowth(locked: boolean, to: number, len: number, newLen: number, grown: Grown): number {
  if (to >= 0 && locked && newLen > len) {
    grown.start = to + len;
    grown.end = to + newLen;
  }
  return to;
}

/** check_mremap_params: the arguments alone, before any VMA is looked at. */
function mremapParams(oldAddr: number, oldLenIn: number, newLenIn: number, flags: number, newAddr: number): MremapRequest | number {
  if (![oldAddr, oldLenIn, newLenIn, flags, newAddr].every(Number.isInteger)) return -U.EINVAL;
  if ((flags & ~(U.MREMAP_MAYMOVE | U.MREMAP_FIXED | U.MREMAP_DONTUNMAP)) !== 0) return -U.EINVAL;
  if (oldAddr % PAGE !== 0 || oldAddr < 0) return -U.EINVAL;
  if (oldLenIn < 0 || newLenIn < 0) return -U.EINVAL;
  const oldLen = pageAlign(oldLenIn);
  const newLen = pageAlign(newLenIn);
  if (newLen === 0) return -U.EINVAL;
  const fixed = (flags & U.MREMAP_FIXED) !== 0;
  const dontUnmap = (flags & U.MREMAP_DONTUNMAP) !== 0;
  const mayMove = (flags & U.MREMAP_MAYMOVE) !== 0;
  if (newLen > U.TASK_SIZE || ((fixed || dontUnmap) && newAddr > U.TASK_SIZE - newLen)) return -U.EINVAL;
  if (fixed || dontUnmap) {
    if (newAddr % PAGE !== 0 || newAddr < 0) return -U.EINVAL;
    if (!mayMove) return -U.EINVAL;
    if (dontUnmap && oldLen !== newLen) return -U.EINVAL;
    if (fixed && newAddr < oldAddr + oldLen && oldAddr < newAddr + newLen) return -U.EINVAL;
  }
  return { oldAddr, oldLen, newLen, newAddr, fixed, dontUnmap, mayMove };
}

/**
 * The checks of the VMA at oldAddr (and of the range): a seal (EPERM), a backing that
 * refuses to move (vm_ops->mremap: mshare regions, hugetlb here) anywhere in the source
 * range, old_len 0 on private memory (EINVAL) or without MAYMOVE (ENOMEM), a seal where a
 * MREMAP_FIXED destination is to be unmapped (EPERM). 0 if none applies.
 */
function mremapVmaError(mm: Mm, vma: Vma, r: MremapRequest): number {
  if (vma.sealed) return -U.EPERM;
  for (const v of mm.vmas.intersecting(r.oldAddr, r.oldAddr + Math.max(r.oldLen, 1))) {
    const refused = v.ops.mremap?.(v) ?? 0;
    if (refused < 0) return refused;
  }
  if (r.oldLen === 0) {
    if ((vma.flags & (VM_SHARED | VM_MAYSHARE)) === 0) return -U.EINVAL;
    if (!r.mayMove) return -U.ENOMEM;
  }
  if (r.fixed && mm.vmas.intersecting(r.newAddr, r.newAddr + r.newLen).some((v) => v.sealed)) return -U.EPERM;
  return 0;
}

/**
 * Grow [oldAddr, oldAddr + len) of cur, its last part, to newLen where it is if the next VMA
 * leaves room (vma_expandable: no guard gap is kept, as the differential test shows Linux
 * 6.18 doing below a MAP_GROWSDOWN mapping). oldAddr, -ENOMEM over the limits, or 0 if
 * there is no room (the caller moves it).
 */
function growInPlace(mm: Mm, cur: Vma, oldAddr: number, len: number, newLen: number): number {
  const end = oldAddr + newLen;
  const next = mm.vmas.findNext(cur.end);
  if (end > U.TASK_SIZE || (next !== null && end > next.start)) return 0;
  if (!mayExpandVm(mm, cur.flags, (newLen - len) / PAGE)) return -U.ENOMEM;
  setVmaBounds(mm, cur, cur.start, end);
  vmStatAccount(mm, cur.flags, (newLen - len) / PAGE);
  vmaMerge(mm, cur);
  return oldAddr;
}

/** move_vma to the fixed address or a free one. */
function* mremapMove(k: Kmm, mm: Mm, cur: Vma, r: MremapRequest, len: number, cpu: number): Sliced {
  const { oldAddr, newLen, dontUnmap } = r;
  const growth = dontUnmap ? newLen : newLen - len;
  if (growth > 0 && !mayExpandVm(mm, cur.flags, growth / PAGE)) return -U.ENOMEM;
  const dst = r.fixed ? r.newAddr : unmappedArea(mm, dontUnmap ? r.newAddr : 0, newLen, 0);
  if (dst < 0) return dst;
  return yield* moveRange(k, mm, cur, oldAddr, len, dst, newLen, dontUnmap, cpu);
}

/**
 * The v6.17 multi-VMA move: a FIXED move of the same size whose source spans several VMAs
 * and gaps moves each VMA to the same relative place, keeping VMA boundaries; destination
 * pages opposite source gaps are left as they are.
 */
function* moveMulti(k: Kmm, mm: Mm, oldAddr: number, len: number, newAddr: number, dontUnmap: boolean, cpu: number): Sliced {
  const end = oldAddr + len;
  // Each piece is checked when its turn comes, so a seal further on leaves the pieces
  // before it moved (a partial move, as Linux leaves it). Each piece is looked up again:
  // a moved piece may merge with a source VMA next to the destination, so VMA objects
  // found before the first move may be gone.
  for (let at = oldAddr; at < end;) {
    const piece = mm.vmas.findNext(at);
    if (piece === null || piece.start >= end) break;
    if (piece.sealed) return -U.EPERM;
    const from = Math.max(piece.start, at);
    const to = Math.min(piece.end, end);
    at = to;
    const dst = newAddr + (from - oldAddr);
    const r = yield* munmapStep(k, mm, dst, dst + (to - from), cpu);
    if (r < 0) return r;
    // The unmap may have split the piece's VMA (when it reaches over the destination).
    const src = mm.vmas.find(from)!;
    if (!mayExpandVm(mm, src.flags, dontUnmap ? (to - from) / PAGE : 0)) return -U.ENOMEM;
    const moved = yield* moveRange(k, mm, src, from, to - from, dst, to - from, dontUnmap, cpu);
    if (moved < 0) return moved; // no room for the page tables: the pieces before it stay moved
  }
  return newAddr;
}
