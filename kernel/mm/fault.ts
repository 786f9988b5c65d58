// Page faults (mm/memory.c: handle_mm_fault, do_anonymous_page, do_fault, do_wp_page):
// the zero page on a private anonymous read fault, a zeroed frame on a write fault,
// copy-on-write (from the zero page, a reference page, a page-cache page or a shared
// page), page-cache pages for file and shared anonymous mappings, SIGBUS past the end of
// a file, and SIGSEGV (MAPERR, ACCERR) for bad accesses.
//
// The backing decides through the VMA's operations: a whole fault of its own
// (handleFault: hugetlb, mshare), or the page-cache page (fault, with mapPages for
// fault-around); anonymous memory has none of these (anonVmOps) and the generic path
// allocates its pages. Results are the FAULT_* codes of mm_types.ts.

import {
  _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_RW, _PAGE_SPECIAL, FAULT_GP, mkPteHi, mkPteLo, ptePfn, pteLeaf, X86_PF_INSTR,
  X86_PF_WRITE,
} from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { anonPageRmap, anonVmaPrepare, folioMoveAnonRmap } from './anon_vma.ts';
import { HPAGE_PMD_SIZE, hugeAnonFault, hugePmdFault, thpEligible, vmaAdjustTransHuge } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import { pteWordBelow } from './memory.ts';
import type { Mm } from './mm.ts';
import {
  FAULT_DONE, FAULT_OOM, FAULT_SEGV_ACCERR, FAULT_SEGV_MAPERR, FAULT_SIGBUS, VM_ACCESS_FLAGS, VM_EXEC, VM_SHARED,
  VM_WRITE, type Vma, type VmOperations,
} from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { __GFP_ZERO, allocPages, GFP_USER, PG_ANON, PG_ANON_EXCLUSIVE, PG_DIRTY, PG_LAZYFREE, PG_SWAPCACHE } from './page_alloc.ts';
import { expandStack } from './stack.ts';
import { doSwapPage, folioFreeSwap, freeSwapCache } from './swap_state.ts';
import { isGuardPte } from './swapfile.ts';
import { lruAddVma } from './lru.ts';
import { pteMapped, softDirtyWp, softwareDirty, vmaPteFlags, pmdWord } from './pgtable.ts';

export { FAULT_DONE, FAULT_OOM, FAULT_SEGV_ACCERR, FAULT_SEGV_MAPERR, FAULT_SIGBUS } from './mm_types.ts';

/**
 * Anonymous memory (vma_is_anonymous): no page cache, the generic fault path allocates
 * its pages; a split across a transparent huge page splits the huge PMD first.
 */
export const anonVmOps: VmOperations = { name: 'anon', split: vmaAdjustTransHuge };

/**
 * Resolve a fault at va with x86 error code `code` (X86_PF_*) for mm, as taken on CPU `cpu`.
 * Returns FAULT_DONE (retry the access) or why not.
 */
export function handleMmFault(k: Kmm, mm: Mm, va: number, code: number, cpu: number): number {
  if ((code & FAULT_GP) !== 0) return FAULT_SEGV_MAPERR;
  // Below a stack: grow it (lock_mm_and_find_vma's expand_stack), else SEGV_MAPERR.
  const vma = mm.vmas.find(va) ?? expandStack(k, mm, va);
  if (vma === null) return FAULT_SEGV_MAPERR;
  if (vma.ops.handleFault !== undefined) return vma.ops.handleFault(k, mm, vma, va, code, cpu);
  const bad = accessError(vma, code);
  return bad !== 0 ? bad : handlePteFault(k, mm, vma, va, (code & X86_PF_WRITE) !== 0, cpu);
}

/** access_error: FAULT_SEGV_ACCERR if vma's rights refuse the access `code`, else 0. */
export function accessError(vma: Vma, code: number): number {
  if ((code & X86_PF_WRITE) !== 0 && (vma.flags & VM_WRITE) === 0) return FAULT_SEGV_ACCERR;
  if ((code & X86_PF_INSTR) !== 0 && (vma.flags & VM_EXEC) === 0) return FAULT_SEGV_ACCERR;
  if ((vma.flags & VM_ACCESS_FLAGS) === 0) return FAULT_SEGV_ACCERR;
  return 0;
}

/** __handle_mm_fault and handle_pte_fault for a VMA mapped with PTEs (and THP, if anonymous). */
function handlePteFault(k: Kmm, mm: Mm, vma: Vma, va: number, write: boolean, cpu: number): number {
  const page = va - (va % 4096);
  const pw = pmdWord(k, mm, va, true);
  if (pw === -2) return FAULT_OOM;
  if (vma.ops === anonVmOps) {
    // Anonymous memory: a huge PMD leaf there, or room for one.
    const haddr = va - (va % HPAGE_PMD_SIZE);
    const plo = k.ops.lo(pw);
    if (pteLeaf(plo)) {
      const r = hugePmdFault(k, mm, vma, haddr, pw, write, cpu);
      if (r !== 'split') return r === 'done' ? FAULT_DONE : FAULT_OOM;
    } else if ((plo & _PAGE_PRESENT) === 0 && thpEligible(k, vma, haddr) && hugeAnonFault(k, mm, vma, haddr, pw, write)) {
      return FAULT_DONE;
    }
  }
  const w = pteWordBelow(k, mm, pw, page, true);
  if (w === -2) return FAULT_OOM;
  const lo = k.ops.lo(w);
  if (!pteMapped(lo)) {
    // handle_pte_marker: a guard region's page is VM_FAULT_SIGSEGV (SEGV_MAPERR; GUP's
    // EFAULT), whatever the access.
    if (isGuardPte(lo)) return FAULT_SEGV_MAPERR;
    if (lo !== 0) {
      // A swap entry (the only other non-none PTE): swap in, then COW if the write is left.
      const r = doSwapPage(k, mm, vma, page, w, write);
      return r === 'wp' ? doWpPage(k, mm, vma, page, w, cpu) : r;
    }
    return vma.mapping !== null ? doFault(k, mm, vma, page, w, write) : doAnonymousPage(k, mm, vma, page, w, write);
  }
  if ((lo & _PAGE_PRESENT) === 0) return FAULT_SEGV_ACCERR; // PROT_NONE entry left in an accessible VMA: cannot happen
  if (write && (lo & _PAGE_RW) === 0) return doWpPage(k, mm, vma, page, w, cpu);
  return FAULT_DONE; // spurious: another CPU fixed it, or this CPU's TLB entry was stale
}

/**
 * do_anonymous_page: the zero page for a read (or the VMA's reference page), else a new
 * zeroed (or reference-filled) page.
 */
function doAnonymousPage(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, write: boolean): number {
  const nx = (vma.flags & VM_EXEC) === 0;
  const ref = vma.ops.refpage?.(vma) ?? null;
  if (!write && k.vm.zeroPage) {
    // The zero page, or the VMA's reference page: read-only, special, counted nowhere.
    const z = ref?.pfn ?? k.pages.zeroPfn;
    k.ops.setPte(w, mkPteLo(z, vmaPteFlags(vma, false) | _PAGE_SPECIAL), mkPteHi(z, nx));
    return FAULT_DONE;
  }
  const pfn = allocPages(k, 0, ref === null ? GFP_USER | __GFP_ZERO : GFP_USER);
  if (pfn < 0) return FAULT_OOM;
  ref?.fill(pfn);
  newAnonPage(k, mm, vma, pfn, page);
  // A read fault gets here only without the zero page: the new page is writable (and so
  // dirty) if the VMA is, as do_anonymous_page makes it.
  const writable = (vma.flags & VM_WRITE) !== 0;
  k.ops.setPte(w, mkPteLo(pfn, vmaPteFlags(vma, writable) | _PAGE_ACCESSED | (writable ? softwareDirty(k) : 0)), mkPteHi(pfn, nx));
  return FAULT_DONE;
}

/**
 * A freshly allocated frame becomes an exclusive anonymous page of `vma` at `page`
 * (folio_add_new_anon_rmap): the VMA gets its anon_vma, the frame its rmap and one mapping.
 */
function newAnonPage(k: Kmm, mm: Mm, vma: Vma, pfn: number, page: number): void {
  // The neighbours matter only to a VMA's first page: no tree search on every fault.
  if (vma.anonVma === null) anonVmaPrepare(k, vma, mm.vmas.prevOf(vma.start), mm.vmas.findNext(vma.end));
  // MAP_DROPPABLE memory is never swap-backed: reclaim drops it, written or not.
  k.pages.flags[pfn] |= PG_ANON | PG_ANON_EXCLUSIVE | (vma.droppable ? PG_LAZYFREE : 0);
  k.work.anonPages++;
  anonPageRmap(k, pfn, vma, page);
  k.pages.mapcount[pfn] = 1;
  lruAddVma(k, pfn, vma);
  mm.rssAnon++;
  mm.noteRss();
}

/**
 * do_fault for a VMA that maps a page cache (tmpfs files, shared anonymous memory,
 * devices): a read maps what fault-around finds, else the backing's page (do_read_fault);
 * a write to a private mapping copies it into an anonymous page (do_cow_fault); a write to
 * a shared one maps it writable, the driver told first if it wants to be (do_shared_fault).
 */
function doFault(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, write: boolean): number {
  const ops = vma.ops;
  const idx = vma.pgoff + (page - vma.start) / 4096;
  if (!write && ops.mapPages !== undefined) {
    ops.mapPages(k, mm, vma, page, w);
    if (pteMapped(k.ops.lo(w))) return FAULT_DONE;
  }
  if (ops.fault === undefined) throw new KernelBug(`doFault: a VMA with a page cache and no fault operation (${ops.name})`);
  // do_cow_fault's vmf_anon_prepare comes before the page is looked up: a write that then
  // fails (SIGBUS past the end of the file) leaves the VMA its anon_vma, which fork and
  // vma_merge see.
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (write && !shared) anonVmaPrepare(k, vma, mm.vmas.prevOf(vma.start), mm.vmas.findNext(vma.end));
  const src = ops.fault(k, vma, idx);
  if (src < 0) return -src;
  const nx = (vma.flags & VM_EXEC) === 0;
  if (write && shared && ops.pageMkwrite !== undefined && ops.pageMkwrite(vma, idx) < 0) return FAULT_SIGBUS;
  if (write && !shared) {
    const pfn = allocPages(k, 0, GFP_USER);
    if (pfn < 0) return FAULT_OOM;
    k.mem.copyFrame(pfn, src);
    k.work.copied++;
    newAnonPage(k, mm, vma, pfn, page);
    k.ops.setPte(w, mkPteLo(pfn, vmaPteFlags(vma, true) | _PAGE_ACCESSED | softwareDirty(k)), mkPteHi(pfn, nx));
    return FAULT_DONE;
  }
  k.pages.getPage(src);
  k.pages.mapcount[src]++;
  mm.rssShmem++;
  mm.noteRss();
  // fault_dirty_shared_page: a write through a shared mapping dirties the page itself, so
  // that other mappings of it (with clean PTEs) see it dirty too.
  if (write) k.pages.flags[src] |= PG_DIRTY;
  const notified = ops.pageMkwrite !== undefined && !write && (ops.writeNotify?.(vma, idx) ?? true);
  // A read fault under soft-dirty tracking maps read-only: the first write must fault.
  const writable = shared && (vma.flags & VM_WRITE) !== 0 && !notified && (write || !softDirtyWp(k, vma));
  const ad = write ? _PAGE_ACCESSED | softwareDirty(k) : _PAGE_ACCESSED;
  k.ops.setPte(w, mkPteLo(src, vmaPteFlags(vma, writable) | ad), mkPteHi(src, nx));
  return FAULT_DONE;
}

/**
 * A write to a present read-only PTE of a writable VMA (do_wp_page): a shared mapping's
 * page is made writable (the driver told first, if it asks); an anonymous page is reused
 * when it is exclusive, or when nothing else holds it (wp_can_reuse_anon_folio: refcount 1,
 * after a fork whose other side copied or unmapped it; a swap-cache page whose slot nothing
 * refers to leaves the cache first), and moved to this VMA's anon_vma;
 * anything else is copied (wp_page_copy: the zero page gives a zeroed page, a reference page
 * its content).
 */
function doWpPage(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, cpu: number): number {
  const lo = k.ops.lo(w);
  const hi = k.ops.hi(w);
  const old = ptePfn(lo, hi);
  const pages = k.pages;
  const special = pages.isSpecial(old);
  const flags = vmaPteFlags(vma, true) | _PAGE_ACCESSED | softwareDirty(k);
  if (!special && (vma.flags & VM_SHARED) !== 0) {
    // wp_page_shared: a write-notified mapping goes through the driver first.
    const mkwrite = vma.ops.pageMkwrite;
    if (mkwrite !== undefined && mkwrite(vma, vma.pgoff + (page - vma.start) / 4096) < 0) return FAULT_SIGBUS;
    pages.flags[old] |= PG_DIRTY; // fault_dirty_shared_page
    return wpPageReuse(k, mm, w, old, flags, hi);
  }
  const anonOld = (pages.flags[old] & PG_ANON) !== 0;
  if (anonOld && !special) {
    if ((pages.flags[old] & PG_ANON_EXCLUSIVE) !== 0) return wpPageReuse(k, mm, w, old, flags, hi);
    // A page held by this mapping and the swap cache alone leaves the cache when no swap
    // entry refers to its slot any more (folio_free_swap), and is then this mapping's only.
    if ((pages.flags[old] & PG_SWAPCACHE) !== 0 && pages.refcount[old] === 2 && pages.orderOf(old) === 0) folioFreeSwap(k, old);
    if (pages.refcount[old] === 1 && pages.orderOf(old) === 0) {
      folioMoveAnonRmap(k, old, vma);
      pages.flags[old] |= PG_ANON_EXCLUSIVE;
      return wpPageReuse(k, mm, w, old, flags, hi);
    }
  }
  return wpPageCopy(k, mm, vma, page, w, cpu);
}

/**
 * wp_page_reuse: the PTE becomes writable (and dirty) on the same page; no flush is needed
 * to grant a right (a stale read-only entry just faults once more).
 */
function wpPageReuse(k: Kmm, mm: Mm, w: number, pfn: number, flags: number, hi: number): number {
  k.ops.ptepModify(w, mkPteLo(pfn, flags), hi, true);
  k.events.pgreuse++;
  mm.pgreuse++;
  return FAULT_DONE;
}

/** wp_page_copy: a new exclusive page with the old one's content replaces it, and the old one is dropped after the flush. */
function wpPageCopy(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, cpu: number): number {
  const old = ptePfn(k.ops.lo(w), k.ops.hi(w));
  const special = k.pages.isSpecial(old);
  const pfn = allocPages(k, 0, old === k.pages.zeroPfn ? GFP_USER | __GFP_ZERO : GFP_USER);
  if (pfn < 0) return FAULT_OOM;
  if (!special) {
    k.mem.copyFrame(pfn, old);
    k.work.copied++;
  }
  else if (old !== k.pages.zeroPfn) vma.ops.refpage!(vma).fill(pfn);
  newAnonPage(k, mm, vma, pfn, page);
  const nx = (vma.flags & VM_EXEC) === 0;
  k.ops.ptepModify(w, mkPteLo(pfn, vmaPteFlags(vma, true) | _PAGE_ACCESSED | softwareDirty(k)), mkPteHi(pfn, nx), false);
  k.events.cowFaults++;
  mm.cowFaults++;
  // Other CPUs may hold the old read-only translation: flush it (ptep_clear_flush), then
  // drop the old page.
  const g = new Gather();
  g.cover(page, page + 4096);
  if (!special) {
    k.pages.mapcount[old]--;
    if ((k.pages.flags[old] & PG_ANON) !== 0) mm.rssAnon--;
    else mm.rssShmem--;
    // The old page, if this was its last mapping, leaves the swap cache (a reclaim that had
    // it isolated, or a pin, kept it from being reused in place).
    freeSwapCache(k, old);
    g.pages.push(old);
  }
  finishGather(k, mm, g, cpu);
  return FAULT_DONE;
}
