// msync(2) (mm/msync.c) and mincore(2) (mm/mincore.c).

import { EBUSY, EFAULT, EINVAL, ENOMEM, MS_ASYNC, MS_INVALIDATE, MS_SYNC, TASK_SIZE } from '../uapi.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE as PAGE, pageAlign, VM_LOCKED } from './mm_types.ts';
import type { AddressSpace } from './filemap.ts';
import { leafWord, pteWordAt } from './pgtable.ts';
import { isSwapPte, swpOffset } from './swapfile.ts';
import { finish, type MaybeSliced, type Sliced } from './slice.ts';
import { copyToUser } from './uaccess.ts';

/** msync(2) in one go. */
export function sysMsync(k: Kmm, mm: Mm, addr: number, len: number, flags: number): number {
  return finish(k, sysMsyncSliced(k, mm, addr, len, flags));
}

/**
 * The units a VMA msync steps over costs (slice.ts): a lookup in the VMA tree, about a
 * quarter of a page's zap on the project machine (65,531 VMAs in 15-24 ms), charged as one.
 */
const MSYNC_VMA_UNITS = 1;

/**
 * msync(2) (mm/msync.c): tmpfs has nothing to write back (shmem's fsync is noop_fsync), so
 * only the walk over the VMAs and its checks remain: -ENOMEM for a hole (at once for
 * MS_ASYNC, at the end otherwise), -EBUSY for MS_INVALIDATE over locked memory. In slices
 * of VMAs: the walk holds mmap_lock for read (k.slice.shared) and looks the next VMA up
 * again from the address it got to after each slice, as Linux's does after it retakes the
 * lock around vfs_fsync_range. A kill between slices ends it (nothing is half done).
 */
export function sysMsyncSliced(k: Kmm, mm: Mm, addr: number, len: number, flags: number): MaybeSliced {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || !Number.isInteger(flags)) return -EINVAL;
  if ((flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) !== 0) return -EINVAL;
  if (addr % PAGE !== 0 || addr < 0) return -EINVAL;
  if ((flags & MS_ASYNC) !== 0 && (flags & MS_SYNC) !== 0) return -EINVAL;
  if (len < 0) return -ENOMEM;
  const end = addr + pageAlign(len);
  if (end === addr) return 0;
  return msyncVmas(k, mm, addr, end, flags);
}

function* msyncVmas(k: Kmm, mm: Mm, start: number, end: number, flags: number): Sliced {
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
    if (k.slice.spend(MSYNC_VMA_UNITS)) {
      k.slice.shared = true; // mmap_read_lock
      yield;
    }
  }
}

/**
 * mincore(2) (mm/mincore.c): one byte per page of [addr, addr + len) written to vec, 1 if
 * resident (a mapped PTE, PROT_NONE and the zero page included, or a shmem page in its
 * object). EINVAL for an unaligned start, ENOMEM for a range past TASK_SIZE, EFAULT for a
 * vector past it, ENOMEM at the first unmapped page (the bytes before it are written, as
 * Linux does). The answer goes out one VMA and at most a page of bytes at a time, as
 * Linux's does, so no length makes the kernel allocate more than a page for it; between
 * two such chunks the call may yield (slice.ts), holding the mm for read (Linux takes
 * mmap_lock for read around each chunk).
 */
export function sysMincore(k: Kmm, mm: Mm, addr: number, len: number, vec: number, cpu: number): MaybeSliced {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || addr % PAGE !== 0 || addr < 0) return -EINVAL;
  if (len < 0 || addr + len > TASK_SIZE) return -ENOMEM; // access_ok(start, len)
  const pages = Math.ceil(len / PAGE);
  if (!Number.isInteger(vec) || vec < 0 || vec + pages > TASK_SIZE) return -EFAULT; // access_ok(vec, pages)
  return mincoreChunks(k, mm, addr, pages, vec, cpu);
}

/**
 * Pages of mincore's answer per unit of a slice's budget (a page faulted in): a page's
 * answer (a page-table walk, a swap or page-cache lookup for one not mapped) took 90-110
 * ns against 700-900 ns for a page written by MADV_POPULATE_WRITE and dropped again, on the
 * project machine (2^28 bytes, mapped and not; 2026-12-05).
 */
export const MINCORE_PAGES_PER_UNIT = 8;

function* mincoreChunks(k: Kmm, mm: Mm, addr: number, pages: number, vec: number, cpu: number): Sliced {
  const tmp = new Uint8Array(PAGE);
  for (let va = addr, out = vec; pages > 0;) {
    const n = mincoreChunk(k, mm, va, Math.min(pages, PAGE), tmp);
    if (n < 0) return n;
    const r = copyToUser(k, mm, out, tmp.subarray(0, n), cpu);
    if (r < 0) return r;
    pages -= n;
    out += n;
    va += n * PAGE;
    if (k.slice.spend(Math.ceil(n / MINCORE_PAGES_PER_UNIT)) && pages > 0) {
      k.slice.shared = true;
      yield;
    }
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
      : swapEntryCached(k, mm, at) ?? (v.mapping !== null ? mincorePage(k, v.mapping, v.pgoff + (at - v.start) / PAGE) : 0);
  }
  return n;
}

/** mincore_swap for a swap PTE at va: 1 if its page is in the swap cache; undefined if va has no swap PTE. */
function swapEntryCached(k: Kmm, mm: Mm, va: number): number | undefined {
  if (k.swap === null) return undefined;
  const w = pteWordAt(k, mm, va);
  if (w < 0) return undefined;
  const lo = k.ops.lo(w);
  // A guard marker is no swap entry: mincore sees a hole there (the page cache decides).
  if (!isSwapPte(lo)) return undefined;
  return k.swap.cachePfn.has(swpOffset(lo, k.ops.hi(w))) ? 1 : 0;
}

/** mincore_page: a page of the cache is resident, or swapped out but still in the swap cache. */
function mincorePage(k: Kmm, m: AddressSpace, idx: number): number {
  if (m.pages.has(idx)) return 1;
  const slot = m.swapped.load(idx);
  return slot !== -1 && k.swap!.cachePfn.has(slot) ? 1 : 0;
}
