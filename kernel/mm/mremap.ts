// mremap(2) (compare mm/mremap.c) with the check order of
// ../shared/reference/vma-syscalls.md section 8: parameter checks, then the VMA checks
// (EFAULT for no VMA at old_addr or a resize that leaves it, EPERM for a seal), then shrink
// (an unmap), same size (nothing), grow in place when the next VMA leaves room, or move
// (MAYMOVE / FIXED, optionally DONTUNMAP): the destination VMA is created, the page-table
// entries move with their frames, the source range is flushed and unmapped (or, with
// DONTUNMAP, left empty). Locked memory that grows is faulted in.
//

import { _PAGE_PRESENT, _PAGE_SOFT_DIRTY } from '../../machine/index.ts';
import { mayExpandVm, mlockFutureOk, type Mm, vmStatAccount } from './mm.ts';

import * as U from '../uapi.ts';
import { Vma, VM_LOCKED, VM_LOCKED_MASK, VM_MAYSHARE, VM_SHARED, pageAlign } from './mm_types.ts';

import { HPAGE_PMD_SIZE } from './huge_memory.ts';
import { KernelBug } from '../bug.ts';
import { Gather, finishGather } from './mmu_gather.ts';
import { pteWord } from './memory.ts';
import type { Kmm } from './kmm.ts';
import { anonVmaClone, unlinkAnonVmas } from './anon_vma.ts';
import { mmPopulate } from './gup.ts';
import { finish, type MaybeSliced, thenReturn } from './slice.ts';
import { pmdWord, pteMapped } from './pgtable.ts';
import { _PAGE_SWP_SOFT_DIRTY } from './swapfile.ts';
import { doMunmap, doMunmapSliced } from './munmap.ts';
import { linkVma, setVmaBounds, splitVma, vmaMerge } from './vma.ts';
import { unmappedArea } from './unmapped_area.ts';
import { forEachPte } from './pagewalk.ts';

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

/**
 * mremap(2): the move itself runs in one go (a half-made move must not be seen between
 * slices), a shrink's unmap and the population of locked memory that grew in slices, as
 * munmap's and __mm_populate's are (the latter holding the mm for read: Linux's mremap
 * populates after it lets go of mmap_lock).
 */
export function sysMremapSliced(k: Kmm, mm: Mm, oldAddr: number, oldLenIn: number, newLenIn: number, flags: number, newAddr: number, cpu: number): MaybeSliced {
  const r = mremapParams(oldAddr, oldLenIn, newLenIn, flags, newAddr);
  if (typeof r === 'number') return r;
  const vma = mm.vmas.find(oldAddr);
  const bad = vma === null ? -U.EFAULT : mremapVmaError(mm, vma, r);
  if (bad < 0 || vma === null) return bad;
  const { oldLen, newLen, fixed, dontUnmap, mayMove } = r;
  // Shrink: an unmap of the tail (across VMAs too, since 6.17).
  if (!fixed && newLen < oldLen) {
    const u = doMunmapSliced(k, mm, oldAddr + newLen, oldAddr + oldLen, cpu);
    return typeof u === 'number' ? (u < 0 ? u : oldAddr) : thenReturn(u, oldAddr);
  }
  if (!fixed && !dontUnmap && newLen === oldLen && oldLen !== 0) return oldAddr;
  // move_vma needs room for up to three more VMAs.
  const moving = fixed || dontUnmap || oldLen !== newLen;
  if (moving && mayMove && mm.vmas.count >= k.vm.maxMapCount - 3) return -U.ENOMEM;
  if (fixed && oldLen === newLen && oldAddr + oldLen > vma.end) return moveMulti(k, mm, oldAddr, oldLen, newAddr, dontUnmap, cpu);
  // The part that stays (a shrinking FIXED move drops the tail first) must lie inside the VMA.
  if (oldAddr + Math.min(oldLen, newLen) > vma.end) return -U.EFAULT;
  let len = oldLen;
  if (fixed) {
    // mremap_to: the destination goes first, then a shrinking source loses its tail.
    const u = doMunmap(k, mm, newAddr, newAddr + newLen, cpu);
    if (u < 0) return u;
    if (newLen < len) {
      const u2 = doMunmap(k, mm, oldAddr + newLen, oldAddr + len, cpu);
      if (u2 < 0) return u2;
      len = newLen;
    }
  }
  // Everything else needs [oldAddr, oldAddr + len) inside one VMA.
  const cur = mm.vmas.find(oldAddr);
  if (cur === null || oldAddr + len > cur.end) return -U.EFAULT;
  // Locked memory may grow only within RLIMIT_MEMLOCK (without CAP_IPC_LOCK).
  if (newLen > len && !mlockFutureOk(mm, cur.flags, newLen - len)) return -U.EAGAIN;
  if (!fixed && !dontUnmap && len !== 0 && oldAddr + len === cur.end) {
    const grown = growInPlace(k, mm, cur, oldAddr, len, newLen, cpu);
    if (grown !== 0) return grown;
  }
  return mayMove ? mremapMove(k, mm, cur, r, len, cpu) : -U.ENOMEM;
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
function growInPlace(k: Kmm, mm: Mm, cur: Vma, oldAddr: number, len: number, newLen: number, cpu: number): MaybeSliced {
  const end = oldAddr + newLen;
  const next = mm.vmas.findNext(cur.end);
  if (end > U.TASK_SIZE || (next !== null && end > next.start)) return 0;
  if (!mayExpandVm(mm, cur.flags, (newLen - len) / PAGE)) return -U.ENOMEM;
  setVmaBounds(mm, cur, cur.start, end);
  vmStatAccount(mm, cur.flags, (newLen - len) / PAGE);
  vmaMerge(mm, cur);
  return (cur.flags & VM_LOCKED) !== 0 ? thenReturn(mmPopulate(k, mm, oldAddr + len, end, cpu, true), oldAddr) : oldAddr;
}

/** move_vma to the fixed address or a free one; locked memory that grew is faulted in. */
function mremapMove(k: Kmm, mm: Mm, cur: Vma, r: MremapRequest, len: number, cpu: number): MaybeSliced {
  const { oldAddr, newLen, dontUnmap } = r;
  const growth = dontUnmap ? newLen : newLen - len;
  if (growth > 0 && !mayExpandVm(mm, cur.flags, growth / PAGE)) return -U.ENOMEM;
  const dst = r.fixed ? r.newAddr : unmappedArea(mm, dontUnmap ? r.newAddr : 0, newLen, 0);
  if (dst < 0) return dst;
  const locked = (cur.flags & VM_LOCKED) !== 0;
  const to = moveRange(k, mm, cur, oldAddr, len, dst, newLen, dontUnmap, cpu);
  // Locked memory that grew is faulted in, errors ignored (mremap's mm_populate).
  return to >= 0 && locked && newLen > len ? thenReturn(mmPopulate(k, mm, to + len, to + newLen, cpu, true), to) : to;
}

/**
 * The v6.17 multi-VMA move: a FIXED move of the same size whose source spans several VMAs
 * and gaps moves each VMA to the same relative place, keeping VMA boundaries; destination
 * pages opposite source gaps are left as they are.
 */
function moveMulti(k: Kmm, mm: Mm, oldAddr: number, len: number, newAddr: number, dontUnmap: boolean, cpu: number): number {
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
    const r = doMunmap(k, mm, dst, dst + (to - from), cpu);
    if (r < 0) return r;
    // The unmap may have split the piece's VMA (when it reaches over the destination).
    const src = mm.vmas.find(from)!;
    if (!mayExpandVm(mm, src.flags, dontUnmap ? (to - from) / PAGE : 0)) return -U.ENOMEM;
    moveRange(k, mm, src, from, to - from, dst, to - from, dontUnmap, cpu);
  }
  return newAddr;
}

/** Move [oldAddr, oldAddr + oldLen) of vma to dst, growing to newLen (copy_vma + move_page_tables). */
function moveRange(k: Kmm, mm: Mm, vma: Vma, oldAddr: number, oldLen: number, dst: number, newLen: number, dontUnmap: boolean, cpu: number): number {
  // Page tables for the destination first: running out of frames must fail the call
  // before anything has moved.
  // A huge PMD wholly inside the range moves whole (move_huge_pmd) where its destination is
  // 2 MiB-aligned and has no page table yet; any other is split.
  const wholeHuge = (va: number) => va >= oldAddr && va + HPAGE_PMD_SIZE <= oldAddr + oldLen && (dst - oldAddr) % HPAGE_PMD_SIZE === 0;
  let tablesOk = true;
  if (oldLen > 0) {
    const table = (_w: number, va: number): void => {
      if (tablesOk && pteWord(k, mm, dst + (va - oldAddr), true) === -2) tablesOk = false;
    };
    forEachPte(k, mm, oldAddr, oldAddr + oldLen, table, (_w, va) => {
      if (!wholeHuge(va)) return false;
      const to = pmdWord(k, mm, dst + (va - oldAddr), true);
      if (to === -2) tablesOk = false;
      return to === -2 || (k.ops.lo(to) & _PAGE_PRESENT) === 0;
    }, table, table);
  }
  if (!tablesOk) return -U.ENOMEM;
  // The source is split only by the unmap that follows a move; with DONTUNMAP it stays whole.
  let src = vma;
  if (oldLen > 0 && !dontUnmap) {
    if (src.start < oldAddr) src = splitVma(mm, src, oldAddr);
    if (src.end > oldAddr + oldLen) splitVma(mm, src, oldAddr + oldLen);
  }
  // An anonymous VMA never faulted gets the pgoff of its new address (copy_vma); so does a
  // reference page's, which v5 made anonymous (vma_set_anonymous).
  const pgoff = src.mapping !== null || src.anonVma !== null ? src.pgoff + (oldAddr - src.start) / PAGE : dst / PAGE;
  const moved = new Vma(dst, dst + newLen, src.flags, pgoff, src.ops, src.mapping, src.file);
  moved.privateData = src.privateData;
  moved.droppable = src.droppable;
  moved.anonName = src.anonName; // copy_vma: the name comes along (and decides the merge)
  anonVmaClone(moved, src);
  src.ops.open?.(moved);
  mm.vmas.insert(moved);
  linkVma(mm, moved);
  vmStatAccount(mm, moved.flags, newLen / PAGE);
  // Move the entries; frames, mapcounts and RSS stay as they are.
  const g = new Gather();
  if (oldLen > 0) {
    const move = (w: number, va: number): void => {
      const hi = k.ops.hi(w);
      const lo = k.ops.ptepGetAndClear(w);
      const to = pteWord(k, mm, dst + (va - oldAddr), false); // made above
      if (to < 0) throw new KernelBug('mremap: destination page table vanished');
      // move_soft_dirty_pte: a moved page counts as written there (a swap entry or a guard
      // marker by its own bit).
      const sd = (lo & _PAGE_PRESENT) !== 0 ? _PAGE_SOFT_DIRTY : pteMapped(lo) ? 0 : _PAGE_SWP_SOFT_DIRTY;
      k.ops.setPte(to, k.vm.softDirty ? lo | sd : lo, hi);
      g.cover(va, va + PAGE);
    };
    forEachPte(k, mm, oldAddr, oldAddr + oldLen, move, (w, va) => {
      if (!wholeHuge(va)) return false;
      const to = pmdWord(k, mm, dst + (va - oldAddr), false);
      if (to < 0 || (k.ops.lo(to) & _PAGE_PRESENT) !== 0) return false;
      const hi = k.ops.hi(w);
      const lo = k.ops.ptepGetAndClear(w);
      k.ops.setPte(to, k.vm.softDirty ? lo | _PAGE_SOFT_DIRTY : lo, hi);
      const pt = mm.deposited.get(w);
      if (pt !== undefined) {
        mm.deposited.delete(w);
        mm.deposited.set(to, pt);
      }
      g.cover(va, va + HPAGE_PMD_SIZE);
      return true;
    }, move, move);
  }
  finishGather(k, mm, g, cpu); // the old translations are gone from every TLB
  if (oldLen > 0 && !dontUnmap) {
    doMunmap(k, mm, oldAddr, oldAddr + oldLen, cpu);
  } else if (dontUnmap) {
    // dontunmap_complete: the old VMA stays (still charged), never locked; it drops its
    // anon_vma only if all of it moved.
    src.flags &= ~VM_LOCKED_MASK;
    if (src.mapping === null && oldAddr === src.start && oldAddr + oldLen === src.end) unlinkAnonVmas(k, src);
  }
  vmaMerge(mm, moved);
  return dst;
}
