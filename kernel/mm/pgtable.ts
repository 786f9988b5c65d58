// Page-table entry helpers shared by every file that reads or writes entries (the parts
// of include/linux/pgtable.h and arch/x86/include/asm/pgtable.h the kernel needs beyond
// machine/pte.ts's hardware format), and finding the entries that translate an address:
// the upper levels (building missing tables on request) and the leaf, without changing
// anything. The PTE level, which may have to split a huge PMD, is memory.ts's.

import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_PRESENT, _PAGE_RW, _PAGE_SOFT_DIRTY, _PAGE_TABLE, _PAGE_USER, entryWord,
  mkPteHi, mkPteLo, pmdPfn, ptePfn, pteLeaf, pudPfn,
} from '../../machine/index.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { __GFP_ZERO, allocPages, GFP_KERNEL, PG_PGTABLE } from './page_alloc.ts';
import { VM_ACCESS_FLAGS, VM_SOFTDIRTY, type Vma } from './mm_types.ts';

/** Linux's _PAGE_PROTNONE: a PROT_NONE mapping keeps its frame with P clear and bit 8 set. */
export const _PAGE_PROTNONE = _PAGE_GLOBAL;

/** Bytes one entry covers at each paging level (index = level). */
export const SPAN = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];

/** True if a PTE maps a frame (present, or a PROT_NONE mapping). */
export function pteMapped(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
}

/** pte_mkdirty's bits: D, and the soft-dirty bit when the kernel tracks it. */
export function softwareDirty(k: Kmm): number {
  return k.vm.softDirty ? _PAGE_DIRTY | _PAGE_SOFT_DIRTY : _PAGE_DIRTY;
}

/**
 * vma_soft_dirty_enabled: soft-dirty tracking is on in vma (clear_refs 4 cleared its
 * VM_SOFTDIRTY). A shared writable mapping is then write-notified (vma_wants_writenotify):
 * a PTE without the soft-dirty bit is mapped read-only, so that the first write faults and
 * sets it.
 */
export function softDirtyWp(k: Kmm, vma: Vma): boolean {
  return k.vm.softDirty && (vma.flags & VM_SOFTDIRTY) === 0;
}

/** Set A (and D for a write) on a PTE the kernel accessed through (copy_to_user). */
export function markAccessed(k: Kmm, w: number, dirty: boolean): void {
  k.ops.ptepSetBits(w, dirty ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED);
}

/** PTE low-word flags for a page of `vma` (vm_get_page_prot), writable or not. */
export function vmaPteFlags(vma: Vma, writable: boolean): number {
  if ((vma.flags & VM_ACCESS_FLAGS) === 0) return _PAGE_PROTNONE | _PAGE_USER;
  return _PAGE_PRESENT | _PAGE_USER | (writable ? _PAGE_RW : 0);
}

/** The index of va's entry in its table at `level` (1 PTE ... 4 PML4E). */
export function index(va: number, level: number): number {
  return Math.floor(va / SPAN[level]) % 512;
}

/** The word of the PMD entry covering va (page directory entry), allocating the tables above it if `alloc`; -1 absent, -2 no frame. */
export function pmdWord(k: Kmm, mm: Mm, va: number, alloc: boolean): number {
  const uw = pudWord(k, mm, va, alloc);
  if (uw < 0) return uw;
  const table = tableBelow(k, mm, uw, alloc);
  return table < 0 ? table : entryWord(table, index(va, 2));
}

/** The word of the PUD entry (PDPTE) covering va, allocating the PDPT if `alloc`; -1 absent, -2 no frame. */
export function pudWord(k: Kmm, mm: Mm, va: number, alloc: boolean): number {
  const table = tableBelow(k, mm, entryWord(mm.pml4, index(va, 4)), alloc);
  return table < 0 ? table : entryWord(table, index(va, 3));
}

/**
 * The table entry word w points at: its frame, or (absent) a new zeroed table linked there
 * if `alloc` (pte_alloc and friends); -1 absent, -2 no frame for it.
 */
export function tableBelow(k: Kmm, mm: Mm, w: number, alloc: boolean): number {
  const lo = k.ops.lo(w);
  if ((lo & _PAGE_PRESENT) !== 0) return ptePfn(lo, k.ops.hi(w));
  if (!alloc) return -1;
  const pfn = allocPages(k, 0, GFP_KERNEL | __GFP_ZERO);
  if (pfn < 0) return -2;
  k.pages.flags[pfn] |= PG_PGTABLE;
  mm.ptePages++;
  k.ops.setPte(w, mkPteLo(pfn, _PAGE_TABLE), mkPteHi(pfn, false));
  return pfn;
}

/** The PTE word at va if its page table exists (no allocation, no huge PMD split), else -1. */
export function pteWordAt(k: Kmm, mm: Mm, va: number): number {
  const pw = pmdWord(k, mm, va, false);
  if (pw < 0) return -1;
  const plo = k.ops.lo(pw);
  if ((plo & _PAGE_PRESENT) === 0 || pteLeaf(plo)) return -1;
  return entryWord(ptePfn(plo, k.ops.hi(pw)), index(va, 1));
}

/**
 * The entry that translates va, without changing anything: a PTE word, or the word of the
 * huge PMD leaf covering va (`huge` true); null where nothing is mapped. The 4 KiB frame is
 * the leaf's first frame plus va's page within it.
 */
export function leafWord(k: Kmm, mm: Mm, va: number): { w: number; huge: boolean; pfn: number } | null {
  const uw = pudWord(k, mm, va, false);
  if (uw < 0) return null;
  const ulo = k.ops.lo(uw);
  if (pteLeaf(ulo)) return { w: uw, huge: true, pfn: pudPfn(ulo, k.ops.hi(uw)) + Math.floor((va % SPAN[3]) / 4096) };
  const pw = pmdWord(k, mm, va, false);
  if (pw < 0) return null;
  const plo = k.ops.lo(pw);
  if (pteLeaf(plo)) return { w: pw, huge: true, pfn: pmdPfn(plo, k.ops.hi(pw)) + Math.floor((va % SPAN[2]) / 4096) };
  if ((plo & _PAGE_PRESENT) === 0) return null;
  const w = entryWord(ptePfn(plo, k.ops.hi(pw)), index(va, 1));
  const lo = k.ops.lo(w);
  return pteMapped(lo) ? { w, huge: false, pfn: ptePfn(lo, k.ops.hi(w)) } : null;
}
