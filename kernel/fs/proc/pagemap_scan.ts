// The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7; fs/proc/task_mmu.c,
// ../shared/reference/dirty-pagewalk.md section 4.3): report the pages of a range whose
// categories match, as merged regions.
//
// There is no userfaultfd here, so no VMA has asynchronous write protection: every PTE
// slot is PAGE_IS_WRITTEN (present or not, as Linux reports; ranges without a page table
// are not), PAGE_IS_WPALLOWED never appears, PM_SCAN_CHECK_WPASYNC
// fails with EPERM at the first VMA and PM_SCAN_WP_MATCHING alone skips every VMA. Linux
// fills a bounce buffer of at most 512 regions and restarts the walk when it is full, so a
// region running across such a restart is reported in two pieces; here the regions go
// straight to the caller's vector and a run is never split.
//
// The walk goes a piece at a time (up to the end of the next page table's span: the upper
// levels' holes before it and its 512 entries), each charged TABLE_SCAN_UNITS and a unit a
// region it adds, and yields when the slice is spent (mm/slice.ts); the regions are the
// ones a walk in one go finds, as the walker reports the same entries and holes in order
// and a region goes on across pieces. A target that exits between slices ends the scan
// with ESRCH (Linux holds its mm with mmget and goes on).

import { _PAGE_SOFT_DIRTY, pmdPfn, pteLeaf, ptePfn } from '../../../machine/index.ts';
import {
  _PAGE_SWP_SOFT_DIRTY, ACTION_CONTINUE, isGuardPte, type Kmm, type MaybeSliced, type Mm, type MmWalk, type MmWalkOps, nextTable, PG_ANON,
  pieceCost, pteMapped, type Sliced, VM_HUGETLB, VM_MAYSHARE, VM_PFNMAP, VM_SOFTDIRTY, walkPageRange,
} from '../../mm/index.ts';
import * as U from '../../uapi.ts';
import type { UserIo } from '../file.ts';

const { PAGE_IS_FILE, PAGE_IS_GUARD, PAGE_IS_HUGE, PAGE_IS_PFNZERO, PAGE_IS_PRESENT, PAGE_IS_SOFT_DIRTY, PAGE_IS_SWAPPED, PAGE_IS_WPALLOWED, PAGE_IS_WRITTEN, PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING } = U;
const CATEGORIES = (1 << 9) - 1;
const ENOSPC = -U.ENOSPC;

interface Scan {
  flags: number;
  inverted: number;
  mask: number;
  anyof: number;
  returnMask: number;
  interest: number;
  maxPages: number;
  vecLen: number;
  regions: { start: number; end: number; categories: number }[];
  found: number;
  walkEnd: number;
  vmaCategory: number;
}

function interesting(c: number, s: Scan): boolean {
  const x = c ^ s.inverted;
  return (x & s.mask) === s.mask && (s.anyof === 0 || (x & s.anyof) !== 0);
}

/** pagemap_scan_output: add [addr, end) with categories c; ENOSPC when the vector or max_pages is full. */
function output(s: Scan, c: number, addr: number, end: number): number {
  if (s.vecLen === 0) return 0;
  const cats = c & s.returnMask;
  let stop = end;
  let ret = 0;
  let pages = (stop - addr) / 4096;
  if (s.found + pages > s.maxPages) {
    stop -= (s.found + pages - s.maxPages) * 4096;
    pages = (stop - addr) / 4096;
    ret = ENOSPC;
  }
  if (stop > addr) {
    const cur = s.regions[s.regions.length - 1];
    if (cur !== undefined && cur.end === addr && cur.categories === cats) {
      cur.end = stop;
    } else if (s.regions.length < s.vecLen) {
      s.regions.push({ start: addr, end: stop, categories: cats });
    } else {
      stop = addr;
      pages = 0;
      ret = ENOSPC;
    }
  }
  s.found += pages;
  if (ret !== 0) s.walkEnd = stop;
  return ret;
}

const OPS: MmWalkOps<Scan> = {
  testWalk(_start, _end, walk) {
    const s = walk.priv;
    // No VMA has asynchronous uffd write protection (wp_allowed is false for all).
    if ((s.flags & PM_SCAN_CHECK_WPASYNC) !== 0) return -U.EPERM;
    if ((s.flags & PM_SCAN_WP_MATCHING) !== 0) return 1;
    const vma = walk.vma!;
    if ((vma.flags & VM_PFNMAP) !== 0) return 1;
    const c = (vma.flags & VM_SOFTDIRTY) !== 0 ? PAGE_IS_SOFT_DIRTY : 0;
    // pagemap_scan_is_interesting_vma: only PAGE_IS_WPALLOWED is decided per VMA.
    const required = s.mask & PAGE_IS_WPALLOWED;
    if (((c ^ s.inverted) & required) !== required) return 1;
    s.vmaCategory = c;
    return 0;
  },
  // pagemap_scan_thp_entry / hugetlb_entry: a huge leaf is reported whole (PAGE_IS_HUGE),
  // never split; a table is descended into.
  pmdEntry: (w, addr, next, walk) => hugeEntry(w, addr, next, walk),
  pudEntry: (w, addr, next, walk) => hugeEntry(w, addr, next, walk),
  pteEntry(w, addr, next, walk) {
    const s = walk.priv;
    const k = walk.k;
    const lo = k.ops.lo(w);
    // Without uffd-wp every PTE slot counts as written, empty ones too (a page range with no
    // page table at all reports only the VMA's categories, through pteHole).
    let c = s.vmaCategory | PAGE_IS_WRITTEN;
    if (pteMapped(lo)) {
      const pfn = ptePfn(lo, k.ops.hi(w));
      c |= PAGE_IS_PRESENT;
      if (pfn === k.pages.zeroPfn) c |= PAGE_IS_PFNZERO;
      else if (!k.pages.isSpecial(pfn) && (k.pages.flags[pfn] & PG_ANON) === 0) c |= PAGE_IS_FILE;
      if ((lo & _PAGE_SOFT_DIRTY) !== 0) c |= PAGE_IS_SOFT_DIRTY;
    } else if (lo !== 0) {
      // A swap entry or a guard marker (one to Linux): swapped, soft-dirty by its own bit.
      c |= PAGE_IS_SWAPPED | (isGuardPte(lo) ? PAGE_IS_GUARD : 0);
      if ((lo & _PAGE_SWP_SOFT_DIRTY) !== 0) c |= PAGE_IS_SOFT_DIRTY;
    }
    return interesting(c, s) ? output(s, c, addr, next) : 0;
  },
  pteHole(addr, next, _depth, walk) {
    const s = walk.priv;
    if (walk.vma === null || !interesting(s.vmaCategory, s)) return 0;
    return output(s, s.vmaCategory, addr, next);
  },
};

function hugeEntry(w: number, addr: number, next: number, walk: MmWalk<Scan>): number {
  const k = walk.k;
  const lo = k.ops.lo(w);
  if (!pteLeaf(lo)) return 0;
  walk.action = ACTION_CONTINUE;
  const s = walk.priv;
  const pfn = pmdPfn(lo, k.ops.hi(w));
  let c = s.vmaCategory | PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_HUGE;
  if (pfn === k.thp.hugeZeroPfn) c |= PAGE_IS_PFNZERO;
  else if ((k.pages.flags[pfn] & PG_ANON) === 0 && (walk.vma === null || (walk.vma.flags & VM_HUGETLB) === 0 || (walk.vma.flags & VM_MAYSHARE) !== 0)) c |= PAGE_IS_FILE;
  if ((lo & _PAGE_SOFT_DIRTY) !== 0) c |= PAGE_IS_SOFT_DIRTY;
  return interesting(c, s) ? output(s, c, addr, next) : 0;
}

/** pm_scan_arg as read: its address and bytes, the range and the vector. */
interface ScanArgs {
  arg: number;
  b: Uint8Array;
  start: number;
  end: number;
  vec: number;
}

/** The walk of [start, end) in pieces, yielding when the slice is spent: the walk's result (ENOSPC when full), or -ESRCH. */
function* scanInPieces(k: Kmm, mm: Mm, start: number, end: number, s: Scan, live: () => boolean): Sliced {
  for (let a = start; a < end;) {
    const t = nextTable(k, mm, a, end);
    const b = t >= end ? end : Math.min(end, t - (t % 2 ** 21) + 2 ** 21);
    const before = s.regions.length;
    const ret = walkPageRange(k, mm, a, b, OPS, s);
    if (ret !== 0) return ret;
    a = b;
    if (k.slice.spend(pieceCost(Math.min(t, b), b, s.regions.length - before)) && a < end) {
      k.slice.shared = true; // mmap_lock for read
      yield;
      if (!live()) return -U.ESRCH;
    }
  }
  return 0;
}

/**
 * The ioctl: struct pm_scan_arg at `arg` (96 bytes); returns the regions filled, its walk
 * in slices (`live` false: the target exited between two).
 */
export function pagemapScanSliced(k: Kmm, mm: Mm, arg: number, io: UserIo, live: () => boolean): MaybeSliced {
  const b = io.copyFrom(arg, 96);
  if (typeof b === 'number') return b;
  const dv = new DataView(b.buffer);
  const u64 = (at: number) => Number(dv.getBigUint64(at, true));
  if (dv.getBigUint64(0, true) !== 96n) return -U.EINVAL;
  const flags = u64(8);
  if ((flags & ~(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC)) !== 0) return -U.EINVAL;
  const [inverted, mask, anyof, returnMask] = [u64(64), u64(72), u64(80), u64(88)];
  if (((inverted | mask | anyof | returnMask) & ~CATEGORIES) !== 0 || [inverted, mask, anyof, returnMask].some((x) => x > CATEGORIES)) return -U.EINVAL;
  const start = u64(16);
  let end = u64(24);
  const vec = u64(40);
  const vecLen = u64(48);
  if (start % 4096 !== 0) return -U.EINVAL;
  if (end < start || end > U.TASK_SIZE) return -U.EFAULT;
  if (vec === 0 && vecLen !== 0) return -U.EINVAL;
  if (vec !== 0 && (vecLen > 2 ** 32 || vec + vecLen * 24 > U.TASK_SIZE)) return -U.EFAULT;
  end = Math.ceil(end / 4096) * 4096;
  const maxPages = u64(56) === 0 ? Infinity : u64(56);
  const s: Scan = {
    flags, inverted, mask, anyof, returnMask, interest: mask | anyof | returnMask, maxPages, vecLen,
    regions: [], found: 0, walkEnd: 0, vmaCategory: 0,
  };
  return scanThenCopy(k, mm, { arg, b, start, end, vec }, s, io, live);
}

/** The scan, then the regions and walk_end copied out: the regions' count or -errno. */
function* scanThenCopy(k: Kmm, mm: Mm, a: ScanArgs, s: Scan, io: UserIo, live: () => boolean): Sliced {
  const { arg, b, start, end, vec } = a;
  const dv = new DataView(b.buffer);
  let ret = yield* scanInPieces(k, mm, start, end, s, live);
  if (ret === ENOSPC) ret = 0;
  if (ret < 0) return ret;
  if (s.walkEnd === 0) s.walkEnd = end;
  const out = new Uint8Array(s.regions.length * 24);
  const ov = new DataView(out.buffer);
  s.regions.forEach((r, i) => {
    ov.setBigUint64(i * 24, BigInt(r.start), true);
    ov.setBigUint64(i * 24 + 8, BigInt(r.end), true);
    ov.setBigUint64(i * 24 + 16, BigInt(r.categories), true);
  });
  if (out.length > 0) {
    const c = io.copyTo(vec, out);
    if (c < 0) return c;
  }
  dv.setBigUint64(32, BigInt(s.walkEnd), true);
  const c = io.copyTo(arg + 32, new Uint8Array(b.buffer, 32, 8));
  return c < 0 ? c : s.regions.length;
}
