// Page-table entry helpers shared by every file that reads or writes entries (the parts
// of include/linux/pgtable.h and arch/x86/include/asm/pgtable.h the kernel needs beyond
// machine/pte.ts's hardware format).

import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_PRESENT, _PAGE_SOFT_DIRTY } from '../../machine/index.ts';
import type { Kmm } from './kmm.ts';

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

/** Set A (and D for a write) on a PTE the kernel accessed through (copy_to_user). */
export function markAccessed(k: Kmm, w: number, dirty: boolean): void {
  k.ops.ptepSetBits(w, dirty ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED);
}
