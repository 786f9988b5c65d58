// Transparent huge pages for anonymous memory (mm/huge_memory.c): a fault in a 2 MiB-aligned
// range that lies wholly inside an eligible VMA allocates an order-9 folio and maps it with
// one PMD leaf (do_huge_pmd_anonymous_page); a read fault maps the huge zero page instead.
// Operations that cover a whole huge PMD act on the leaf (zap_huge_pmd, change_huge_pmd);
// any that covers part of it splits it first (split_huge_pmd, here together with the folio:
// 512 pages, each mapped once), as do kernel paths that need a page table there.
//
// Fork shares a huge PMD (copy_huge_pmd): both sides map the folio read-only. A write on
// either side splits only that side's PMD and copies one 4 KiB page, as Linux 6.18 does;
// the other side keeps its huge PMD. ptlab splits the folio itself at that point (Linux
// defers it), so the other side's leaf then maps 512 single pages, each counted on its own:
// a "split-folio leaf", which zapping and faulting treat page by page.

import {
  _PAGE_ACCESSED, _PAGE_NX_HI, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_SPECIAL, _PAGE_TABLE, _PAGE_USER, entryWord,
  mkPteHi, mkPteLo, pgprot4kToLarge, pgprotLargeTo4k, pmdPfn, pteLeaf,
} from '../../machine/index.ts';
import { anonPageRmap, anonVmaPrepare, folioMoveAnonRmap } from './anon_vma.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { VM_ACCESS_FLAGS, VM_EXEC, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_WRITE, type Vma, vmaIsAnonymous } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import {
  PG_ANON, PG_ANON_EXCLUSIVE, PG_LAZYFREE, PG_PGTABLE, PG_RESERVED, PG_SPECIAL, allocPages, GFP_KERNEL, GFP_USER, __GFP_NORETRY,
  __GFP_ZERO,
} from './page_alloc.ts';
import { pmdWord, softwareDirty } from './pgtable.ts';
import { lruAddVma } from './lru.ts';
import { KernelBug } from '../bug.ts';

export const HPAGE_PMD_SIZE = 2 ** 21;
export const HPAGE_PMD_ORDER = 9;
export const HPAGE_PMD_NR = 512;

/** Transparent huge pages: the sysfs policy and the huge zero page. */
export class Thp {
  /**
   * /sys/kernel/mm/transparent_hugepage/enabled: 'always', 'madvise' (only VM_HUGEPAGE
   * VMAs) or 'never'. 'madvise' by default, as on the project's host kernel and many
   * distributions (upstream's Kconfig default is 'always').
   */
  policy: 'always' | 'madvise' | 'never' = 'madvise';
  /** transparent_hugepage/use_zero_page: a read fault maps the huge zero page. */
  useZeroPage = true;
  /** The huge zero page's first frame (allocated at its first use), or -1; and its PMD mappings. */
  hugeZeroPfn = -1;
  hugeZeroMaps = 0;
}

/** thp_vma_allowable_order and transhuge_vma_suitable for an anonymous fault at haddr. */
export function thpEligible(k: Kmm, vma: Vma, haddr: number): boolean {
  if (!vmaIsAnonymous(vma)) return false;
  if ((vma.flags & VM_NOHUGEPAGE) !== 0 || k.thp.policy === 'never') return false;
  if (k.thp.policy === 'madvise' && (vma.flags & VM_HUGEPAGE) === 0) return false;
  if (haddr < vma.start || haddr + HPAGE_PMD_SIZE > vma.end) return false;
  // The VMA's pages must line up with huge pages: (vm_start >> PAGE_SHIFT) - vm_pgoff aligned.
  return (((vma.start / 4096 - vma.pgoff) % HPAGE_PMD_NR) + HPAGE_PMD_NR) % HPAGE_PMD_NR === 0;
}

/** The huge zero page (get_huge_zero_page): allocated zeroed at its first use, then kept. */
function hugeZeroPage(k: Kmm): number {
  if (k.thp.hugeZeroPfn >= 0) return k.thp.hugeZeroPfn;
  const pfn = allocPages(k, HPAGE_PMD_ORDER, GFP_KERNEL | __GFP_ZERO | __GFP_NORETRY);
  if (pfn < 0) return -1;
  for (let i = 0; i < HPAGE_PMD_NR; i++) k.pages.flags[pfn + i] |= PG_SPECIAL | PG_RESERVED;
  k.thp.hugeZeroPfn = pfn;
  k.events.thpZeroPageAlloc++;
  return pfn;
}

/**
 * A PMD mapping of the huge zero page went: the last one frees it after the flush of g (as
 * the shrinker frees an unused huge zero page).
 */
export function putHugeZeroPage(k: Kmm, g: Gather): void {
  if (--k.thp.hugeZeroMaps > 0) return;
  const pfn = k.thp.hugeZeroPfn;
  for (let i = 0; i < HPAGE_PMD_NR; i++) k.pages.flags[pfn + i] &= ~(PG_SPECIAL | PG_RESERVED);
  k.thp.hugeZeroPfn = -1;
  g.pages.push(pfn);
}

/** PMD-leaf flags for vma (vm_get_page_prot, made large). */
function pmdFlags(writable: boolean): number {
  return pgprot4kToLarge(_PAGE_PRESENT | _PAGE_USER | (writable ? _PAGE_RW : 0)) | _PAGE_PSE;
}

/**
 * do_huge_pmd_anonymous_page at haddr, whose PMD entry `pw` is empty: the huge zero page
 * for a read, else a new zeroed order-9 folio. False if no folio could be had (the caller
 * falls back to a 4 KiB page, counted as thp_fault_fallback).
 */
export function hugeAnonFault(k: Kmm, mm: Mm, vma: Vma, haddr: number, pw: number, write: boolean): boolean {
  const nx = (vma.flags & VM_EXEC) === 0;
  anonVmaPrepare(k, vma, mm.vmas.prevOf(vma.start), mm.vmas.findNext(vma.end));
  if (!write && k.vm.zeroPage && k.thp.useZeroPage) {
    const z = hugeZeroPage(k);
    if (z >= 0 && deposit(k, mm, pw)) {
      k.thp.hugeZeroMaps++;
      k.ops.setPte(pw, mkPteLo(z, pmdFlags(false)), mkPteHi(z, nx));
      return true;
    }
  }
  const pfn = allocPages(k, HPAGE_PMD_ORDER, GFP_USER | __GFP_ZERO | __GFP_NORETRY);
  if (pfn < 0) {
    k.events.thpFaultFallback++;
    return false;
  }
  if (!deposit(k, mm, pw)) {
    k.pages.putPage(pfn);
    return false;
  }
  k.pages.flags[pfn] |= PG_ANON | PG_ANON_EXCLUSIVE | (vma.droppable ? PG_LAZYFREE : 0);
  anonPageRmap(k, pfn, vma, haddr);
  k.pages.mapcount[pfn] = 1;
  lruAddVma(k, pfn, vma);
  mm.rssAnon += HPAGE_PMD_NR;
  mm.noteRss();
  const writable = (vma.flags & VM_WRITE) !== 0;
  k.ops.setPte(pw, mkPteLo(pfn, pmdFlags(writable) | _PAGE_ACCESSED | (writable ? softwareDirty(k) : 0)), mkPteHi(pfn, nx));
  k.events.thpFaultAlloc++;
  return true;
}

/** pgtable_trans_huge_deposit: the page table a later split of the leaf at pw will use; false if no frame. */
function deposit(k: Kmm, mm: Mm, pw: number): boolean {
  const pt = allocPages(k, 0, GFP_KERNEL | __GFP_ZERO);
  if (pt < 0) return false;
  k.pages.flags[pt] |= PG_PGTABLE;
  mm.ptePages++;
  mm.deposited.set(pw, pt);
  return true;
}

/** The leaf maps a whole order-9 folio (not one split while another mm kept its PMD). */
function wholeFolio(k: Kmm, pfn: number): boolean {
  return (k.pages.flags[pfn] & PG_ANON) !== 0 && k.pages.orderOf(pfn) === HPAGE_PMD_ORDER;
}

/**
 * The 512 single pages a huge PMD leaf at pfn maps, split from their folio while another
 * mm kept its own PMD (fork), are held by this leaf alone: each has one reference and one
 * mapping. In Linux the folio was never split, and this is its refcount of 1.
 */
function soleSplitHolder(k: Kmm, pfn: number): boolean {
  const pages = k.pages;
  if ((pages.flags[pfn] & PG_ANON) === 0 || pages.orderOf(pfn) !== 0) return false;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    if (pages.refcount[pfn + i] !== 1 || pages.mapcount[pfn + i] !== 1) return false;
  }
  return true;
}

/**
 * A fault on a present huge PMD leaf (do_huge_pmd_wp_page). A write to an exclusive folio,
 * or to one nothing else holds any more (refcount 1: moved to this VMA's anon_vma), makes the
 * leaf writable; so does a write to the 512 pages of a folio split while this PMD kept them
 * (fork: ptlab splits the folio where Linux defers it) once only this leaf holds them: they
 * are one folio again, as Linux's never stopped being. A write to the huge zero page or to a
 * folio fork shares splits this PMD: 'split' tells the caller to go on at 4 KiB, where one
 * page is copied. Anything else is spurious.
 */
export function hugePmdFault(k: Kmm, mm: Mm, vma: Vma, haddr: number, pw: number, write: boolean, cpu: number): 'done' | 'split' | 'oom' {
  const lo = k.ops.lo(pw);
  if (!write || (lo & _PAGE_RW) !== 0) return 'done';
  const pfn = pmdPfn(lo, k.ops.hi(pw));
  const pages = k.pages;
  if (soleSplitHolder(k, pfn)) pages.joinBlock(pfn, HPAGE_PMD_ORDER);
  if (pfn !== k.thp.hugeZeroPfn && wholeFolio(k, pfn)) {
    let reuse = (pages.flags[pfn] & PG_ANON_EXCLUSIVE) !== 0;
    if (!reuse && pages.refcount[pfn] === 1) {
      folioMoveAnonRmap(k, pfn, vma);
      pages.flags[pfn] |= PG_ANON_EXCLUSIVE;
      reuse = true;
    }
    if (reuse) {
      k.ops.ptepModify(pw, lo | _PAGE_RW | _PAGE_ACCESSED | softwareDirty(k), k.ops.hi(pw), true);
      k.events.pgreuse++;
      mm.pgreuse++;
      return 'done';
    }
  }
  return splitHugePmd(k, mm, pw, haddr, cpu) ? 'split' : 'oom';
}

/**
 * copy_huge_pmd for fork: the child's PMD at dpw maps what the parent's leaf at spw maps,
 * with a table deposited for its own later split. The huge zero page is shared as it is; an
 * anonymous folio gains a reference and a mapping, loses PageAnonExclusive, and both leaves
 * become read-only (the parent's flushed with the whole mm at the end of the fork). False
 * if no frame was free for the deposit.
 */
export function copyHugePmd(k: Kmm, dst: Mm, dpw: number, spw: number): boolean {
  if (!deposit(k, dst, dpw)) return false;
  const lo = k.ops.lo(spw);
  const pfn = pmdPfn(lo, k.ops.hi(spw));
  const pages = k.pages;
  if (pfn === k.thp.hugeZeroPfn) {
    k.thp.hugeZeroMaps++;
  } else {
    // A whole folio is counted at its head; a split one page by page.
    const n = wholeFolio(k, pfn) ? 1 : HPAGE_PMD_NR;
    for (let i = 0; i < n; i++) {
      pages.refcount[pfn + i]++;
      pages.mapcount[pfn + i]++;
      pages.flags[pfn + i] &= ~PG_ANON_EXCLUSIVE;
    }
    if ((lo & _PAGE_RW) !== 0) k.ops.ptepSetWrprotect(spw);
    dst.rssAnon += HPAGE_PMD_NR;
  }
  k.ops.setPte(dpw, k.ops.lo(spw) & ~_PAGE_ACCESSED, k.ops.hi(spw));
  return true;
}

/**
 * zap_huge_pmd for a leaf wholly inside the range being unmapped: clear it and queue the
 * folio (the huge zero page stays). False for a leaf only partly inside (split it).
 */
export function zapHugePmd(k: Kmm, mm: Mm, pw: number, va: number, start: number, end: number, g: Gather): boolean {
  if (va < start || va + HPAGE_PMD_SIZE > end) return false;
  const lo = k.ops.ptepGetAndClear(pw);
  const pfn = pmdPfn(lo, k.ops.hi(pw));
  g.cover(va, va + HPAGE_PMD_SIZE);
  // zap_deposited_table: the table set aside for a split goes too.
  const pt = mm.deposited.get(pw);
  if (pt !== undefined) {
    mm.deposited.delete(pw);
    mm.ptePages--;
    g.tables.push(pt);
  }
  if (pfn === k.thp.hugeZeroPfn) {
    putHugeZeroPage(k, g);
    return true;
  }
  const n = wholeFolio(k, pfn) ? 1 : HPAGE_PMD_NR;
  for (let i = 0; i < n; i++) {
    k.pages.mapcount[pfn + i]--;
    g.pages.push(pfn + i);
  }
  mm.rssAnon -= HPAGE_PMD_NR;
  return true;
}

/**
 * change_huge_pmd for mprotect: a leaf wholly inside the range gets the VMA's new rights
 * (write only on the next write fault, as for 4 KiB pages of private memory). False for a
 * leaf only partly inside, or when the new rights are none (PROT_NONE: split, since a
 * non-present leaf would read as a table).
 */
export function changeHugePmd(k: Kmm, vma: Vma, pw: number, va: number, start: number, end: number, g: Gather): boolean {
  if (va < start || va + HPAGE_PMD_SIZE > end || (vma.flags & VM_ACCESS_FLAGS) === 0) return false;
  const lo = k.ops.lo(pw);
  const pfn = pmdPfn(lo, k.ops.hi(pw));
  k.ops.ptepModify(pw, lo & ~_PAGE_RW, mkPteHi(pfn, (vma.flags & VM_EXEC) === 0), true);
  g.cover(va, va + HPAGE_PMD_SIZE);
  return true;
}

/**
 * split_huge_pmd for a 2 MiB leaf at PD entry word `w` mapping [addr, addr + 2 MiB): a page
 * table of 512 PTEs takes its place, each mapping the matching 4 KiB frame with the same
 * rights and the leaf's accessed and dirty bits; the old translation is shot down. False
 * if no frame is free for the table (the leaf stays). A transparent huge page is split with
 * it into 512 pages, each mapped once; the huge zero page becomes 512 entries for the 4 KiB
 * zero page (and is freed with its last PMD mapping). Any other leaf (a test's hand-made
 * one) keeps its frames as they are.
 */
export function splitHugePmd(k: Kmm, mm: Mm, w: number, addr: number, cpu: number): boolean {
  // The table deposited with the leaf, or (for a leaf made without one) a new one.
  let pt = mm.deposited.get(w) ?? -1;
  if (pt >= 0) {
    mm.deposited.delete(w);
  } else {
    pt = allocPages(k, 0, GFP_KERNEL | __GFP_ZERO);
    if (pt < 0) return false;
    k.pages.flags[pt] |= PG_PGTABLE;
    mm.ptePages++;
  }
  const old = k.ops.ptepGetAndClear(w); // pmdp_invalidate: no CPU uses the leaf from here
  const hi = k.ops.hi(w);
  const first = pmdPfn(old, hi);
  const flags = pgprotLargeTo4k(old & 0x1fff);
  const nx = (hi & _PAGE_NX_HI) !== 0;
  const pages = k.pages;
  const g = new Gather();
  if (first === k.thp.hugeZeroPfn) {
    // The huge zero page becomes 512 entries for the 4 KiB zero page (__split_huge_zero_page_pmd).
    const z = pages.zeroPfn;
    for (let i = 0; i < 512; i++) k.ops.setPte(entryWord(pt, i), mkPteLo(z, flags | _PAGE_SPECIAL), mkPteHi(z, nx));
    putHugeZeroPage(k, g);
  } else {
    for (let i = 0; i < 512; i++) k.ops.setPte(entryWord(pt, i), mkPteLo(first + i, flags), mkPteHi(first + i, nx));
    // A transparent huge page is split with its mapping: 512 pages, each mapped once.
    if ((pages.flags[first] & PG_ANON) !== 0 && pages.orderOf(first) === 9) pages.splitBlock(first);
  }
  k.events.thpSplitPmd++;
  k.ops.setPte(w, mkPteLo(pt, _PAGE_TABLE), mkPteHi(pt, false));
  g.cover(addr, addr + 2 ** 21);
  finishGather(k, mm, g, cpu);
  return true;
}

/**
 * vma_adjust_trans_huge: vma is about to be split at addr; a huge PMD across addr is split
 * first (with the table deposited for it, so this needs no frame).
 */
export function vmaAdjustTransHuge(k: Kmm, vma: Vma, addr: number): void {
  if (addr % HPAGE_PMD_SIZE === 0 || vma.mm === null) return;
  const pw = pmdWord(k, vma.mm, addr, false);
  if (pw >= 0 && pteLeaf(k.ops.lo(pw)) && !splitHugePmd(k, vma.mm, pw, addr - (addr % HPAGE_PMD_SIZE), -1)) {
    throw new KernelBug('vmaAdjustTransHuge: a huge PMD without its deposited table');
  }
}
