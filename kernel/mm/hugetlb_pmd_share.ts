// hugetlb PMD sharing (the huge_pmd_share half of mm/hugetlb.c): shared 2 MiB mappings
// of one file that each cover a whole 1 GiB range link the same page directory into every
// mm that maps it, so its PMD entries exist once. A fault links the directory another mm
// built (huge_pmd_share); unmapping or mprotect unlinks it (huge_pmd_unshare).

import { _PAGE_PRESENT, pteLeaf, ptePfn } from '../../machine/index.ts';
import type { HugetlbMapping } from './hugetlb.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { type Vma, VM_LOCKED, VM_LOCKONFAULT, VM_MAYSHARE } from './mm_types.ts';
import type { Gather } from './mmu_gather.ts';
import { pudWord } from './pgtable.ts';

const PUD_SIZE = 2 ** 30;

/**
 * want_pmd_share: a shared mapping (VM_MAYSHARE) of 2 MiB pages covering the whole 1 GiB
 * (PUD-aligned) range around addr.
 */
export function wantPmdShare(vma: Vma, addr: number): boolean {
  const base = addr - (addr % PUD_SIZE);
  return (vma.flags & VM_MAYSHARE) !== 0 && hugetlbOf(vma).h.order === 9 && base >= vma.start && base + PUD_SIZE <= vma.end;
}

/**
 * huge_pmd_share's search of i_mmap: another VMA of the same file whose page directory can
 * serve addr (page_table_shareable: the same offset within 1 GiB, the same flags but for the
 * lock bits, the whole 1 GiB inside it) and exists; its frame, or -1.
 */
export function sharedPmd(k: Kmm, vma: Vma, addr: number): number {
  const fileOff = vma.pgoff * 4096 + (addr - vma.start);
  for (const s of hugetlbOf(vma).vmas) {
    if (s === vma || s.mm === null || ((s.flags ^ vma.flags) & ~(VM_LOCKED | VM_LOCKONFAULT)) !== 0) continue;
    const saddr = s.start + fileOff - s.pgoff * 4096;
    if (saddr < s.start || saddr >= s.end || saddr % PUD_SIZE !== addr % PUD_SIZE) continue;
    const sbase = saddr - (saddr % PUD_SIZE);
    if (sbase < s.start || sbase + PUD_SIZE > s.end) continue;
    const uw = pudWord(k, s.mm, sbase, false);
    if (uw < 0) continue;
    const lo = k.ops.lo(uw);
    if ((lo & _PAGE_PRESENT) !== 0 && !pteLeaf(lo)) return ptePfn(lo, k.ops.hi(uw));
  }
  return -1;
}

/**
 * huge_pmd_unshare over [start, end): a page directory this mm shares with others is
 * unlinked here (its entries stay for them) and the whole 1 GiB it covered is flushed.
 */
export function unsharePmds(k: Kmm, mm: Mm, start: number, end: number, g: Gather): void {
  if (k.hugetlb.pmdShares.size === 0) return;
  for (let base = start - (start % PUD_SIZE); base < end; base += PUD_SIZE) {
    const uw = pudWord(k, mm, base, false);
    if (uw < 0) continue;
    const lo = k.ops.lo(uw);
    if ((lo & _PAGE_PRESENT) === 0 || pteLeaf(lo)) continue;
    const pd = ptePfn(lo, k.ops.hi(uw));
    const n = k.hugetlb.pmdShares.get(pd) ?? 0;
    if (n === 0) continue;
    k.ops.ptepGetAndClear(uw);
    if (n === 1) k.hugetlb.pmdShares.delete(pd);
    else k.hugetlb.pmdShares.set(pd, n - 1);
    mm.ptePages--;
    g.cover(base, base + PUD_SIZE);
  }
}

/** The hugetlb mapping a VM_HUGETLB VMA maps (its vm_private_data). */
export function hugetlbOf(vma: Vma): HugetlbMapping {
  return vma.privateData as HugetlbMapping;
}
