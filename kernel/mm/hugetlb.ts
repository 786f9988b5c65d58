// hugetlb (mm/hugetlb.c): page pools, one per huge page size, 2 MiB (the default) and
// 1 GiB. nr_hugepages (sysfs) grows a pool by taking naturally aligned blocks from the page
// allocator and shrinks it by giving free ones back; /proc/meminfo reports the default
// pool (HugePages_Total, _Free, _Rsvd, _Surp, Hugepagesize) and all of them (Hugetlb).
//
// VM_HUGETLB VMAs map whole huge pages with PMD or PUD leaves, taken from the pool at the
// first fault (reserved at mmap unless MAP_NORESERVE); they behave through hugetlbVmOps.
// Shared 2 MiB mappings that cover a whole 1 GiB share their page directory (PMD sharing).

import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_TABLE, _PAGE_USER, K_FORK_PTES, mkPteHi,
  mkPteLo, pgprot4kToLarge, pmdPfn, pteLeaf, pudPfn, X86_PF_WRITE,
} from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import {
  EINVAL, ENOMEM, F_SEAL_SEAL, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK, MADV_DONTNEED, MADV_DONTNEED_LOCKED,
  MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MAP_GROWSDOWN, MAP_NORESERVE, PROT_WRITE,
} from '../uapi.ts';
import { accessError } from './fault.ts';
import { hugetlbOf, sharedPmd, unsharePmds, wantPmdShare } from './hugetlb_pmd_share.ts';
import type { Kmm } from './kmm.ts';
import { dropEmptyTables, unmapVmaRange } from './memory.ts';
import type { Mm } from './mm.ts';
import {
  FAULT_DONE, FAULT_OOM, FAULT_SIGBUS, VM_DONTEXPAND, VM_EXEC, VM_HUGETLB, VM_MAYSHARE, VM_READ, VM_SHARED, VM_WRITE,
  type MappedFile, type Vma, type VmaDesc, type VmOperations,
} from './mm_types.ts';
import { afterFlushes, finishGather, Gather } from './mmu_gather.ts';
import { __GFP_NORETRY, allocPages, GFP_KERNEL } from './page_alloc.ts';
import { forEachPte } from './pagewalk.ts';
import { pmdWord, pudWord, softwareDirty } from './pgtable.ts';
import type { SealedFile } from './seals.ts';

export class HState {
  /** Allocation order of one huge page (9: 2 MiB, 18: 1 GiB). */
  readonly order: number;
  /** Pages in the pool, free or in use, surplus included (HugePages_Total). */
  nr = 0;
  /**
   * Pages in use beyond what nr_hugepages asks for (HugePages_Surp): left when the pool was
   * shrunk below its pages in use, given back to the page allocator as they are freed.
   */
  surplus = 0;
  /** Free pages' first frames. */
  readonly free: number[] = [];
  /** Pages promised to mappings and not yet faulted in (resv_hugepages). */
  resv = 0;

  constructor(order: number) {
    this.order = order;
  }

  get size(): number {
    return 4096 * 2 ** this.order;
  }

  /** The sysfs directory name: hugepages-2048kB, hugepages-1048576kB. */
  get name(): string {
    return `hugepages-${this.size / 1024}kB`;
  }

  /** nr_hugepages: the persistent pool, surplus pages not counted. */
  get persistent(): number {
    return this.nr - this.surplus;
  }

  /**
   * Set nr_hugepages (set_max_huge_pages): surplus pages become persistent first, then new
   * pages are allocated until the pool has `n` or memory runs out; shrinking frees free pages
   * (keeping reserved ones) and turns what is still in use beyond `n` into surplus.
   */
  setNr(k: Kmm, n: number): void {
    while (this.persistent < n && this.surplus > 0) this.surplus--;
    while (this.persistent < n) {
      const pfn = allocPages(k, this.order, GFP_KERNEL | __GFP_NORETRY);
      if (pfn < 0) break;
      this.free.push(pfn);
      this.nr++;
    }
    while (this.persistent > n && this.free.length > this.resv) {
      k.pages.putPage(this.free.pop()!);
      this.nr--;
    }
    if (this.persistent > n) this.surplus += this.persistent - n;
  }

  /** A page freed by its last user: back to the free list, or to the page allocator if surplus. */
  putFree(k: Kmm, pfn: number): void {
    if (this.surplus > 0) {
      this.surplus--;
      this.nr--;
      k.pages.putPage(pfn);
      return;
    }
    this.free.push(pfn);
  }
}

/** hugetlb: the pools, and the huge pages in use. */
export class Hugetlb {
  /** The pools: 2 MiB first (default_hugepagesz), then 1 GiB. */
  readonly hstates: HState[] = [new HState(9), new HState(18)];
  /** Huge pages in use (first frame), with their pool; those a MAP_SHARED mapping keeps. */
  readonly pages = new Map<number, HState>();
  readonly shared = new Set<number>();
  /** PMD sharing: page directories linked by more than one mm, with how many extra links. */
  readonly pmdShares = new Map<number, number>();

  /** The pool of a MAP_HUGE_* size (log2 of the bytes; 0: the default), or undefined. */
  hstate(log: number): HState | undefined {
    return log === 0 || log === 21 ? this.hstates[0] : log === 30 ? this.hstates[1] : undefined;
  }

  /** The page size MAP_HUGETLB with size bits `log` maps, or 0 if there is no such pool. */
  pageSize(log: number): number {
    return this.hstate(log)?.size ?? 0;
  }

  /**
   * Anonymous MAP_HUGETLB (hugetlb_file_setup, then the file's mmap): an unnamed hugetlbfs
   * object of pages of `size`, reserved now unless MAP_NORESERVE; 0 or -errno.
   */
  mmapAnonymous(desc: VmaDesc, size: number): number {
    if ((desc.mapFlags & MAP_GROWSDOWN) !== 0) return -EINVAL;
    const h = this.hstates.find((x) => x.size === size)!;
    const m = new HugetlbMapping(h, desc.shared);
    if (desc.shared) desc.flags |= VM_SHARED | VM_MAYSHARE;
    desc.pgoff = 0;
    return hugetlbPrepare(m, m, desc, (desc.mapFlags & MAP_NORESERVE) === 0);
  }
}

/**
 * hugetlbfs_file_mmap for a file's pages `file` (the offset must be a whole number of huge
 * pages; a writable shared mapping past the end extends the file): the VMA maps the file's
 * pages if shared, else private pages copied from them. 0 or -errno.
 */
export function hugetlbfsMmap(file: HugetlbMapping, desc: VmaDesc): number {
  const h = file.h;
  if (desc.off % h.size !== 0) return -EINVAL;
  desc.pgoff = desc.off / 4096;
  const reserve = (desc.mapFlags & MAP_NORESERVE) === 0;
  if (!desc.shared) {
    const m = new HugetlbMapping(h, false);
    m.source = file;
    return hugetlbPrepare(m, file, desc, reserve);
  }
  if ((desc.prot & PROT_WRITE) !== 0 && file.size < desc.off + (desc.end - desc.start)) file.size = desc.off + (desc.end - desc.start);
  return hugetlbPrepare(file, file, desc, reserve);
}

/**
 * The VMA-to-be maps `m` (named by `file`): VM_HUGETLB, the hugetlb operations, and, with
 * `reserve`, the pages of its range that are neither present nor reserved reserved once it
 * is in place; ENOMEM (from mmapRegion's late check) if the pool cannot cover them.
 */
function hugetlbPrepare(m: HugetlbMapping, file: HugetlbMapping, desc: VmaDesc, reserve: boolean): number {
  const size = m.h.size;
  const first = (desc.pgoff * 4096) / size;
  const n = (desc.end - desc.start) / size;
  // hugetlbfs_file_mmap's reservation, run where Linux runs ->mmap: after a MAP_FIXED's old
  // PTEs are gone, so a short pool leaves a hole there.
  if (reserve) desc.check = () => (m.h.free.length - m.h.resv < m.unreserved(first, n) ? -ENOMEM : 0);
  desc.flags |= VM_HUGETLB | VM_DONTEXPAND;
  desc.ops = hugetlbVmOps;
  desc.file = file;
  desc.privateData = m;
  if (reserve) desc.action = () => m.reserve(first, n);
  return 0;
}

/**
 * What a hugetlb VMA maps: its pool, and for MAP_SHARED the pages by huge-page index (an
 * unnamed hugetlbfs file, as anonymous MAP_SHARED|MAP_HUGETLB makes). Split VMAs share it.
 * `resvIdx` holds the page indexes reserved and not yet faulted in (the reserve map): a
 * fault uses its own index's reservation, and one whose reservation was used (a page
 * faulted again after MADV_DONTNEED) needs a free unreserved page.
 */
export class HugetlbMapping implements MappedFile, SealedFile {
  readonly h: HState;
  readonly pages: Map<number, number> | null;
  /** VMAs that map it, and open files (a hugetlbfs file: memfd_create with MFD_HUGETLB). */
  users = 0;
  /** Shared: the VMAs that map it, in any process (for PMD sharing: i_mmap). */
  readonly vmas = new Set<Vma>();
  /** A file's size in bytes (Infinity for the object behind an anonymous mapping). */
  size = Infinity;
  /** Page indexes reserved by a mapping and not yet faulted in. */
  readonly resvIdx = new Set<number>();
  /** Private mappings of a file: the file, whose pages a fault copies. */
  source: HugetlbMapping | null = null;
  /** What /proc/PID/maps shows: the name, and device 00:00, inode 0 (see kernel/README.md). */
  name = '/anon_hugepage (deleted)';
  readonly dev = '00:00';
  readonly ino = 0;
  /** A hugetlbfs file's memfd seals (seals.ts): F_SEAL_SEAL until memfd_create lifts it. */
  seals = F_SEAL_SEAL;

  constructor(h: HState, shared: boolean) {
    this.h = h;
    this.pages = shared ? new Map() : null;
  }

  /** i_mmap, as seals.ts reads it: the shared VMAs. */
  get mappers(): Iterable<Vma> { return this.vmas; }

  /** Take a page for a fault: a reserved one, or a free unreserved one; -1 if none (SIGBUS). */
  allocPage(k: Kmm, idx: number): number {
    const h = this.h;
    if (this.resvIdx.delete(idx)) {
      h.resv--;
    } else if (h.free.length <= h.resv) {
      return -1;
    }
    const pfn = h.free.pop()!;
    k.mem.zeroFrames(pfn, 2 ** h.order);
    k.work.zeroed += 2 ** h.order;
    k.hugetlb.pages.set(pfn, h);
    if (this.pages !== null) k.hugetlb.shared.add(pfn);
    return pfn;
  }

  /**
   * A page no mapping and no cache holds goes back to its pool, after every shootdown still
   * outstanding (a CPU that has not acknowledged one may still reach it).
   */
  freePage(k: Kmm, pfn: number): void {
    k.hugetlb.pages.delete(pfn);
    k.hugetlb.shared.delete(pfn);
    afterFlushes(k, () => this.h.putFree(k, pfn));
  }

  /**
   * A VMA over huge-page indexes [first, first + n) went: a private mapping's reservations
   * there are returned (a shared one keeps its pages and reservations until the file goes).
   */
  unmapped(first: number, n: number): void {
    if (this.pages !== null) return;
    for (let i = first; i < first + n; i++) if (this.resvIdx.delete(i)) this.h.resv--;
  }

  /** The last VMA or file went: shared pages back to the pool, reservations dropped. */
  release(k: Kmm): void {
    if (--this.users > 0) return;
    if (this.pages !== null) for (const pfn of this.pages.values()) this.freePage(k, pfn);
    this.pages?.clear();
    this.h.resv -= this.resvIdx.size;
    this.resvIdx.clear();
  }

  /** How many pages of [first, first + n) are neither present nor reserved. */
  unreserved(first: number, n: number): number {
    let need = 0;
    for (let i = first; i < first + n; i++) if (this.pages?.has(i) !== true && !this.resvIdx.has(i)) need++;
    return need;
  }

  /**
   * Reserve the pages of [first, first + n) that are neither present nor reserved; false if
   * the pool cannot cover them.
   */
  reserve(first: number, n: number): boolean {
    const need: number[] = [];
    for (let i = first; i < first + n; i++) if (this.pages?.has(i) !== true && !this.resvIdx.has(i)) need.push(i);
    if (this.h.free.length - this.h.resv < need.length) return false;
    for (const i of need) this.resvIdx.add(i);
    this.h.resv += need.length;
    return true;
  }

  /**
   * ftruncate of a hugetlbfs file (a multiple of the page size): pages past the new end are
   * unmapped from every shared mapping (hugetlb_vmdelete_list) and go back to the pool.
   */
  truncate(k: Kmm, len: number): number {
    if (len % this.h.size !== 0) return -22; // EINVAL
    const first = len / this.h.size;
    for (const v of this.vmas) {
      if (v.mm === null) continue;
      const from = Math.max(v.start, v.start + first * this.h.size - v.pgoff * 4096);
      if (from >= v.end) continue;
      const g = new Gather();
      unmapVmaRange(k, v, from, v.end, g);
      finishGather(k, v.mm, g, -1);
    }
    for (const [i, pfn] of this.pages!) {
      if (i < first) continue;
      if (k.pages.mapcount[pfn] > 0) throw new KernelBug(`hugetlb truncate: page ${i} still mapped`);
      this.pages!.delete(i);
      this.freePage(k, pfn);
    }
    for (const i of this.resvIdx) {
      if (i < first) continue;
      this.resvIdx.delete(i);
      this.h.resv--;
    }
    this.size = len;
    return 0;
  }
}

/**
 * hugetlb_fault at va in a VM_HUGETLB VMA: map its huge page with a PMD (2 MiB) or PUD
 * (1 GiB) leaf, taking it from the mapping's pages (MAP_SHARED) or the pool, zeroed; a
 * reserved page first, else a free unreserved one, else SIGBUS. A write to a read-only leaf
 * of a writable VMA (after mprotect) makes it writable again.
 */
function hugetlbFault(k: Kmm, mm: Mm, vma: Vma, va: number, write: boolean): number {
  const m = hugetlbOf(vma);
  const size = m.h.size;
  const haddr = va - (va % size);
  if (m.h.order === 9 && wantPmdShare(vma, haddr)) {
    const uw = pudWord(k, mm, haddr, true);
    if (uw === -2) return FAULT_OOM;
    if ((k.ops.lo(uw) & _PAGE_PRESENT) === 0) {
      // huge_pmd_share: link the page directory another process built for the same file range.
      const pd = sharedPmd(k, vma, haddr);
      if (pd >= 0) {
        k.ops.setPte(uw, mkPteLo(pd, _PAGE_TABLE), mkPteHi(pd, false));
        k.hugetlb.pmdShares.set(pd, (k.hugetlb.pmdShares.get(pd) ?? 0) + 1);
        mm.ptePages++;
      }
    }
  }
  const w = m.h.order === 9 ? pmdWord(k, mm, haddr, true) : pudWord(k, mm, haddr, true);
  if (w === -2) return FAULT_OOM;
  const lo = k.ops.lo(w);
  if (pteLeaf(lo)) {
    if (!write || (lo & _PAGE_RW) !== 0) return FAULT_DONE;
    const head = m.h.order === 9 ? pmdPfn(lo, k.ops.hi(w)) : pudPfn(lo, k.ops.hi(w));
    if ((vma.flags & VM_MAYSHARE) === 0 && k.pages.mapcount[head] > 1) return hugetlbWp(k, mm, vma, w, haddr, head);
    k.ops.ptepModify(w, lo | _PAGE_RW | _PAGE_ACCESSED | softwareDirty(k), k.ops.hi(w), true);
    return FAULT_DONE;
  }
  // An empty page table left in the slot goes; one that maps something would be a kernel bug.
  if ((lo & _PAGE_PRESENT) !== 0 && !dropEmptyTables(k, mm, w, m.h.order === 9 ? 2 : 3, haddr, -1)) {
    throw new KernelBug(`hugetlbFault: a page table mapping pages at 0x${haddr.toString(16)} in a hugetlb VMA`);
  }
  const idx = (vma.pgoff * 4096 + (haddr - vma.start)) / size;
  const file = m.source ?? m;
  if (idx * size >= file.size) return FAULT_SIGBUS;
  let pfn = m.pages?.get(idx) ?? -1;
  if (pfn < 0) {
    pfn = m.allocPage(k, idx);
    if (pfn < 0) return FAULT_SIGBUS;
    m.pages?.set(idx, pfn);
    // A private mapping of a file starts from the file's page (copied at once, where Linux
    // maps it read-only and copies on the first write).
    const from = m.source?.pages?.get(idx);
    if (from !== undefined) k.mem.u8.copyWithin(pfn * 4096, from * 4096, (from + 2 ** m.h.order) * 4096);
  }
  k.pages.mapcount[pfn]++;
  const writable = (vma.flags & VM_WRITE) !== 0;
  const flags = pgprot4kToLarge(_PAGE_PRESENT | _PAGE_USER | (writable ? _PAGE_RW : 0)) | _PAGE_PSE | _PAGE_ACCESSED;
  k.ops.setPte(w, mkPteLo(pfn, flags | (write && writable ? softwareDirty(k) : 0) | (writable && (vma.flags & VM_SHARED) === 0 ? _PAGE_DIRTY : 0)), mkPteHi(pfn, (vma.flags & VM_EXEC) === 0));
  return FAULT_DONE;
}

/**
 * hugetlb_wp: a write to a private huge page that a fork shares: a copy from the pool (a
 * reservation of this mapping's if it has one for the index, else a free unreserved page;
 * none: SIGBUS) replaces it here. Linux would, for the reservation's owner, unmap the page
 * from its children instead of failing (unmap_ref_private); ptlab does not.
 */
function hugetlbWp(k: Kmm, mm: Mm, vma: Vma, w: number, haddr: number, old: number): number {
  const m = hugetlbOf(vma);
  const pfn = m.allocPage(k, (vma.pgoff * 4096 + (haddr - vma.start)) / m.h.size);
  if (pfn < 0) return FAULT_SIGBUS;
  const frames = 2 ** m.h.order;
  k.mem.u8.copyWithin(pfn * 4096, old * 4096, (old + frames) * 4096);
  k.pages.mapcount[pfn]++;
  const lo = (k.ops.lo(w) & 0x1fff) | _PAGE_RW | _PAGE_ACCESSED | softwareDirty(k);
  k.ops.ptepModify(w, mkPteLo(pfn, lo), mkPteHi(pfn, (vma.flags & VM_EXEC) === 0), false);
  k.pages.mapcount[old]--;
  k.events.cowFaults++;
  mm.cowFaults++;
  const g = new Gather();
  g.cover(haddr, haddr + m.h.size);
  finishGather(k, mm, g, -1);
  return FAULT_DONE;
}

/**
 * copy_hugetlb_page_range for fork: a private mapping's leaves are shared with the child,
 * read-only on both sides, each page mapped once more (the copy comes at the first write,
 * hugetlb_wp). A shared mapping copies nothing: the child faults its pages in, sharing page
 * directories where it can (Linux's lazy copy since 6.0). 0, or -ENOMEM without a table.
 */
function copyHugetlbPageRange(k: Kmm, dst: Vma, src: Vma): number {
  if ((src.flags & VM_MAYSHARE) !== 0) return 0;
  let failed = false;
  forEachPte(k, src.mm!, src.start, src.end, () => {
    throw new KernelBug(`copyHugetlbPageRange: a 4 KiB PTE in a hugetlb VMA at 0x${src.start.toString(16)}`);
  }, (w, va, level) => {
    const dw = failed ? -1 : level === 2 ? pmdWord(k, dst.mm!, va, true) : pudWord(k, dst.mm!, va, true);
    if (dw < 0) {
      failed = true;
      return true;
    }
    let lo = k.ops.lo(w);
    k.pages.mapcount[level === 2 ? pmdPfn(lo, k.ops.hi(w)) : pudPfn(lo, k.ops.hi(w))]++;
    if ((lo & _PAGE_RW) !== 0) lo = k.ops.ptepSetWrprotect(w) & ~_PAGE_RW;
    k.ops.setPte(dw, lo & ~_PAGE_ACCESSED, k.ops.hi(w));
    k.count(K_FORK_PTES);
    return true;
  });
  return failed ? -ENOMEM : 0;
}

/**
 * Unmap a hugetlb leaf at pw (a PMD or PUD entry) covering [va, va + size): the page loses a
 * mapping; a private page with none left goes back to the pool after the flush. False if the
 * leaf is not a hugetlb page.
 */
function zapHugetlbLeaf(k: Kmm, pw: number, va: number, level: number, g: Gather): boolean {
  const lo = k.ops.lo(pw);
  const head = level === 3 ? pudPfn(lo, k.ops.hi(pw)) : pmdPfn(lo, k.ops.hi(pw));
  const h = k.hugetlb.pages.get(head);
  if (h === undefined) return false;
  k.ops.ptepGetAndClear(pw);
  g.cover(va, va + h.size);
  if (--k.pages.mapcount[head] === 0 && !k.hugetlb.shared.has(head)) {
    g.after.push(() => {
      k.hugetlb.pages.delete(head);
      h.putFree(k, head);
    });
  }
  return true;
}

/**
 * hugetlb_change_protection for one leaf: the VMA's new rights (write at once for shared
 * mappings, on the next write fault for private ones). PROT_NONE keeps the leaf present but
 * supervisor-only, so user accesses fault and the kernel's walks still see a leaf.
 */
function changeHugetlbLeaf(k: Kmm, vma: Vma, w: number, va: number, g: Gather): boolean {
  const lo = k.ops.lo(w);
  const access = (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
  const writable = access && (vma.flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED);
  const next = (lo & ~(_PAGE_RW | _PAGE_USER)) | (access ? _PAGE_USER : 0) | (writable ? _PAGE_RW : 0);
  k.ops.ptepModify(w, next, mkPteHi(pmdPfn(lo, k.ops.hi(w)), (vma.flags & VM_EXEC) === 0), true);
  g.cover(va, va + hugetlbOf(vma).h.size);
  return true;
}

/** Advice a hugetlb VMA takes; the rest (FREE, REMOVE, COLD, PAGEOUT, ...) is EINVAL there. */
const HUGETLB_ADVICE = new Set([MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_DONTNEED_LOCKED,
  MADV_DONTFORK, MADV_DOFORK, MADV_DONTDUMP, MADV_DODUMP]);

/**
 * hugetlb_vm_ops, with what Linux does for is_vm_hugetlb_page VMAs in the generic paths:
 * faults map whole huge pages (hugetlb_fault), splits only at the page size, unmapping and
 * mprotect act on the leaves (and unshare shared page directories), mremap is refused.
 */
export const hugetlbVmOps: VmOperations = {
  name: 'hugetlb',
  handleFault(k, mm, vma, va, code) {
    const bad = accessError(vma, code);
    return bad !== 0 ? bad : hugetlbFault(k, mm, vma, va, (code & X86_PF_WRITE) !== 0);
  },
  dupPrivate(vma) {
    // hugetlb_dup_vma_private: a private mapping's reservations stay with the parent.
    const m = hugetlbOf(vma);
    if (m.pages !== null) return;
    const child = new HugetlbMapping(m.h, false);
    child.source = m.source;
    vma.privateData = child;
  },
  copyPageRange: copyHugetlbPageRange,
  open(vma) {
    const m = hugetlbOf(vma);
    m.users++;
    m.vmas.add(vma);
  },
  close(k, vma) {
    const m = hugetlbOf(vma);
    m.vmas.delete(vma);
    m.unmapped((vma.pgoff * 4096) / m.h.size, (vma.end - vma.start) / m.h.size);
    m.release(k);
  },
  maySplit: (vma, addr) => (addr % hugetlbOf(vma).h.size === 0 ? 0 : -EINVAL),
  pagesize: (vma) => hugetlbOf(vma).h.size,
  // Not yet: Linux moves hugetlb mappings in whole pages.
  mremap: () => -EINVAL,
  madvise: (_vma, advice) => (HUGETLB_ADVICE.has(advice) ? 0 : -EINVAL),
  unmap(k, vma, start, end, g) {
    unsharePmds(k, vma.mm!, start, end, g); // a shared page directory: unlink it, zap nothing
    forEachPte(k, vma.mm!, start, end, () => {
      throw new KernelBug(`hugetlb unmap: a 4 KiB PTE in a hugetlb VMA at 0x${vma.start.toString(16)}`);
    }, (w, va, level) => zapHugetlbLeaf(k, w, va, level, g));
  },
  changeProtection(k, vma, g) {
    unsharePmds(k, vma.mm!, vma.start, vma.end, g); // the others keep their rights
    forEachPte(k, vma.mm!, vma.start, vma.end, () => undefined, (w, va) => changeHugetlbLeaf(k, vma, w, va, g));
  },
};
