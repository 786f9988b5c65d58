// validateMm: the invariants that tie an mm's VMA index, page tables and counters together
// (run after every operation in tests). Throws with the first violation.

import { _PAGE_PRESENT, _PAGE_RW, pmdPfn, ptePfn, pteLeaf } from '../../machine/index.ts';
import { ACTION_CONTINUE, type MmWalk, walkPageRangeNovma } from './pagewalk.ts';
import { isDataMapping, type Mm, USER_TOP } from './mm.ts';
import { PG_ANON, PG_ANON_EXCLUSIVE, PG_PGTABLE, PG_SHMEM } from './page_alloc.ts';
import { VM_GROWSDOWN, VM_HUGETLB, type Vma } from './mm_types.ts';
import { KernelBug } from '../bug.ts';
import { type Kmm } from './kmm.ts';
import { pteMapped, SPAN } from './pgtable.ts';
import { isPteMarker, swpOffset, swpType } from './swapfile.ts';

/** The VMA at va, in the tree or taken out by an munmap still zapping it (Mm.unmapping). */
function vmaAt(mm: Mm, va: number): Vma | null {
  return mm.vmas.find(va) ?? mm.unmapping.find((v) => v.start <= va && va < v.end) ?? null;
}

/** Readers beside a holder's read hold need a holder, holding for read (mm.ts joinMm). */
function validateHold(mm: Mm): void {
  if (mm.readersBeside.size > 0 && (mm.slicedCpu === -1 || !mm.slicedShared || mm.readersBeside.has(mm.slicedCpu))) {
    throw new KernelBug(`validateMm: readers beside [${[...mm.readersBeside]}] with the mm held by cpu ${mm.slicedCpu}${mm.slicedShared ? '' : ' for write'}`);
  }
}

export function validateMm(k: Kmm, mm: Mm): void {
  mm.vmas.validate();
  validateHold(mm);
  const vmas = mm.vmas.all();
  let pages = 0;
  for (let i = 0; i < vmas.length; i++) {
    const v = vmas[i];
    if (v.start % 4096 !== 0 || v.end % 4096 !== 0 || v.start >= v.end) throw new KernelBug(`validateMm: bad VMA [${v.start}, ${v.end})`);
    if (i > 0 && vmas[i - 1].end > v.start) throw new KernelBug(`validateMm: VMAs overlap at ${v.start.toString(16)}`);
    pages += (v.end - v.start) / 4096;
  }
  if (pages !== mm.totalVm) throw new KernelBug(`validateMm: totalVm ${mm.totalVm} != ${pages} pages in VMAs`);
  // Every file VMA is in its file's i_mmap, under its current range.
  const caches = new Set(vmas.map((v) => v.mapping).filter((m) => m !== null));
  for (const v of vmas) if (v.mapping !== null && (!v.mapping.mappers.has(v) || v.mm !== mm)) throw new KernelBug(`validateMm: VMA at ${v.start.toString(16)} missing from its i_mmap`);
  for (const m of caches) m!.mappers.validate();
  // Every anon_vma a VMA's chain names holds it, and its own comes first.
  for (const v of vmas) {
    if ((v.anonVma === null) !== (v.anonVmaChain.length === 0) || (v.anonVma !== null && v.anonVmaChain[0] !== v.anonVma)) throw new KernelBug(`validateMm: VMA at ${v.start.toString(16)} has a broken anon_vma chain`);
    for (const av of v.anonVmaChain) if (!av.vmas.has(v) || k.rmap.anonVmas.get(av.id) !== av) throw new KernelBug(`validateMm: anon_vma ${av.id} of the VMA at ${v.start.toString(16)} does not link it`);
  }
  const pagesOf = (want: (v: Vma) => boolean): number => vmas.filter(want).reduce((n, v) => n + (v.end - v.start) / 4096, 0);
  const data = pagesOf((v) => isDataMapping(v.flags));
  if (data !== mm.dataVm) throw new KernelBug(`validateMm: dataVm ${mm.dataVm} != ${data} pages of data mappings`);
  const stack = pagesOf((v) => (v.flags & VM_GROWSDOWN) !== 0);
  if (stack !== mm.stackVm) throw new KernelBug(`validateMm: stackVm ${mm.stackVm} != ${stack} pages of stack mappings`);
  let anon = 0;
  let shmem = 0;
  let swapents = 0;
  let tables = 0;
  const table = (w: number, addr: number, level: number, walk: MmWalk<null>): number => {
    const lo = k.ops.lo(w);
    if (pteLeaf(lo)) {
      anon += hugeLeaf(k, mm, w, addr, level);
      walk.action = ACTION_CONTINUE;
    } else if ((lo & _PAGE_PRESENT) !== 0) {
      const child = ptePfn(lo, k.ops.hi(w));
      // An mshare region's tables belong to its host mm, whatever links to them.
      if (level === 4 && k.mshare.sharedTables.has(child) && vmaAt(mm, addr)?.ops.foreignTables === true) {
        walk.action = ACTION_CONTINUE;
        return 0;
      }
      if ((k.pages.flags[child] & PG_PGTABLE) === 0) throw new KernelBug(`validateMm: table ${child} lacks PG_PGTABLE`);
      tables++;
    }
    return 0;
  };
  if ((k.pages.flags[mm.pml4] & PG_PGTABLE) === 0) throw new KernelBug(`validateMm: PML4 ${mm.pml4} lacks PG_PGTABLE`);
  walkPageRangeNovma(k, mm, 0, USER_TOP, {
    p4dEntry: (w, addr, _n, walk) => table(w, addr, 4, walk),
    pudEntry: (w, addr, _n, walk) => table(w, addr, 3, walk),
    pmdEntry: (w, addr, _n, walk) => table(w, addr, 2, walk),
    pteEntry: (w, va) => {
      const lo = k.ops.lo(w);
      if (isPteMarker(lo)) {
        // A guard marker: only inside a VMA, never one whose backing has its own tables.
        const v = vmaAt(mm, va);
        if (v === null || (v.flags & VM_HUGETLB) !== 0) throw new KernelBug(`validateMm: guard marker at 0x${va.toString(16)} outside every VMA that may hold one`);
        return 0;
      }
      if (lo !== 0 && !pteMapped(lo)) {
        // A swap entry: inside a VMA, for a slot that is in use and counts it.
        const off = swpOffset(lo, k.ops.hi(w));
        if (vmaAt(mm, va) === null) throw new KernelBug(`validateMm: swap PTE for 0x${va.toString(16)} outside every VMA`);
        if (k.swap === null || swpType(k.ops.hi(w)) !== k.swap.type || k.swap.map[off] < 1) throw new KernelBug(`validateMm: swap PTE at 0x${va.toString(16)} for slot ${off}, which has no reference`);
        swapents++;
        return 0;
      }
      const kind = mappedPte(k, mm, w, va);
      if (kind === PG_SHMEM) shmem++;
      else if (kind === PG_ANON) anon++;
      return 0;
    },
  }, null);
  if (tables + mm.deposited.size !== mm.ptePages) throw new KernelBug(`validateMm: ${tables} page tables and ${mm.deposited.size} deposited, ptePages says ${mm.ptePages}`);
  if (anon !== mm.rssAnon || shmem !== mm.rssShmem) throw new KernelBug(`validateMm: RSS anon ${mm.rssAnon} shmem ${mm.rssShmem}, page tables map ${anon} and ${shmem}`);
  if (swapents !== mm.swapents) throw new KernelBug(`validateMm: swapents ${mm.swapents}, page tables hold ${swapents} swap entries`);
  validateSwapCache(k);
}

/**
 * Machine-wide, checked with every mm: no page sits in the swap cache mapped nowhere, with
 * no swap entry referring to its slot and no other reference (an isolation, a pending
 * release): nothing would ever free its frame and slot (the fuzz's leak, README "Fuzzing").
 */
function validateSwapCache(k: Kmm): void {
  const swap = k.swap;
  if (swap === null) return;
  for (const [slot, pfn] of swap.cachePfn) {
    if (swap.map[slot] === 0 && k.pages.mapcount[pfn] === 0 && k.pages.refcount[pfn] === 1) {
      throw new KernelBug(`validateMm: frame ${pfn} in the swap cache (slot ${slot}) is mapped nowhere and referred to by nothing`);
    }
  }
}

/** Check a mapped PTE at va; what it maps: PG_ANON, PG_SHMEM, or 0 (none, or a special page). */
function mappedPte(k: Kmm, mm: Mm, w: number, va: number): number {
  const lo = k.ops.lo(w);
  if (!pteMapped(lo)) return 0;
  const v = vmaAt(mm, va);
  if (v === null) throw new KernelBug(`validateMm: PTE for 0x${va.toString(16)} outside every VMA`);
  const pfn = ptePfn(lo, k.ops.hi(w));
  if (k.pages.isSpecial(pfn)) {
    // A special PTE: the zero page, or this VMA's reference page; never writable.
    if (pfn !== k.pages.zeroPfn && v.ops.refpage?.(v).pfn !== pfn) throw new KernelBug(`validateMm: special frame ${pfn} at 0x${va.toString(16)} is not this VMA's reference page`);
    if ((lo & _PAGE_RW) !== 0) throw new KernelBug(`validateMm: writable PTE to special frame ${pfn} at 0x${va.toString(16)}`);
    return 0;
  }
  if (k.pages.mapcount[pfn] < 1 || k.pages.refcount[pfn] < 1) throw new KernelBug(`validateMm: mapped frame ${pfn} has mapcount ${k.pages.mapcount[pfn]}, refcount ${k.pages.refcount[pfn]}`);
  if ((k.pages.flags[pfn] & PG_SHMEM) !== 0) return PG_SHMEM;
  // rmap: the page's anon_vma reaches the VMA that maps it.
  const av = k.rmap.anonVmas.get(k.pages.rmapOwner[pfn]);
  if (av === undefined || !av.vmas.has(v)) throw new KernelBug(`validateMm: anonymous frame ${pfn} at 0x${va.toString(16)} is not reachable through its anon_vma`);
  if ((lo & _PAGE_RW) !== 0 && (k.pages.flags[pfn] & PG_ANON_EXCLUSIVE) === 0) throw new KernelBug(`validateMm: writable PTE at 0x${va.toString(16)} to anonymous frame ${pfn} that is not PageAnonExclusive`);
  return PG_ANON;
}

/**
 * Check a huge leaf at va of `level`: a transparent huge page (or the huge zero page,
 * read-only), or a hugetlb page of its VMA's size, wholly inside one VMA. The 4 KiB pages
 * it adds to anonymous RSS.
 */
function hugeLeaf(k: Kmm, mm: Mm, w: number, va: number, level: number): number {
  const lo = k.ops.lo(w);
  const v = vmaAt(mm, va);
  if (v === null || va < v.start || va + SPAN[level] > v.end) throw new KernelBug(`validateMm: huge leaf at 0x${va.toString(16)} not inside one VMA`);
  const head = pmdPfn(lo, k.ops.hi(w));
  if ((v.flags & VM_HUGETLB) !== 0 || level === 3) {
    if (v.ops.pagesize?.(v) !== SPAN[level] || k.hugetlb.pages.get(head)?.size !== SPAN[level] || k.pages.mapcount[head] < 1) throw new KernelBug(`validateMm: leaf at 0x${va.toString(16)} is not a mapped hugetlb page of its VMA's size`);
    return 0;
  }
  if (head === k.thp.hugeZeroPfn) {
    if ((lo & _PAGE_RW) !== 0) throw new KernelBug(`validateMm: writable huge zero page at 0x${va.toString(16)}`);
    return 0;
  }
  // A whole order-9 folio, or (after fork and a write on the other side) 512 single pages.
  const whole = k.pages.orderOf(head) === 9;
  for (let i = 0; i < (whole ? 1 : 512); i++) {
    if ((k.pages.flags[head + i] & PG_ANON) === 0 || k.pages.mapcount[head + i] < 1 || (!whole && k.pages.orderOf(head + i) !== 0)) throw new KernelBug(`validateMm: huge PMD at 0x${va.toString(16)} maps frame ${head}, not a mapped anonymous folio`);
  }
  if ((lo & _PAGE_RW) !== 0 && (!whole || (k.pages.flags[head] & PG_ANON_EXCLUSIVE) === 0)) throw new KernelBug(`validateMm: writable huge PMD at 0x${va.toString(16)} to a folio that is not PageAnonExclusive`);
  return 512;
}
