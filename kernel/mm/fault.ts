// Page faults (compare mm/memory.c: handle_mm_fault, do_anonymous_page, do_wp_page,
// do_shared_fault, do_cow_fault): the zero page on a private anonymous read fault, a zeroed
// frame on a write fault, copy-on-write (from the zero page, a page cache page or a shared
// anonymous page), page cache pages for file and shared anonymous mappings, SIGBUS past
// the end of a file, and SIGSEGV (MAPERR, ACCERR) for bad accesses.

import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_SPECIAL, _PAGE_USER, FAULT_GP,
  mkPteHi, mkPteLo, ptePfn, pteLeaf, X86_PF_INSTR, X86_PF_USER, X86_PF_WRITE,
} from '../../machine/index.ts';
import { mshareFault } from './mshare.ts';
import { type Mm } from './mm.ts';
import { HPAGE_PMD_SIZE, hugeAnonFault, hugePmdFault, thpEligible } from './huge_memory.ts';
import { hugetlbFault } from './hugetlb.ts';
import { PG_ANON, PG_DIRTY, allocPages, GFP_USER, __GFP_ZERO } from './page_alloc.ts';
import { VM_ACCESS_FLAGS, VM_EXEC, VM_LOCKONFAULT, VM_SHARED, VM_WRITE, type Vma } from './mm_types.ts';
import { cachePage } from './filemap.ts';
import { leafWord, pmdWord, pteWordBelow } from './memory.ts';
import { type Kmm } from './kmm.ts';
import { Gather, finishGather } from './mmu_gather.ts';
import { anonPageRmap, anonVmaPrepare } from './anon_vma.ts';
import { softwareDirty, pteMapped, _PAGE_PROTNONE } from './pgtable.ts';

/** handleMmFault results. */
export const FAULT_DONE = 0;
export const FAULT_SEGV_MAPERR = 1;
export const FAULT_SEGV_ACCERR = 2;
/** No frame for the page or a page table: the process is killed (there is no OOM reclaim). */
export const FAULT_OOM = 3;
/** Past the end of the object behind a shared mapping (SIGBUS, BUS_ADRERR). */
export const FAULT_SIGBUS = 4;

/** PTE low-word flags for a page of `vma` (vm_get_page_prot), writable or not. */
export function vmaPteFlags(vma: Vma, writable: boolean): number {
  if ((vma.flags & VM_ACCESS_FLAGS) === 0) return _PAGE_PROTNONE | _PAGE_USER;
  return _PAGE_PRESENT | _PAGE_USER | (writable ? _PAGE_RW : 0);
}

/**
 * Resolve a fault at va with x86 error code `code` (X86_PF_*) for mm, as taken on CPU `cpu`.
 * Returns FAULT_DONE (retry the access) or why not.
 */
export function handleMmFault(k: Kmm, mm: Mm, va: number, code: number, cpu: number): number {
  if ((code & FAULT_GP) !== 0) return FAULT_SEGV_MAPERR;
  const vma = mm.vmas.find(va);
  if (vma === null) return FAULT_SEGV_MAPERR;
  if (vma.mshare !== null) return mshareFault(k, mm, vma, va, code, cpu);
  const write = (code & X86_PF_WRITE) !== 0;
  if (write && (vma.flags & VM_WRITE) === 0) return FAULT_SEGV_ACCERR;
  if ((code & X86_PF_INSTR) !== 0 && (vma.flags & VM_EXEC) === 0) return FAULT_SEGV_ACCERR;
  if ((vma.flags & VM_ACCESS_FLAGS) === 0) return FAULT_SEGV_ACCERR;
  const page = va - (va % 4096);
  if (vma.hugetlb !== null) return hugetlbFault(k, mm, vma, va, write); // HUGETLB_* equal FAULT_*
  const pw = pmdWord(k, mm, va, true);
  if (pw === -2) return FAULT_OOM;
  if (vma.shmem === null && vma.refpage === null) {
    // Anonymous memory: a huge PMD leaf there, or room for one.
    const haddr = va - (va % HPAGE_PMD_SIZE);
    const plo = k.ops.lo(pw);
    if (pteLeaf(plo)) {
      const r = hugePmdFault(k, mm, haddr, pw, write, cpu);
      if (r !== 'split') return r === 'done' ? FAULT_DONE : FAULT_OOM;
    } else if ((plo & _PAGE_PRESENT) === 0 && thpEligible(k, vma, haddr) && hugeAnonFault(k, mm, vma, haddr, pw, write)) {
      return FAULT_DONE;
    }
  }
  const w = pteWordBelow(k, mm, pw, page, true);
  if (w === -2) return FAULT_OOM;
  const lo = k.ops.lo(w);
  if (!pteMapped(lo)) return vma.shmem !== null ? fileFault(k, mm, vma, page, w, write) : anonFault(k, mm, vma, page, w, write);
  if ((lo & _PAGE_PRESENT) === 0) return FAULT_SEGV_ACCERR; // PROT_NONE entry left in an accessible VMA: cannot happen
  if (write && (lo & _PAGE_RW) === 0) return writeProtectFault(k, mm, vma, page, w, cpu);
  return FAULT_DONE; // spurious: another CPU fixed it, or this CPU's TLB entry was stale
}

function anonFault(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, write: boolean): number {
  const nx = (vma.flags & VM_EXEC) === 0;
  const ref = vma.refpage;
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
  anonVmaPrepare(k, vma, mm.vmas.prevOf(vma.start), mm.vmas.findNext(vma.end));
  k.pages.flags[pfn] |= PG_ANON;
  anonPageRmap(k, pfn, vma, page);
  k.pages.mapcount[pfn] = 1;
  mm.rssAnon++;
  mm.noteRss();
}

/**
 * A fault on a VMA that maps a page cache (tmpfs files, shared anonymous memory): past the
 * end of the file SIGBUS; a shared mapping maps the cache page (do_shared_fault, do_read_fault);
 * a write to a private one copies it into an anonymous page (do_cow_fault). Holes in the
 * file are filled with zeroed pages first, as shmem does.
 */
function fileFault(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, write: boolean): number {
  const obj = vma.shmem!;
  const idx = vma.pgoff + (page - vma.start) / 4096;
  if (idx >= obj.nrPages) return FAULT_SIGBUS;
  const vmOps = obj.vmOps;
  if (vmOps?.valid !== undefined && !vmOps.valid(idx)) return FAULT_SIGBUS;
  if (!write && vmOps === null) {
    faultAround(k, mm, vma, page, w);
    if (pteMapped(k.ops.lo(w))) return FAULT_DONE;
  }
  const src = cachePage(k, obj, idx);
  if (src < 0) return FAULT_OOM;
  const nx = (vma.flags & VM_EXEC) === 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  // do_shared_fault: the driver hears of the write before the page becomes writable.
  if (write && shared && vmOps !== null && vmOps.pageMkwrite(vma, idx) < 0) return FAULT_SIGBUS;
  if (write && !shared) {
    const pfn = allocPages(k, 0, GFP_USER);
    if (pfn < 0) return FAULT_OOM;
    k.mem.copyFrame(pfn, src);
    newAnonPage(k, mm, vma, pfn, page);
    k.ops.setPte(w, mkPteLo(pfn, vmaPteFlags(vma, true) | _PAGE_ACCESSED | softwareDirty(k)), mkPteHi(pfn, nx));
    return FAULT_DONE;
  }
  k.pages.getPage(src);
  k.pages.mapcount[src]++;
  mm.rssShmem++;
  mm.noteRss();
  const notified = vmOps !== null && !write && (vmOps.writeNotify?.(vma, idx) ?? true);
  const writable = shared && (vma.flags & VM_WRITE) !== 0 && !notified;
  const ad = write ? _PAGE_ACCESSED | softwareDirty(k) : _PAGE_ACCESSED;
  k.ops.setPte(w, mkPteLo(src, vmaPteFlags(vma, writable) | ad), mkPteHi(src, nx));
  return FAULT_DONE;
}

/** fault_around_bytes: 64 KiB. */
const FAULT_AROUND_PAGES = 16;

/**
 * do_fault_around: a read fault on a file mapping first maps the pages of the aligned
 * 16-page window around it (within the VMA and the page table) that are already in the page
 * cache, as filemap_map_pages does; no page is allocated for it.
 */
function faultAround(k: Kmm, mm: Mm, vma: Vma, page: number, w: number): void {
  const obj = vma.shmem!;
  const pteOff = (page / 4096) % 512;
  const vmaOff = (page - vma.start) / 4096;
  const from = Math.max(pteOff - (pteOff % FAULT_AROUND_PAGES), pteOff - Math.min(pteOff, vmaOff));
  const to = Math.min(from + FAULT_AROUND_PAGES, 512, pteOff + (vma.end - vma.start) / 4096 - vmaOff);
  const writable = (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE);
  const nx = (vma.flags & VM_EXEC) === 0;
  for (let i = from; i < to; i++) {
    const idx = vma.pgoff + vmaOff + (i - pteOff);
    if (idx >= obj.nrPages) break;
    const pfn = obj.pages.get(idx);
    const slot = w + (i - pteOff) * 2;
    if (pfn === undefined || pteMapped(k.ops.lo(slot))) continue;
    k.pages.getPage(pfn);
    k.pages.mapcount[pfn]++;
    mm.rssShmem++;
    k.ops.setPte(slot, mkPteLo(pfn, vmaPteFlags(vma, writable) | _PAGE_ACCESSED), mkPteHi(pfn, nx));
  }
  mm.noteRss();
}

/** A write to a present read-only PTE of a writable VMA (do_wp_page). */
function writeProtectFault(k: Kmm, mm: Mm, vma: Vma, page: number, w: number, cpu: number): number {
  const lo = k.ops.lo(w);
  const hi = k.ops.hi(w);
  const old = ptePfn(lo, hi);
  const nx = (vma.flags & VM_EXEC) === 0;
  const flags = vmaPteFlags(vma, true) | _PAGE_ACCESSED | softwareDirty(k);
  const anonOld = (k.pages.flags[old] & PG_ANON) !== 0;
  const special = k.pages.isSpecial(old);
  if (!special && ((vma.flags & VM_SHARED) !== 0 || (anonOld && k.pages.mapcount[old] === 1))) {
    // Exclusive anonymous page, or a shared page: reuse it (wp_page_reuse); no flush is
    // needed to grant a right (a stale read-only entry just faults once more). A shared
    // page of a write-notified mapping goes through the driver first (wp_page_shared),
    // then gets write access with D set by software.
    const vmOps = vma.shmem?.vmOps ?? null;
    if ((vma.flags & VM_SHARED) !== 0 && vmOps !== null && vmOps.pageMkwrite(vma, vma.pgoff + (page - vma.start) / 4096) < 0) return FAULT_SIGBUS;
    k.ops.ptepModify(w, mkPteLo(old, flags), hi, true);
    return FAULT_DONE;
  }
  // Copy-on-write (from the zero page: a zeroed frame; from a reference page: filled).
  const pfn = allocPages(k, 0, old === k.pages.zeroPfn ? GFP_USER | __GFP_ZERO : GFP_USER);
  if (pfn < 0) return FAULT_OOM;
  if (!special) k.mem.copyFrame(pfn, old);
  else if (old !== k.pages.zeroPfn) vma.refpage!.fill(pfn);
  newAnonPage(k, mm, vma, pfn, page);
  k.ops.ptepModify(w, mkPteLo(pfn, flags), mkPteHi(pfn, nx), false);
  // Other CPUs may hold the old read-only translation: flush it (ptep_clear_flush), then
  // drop the old page.
  const g = new Gather();
  g.cover(page, page + 4096);
  if (!special) {
    k.pages.mapcount[old]--;
    if (anonOld) mm.rssAnon--;
    else mm.rssShmem--;
    g.pages.push(old);
  }
  finishGather(k, mm, g, cpu);
  return FAULT_DONE;
}

/**
 * Fault in [start, end) as reads or writes (MAP_POPULATE, mlock): stops at the first page
 * that cannot be populated and returns its result.
 */
export function populate(k: Kmm, mm: Mm, start: number, end: number, write: boolean, cpu: number): number {
  for (let va = start; va < end; va += 4096) {
    const leaf = leafWord(k, mm, va);
    if (leaf !== null) {
      const lo = k.ops.lo(leaf.w);
      if ((lo & _PAGE_PRESENT) !== 0 && (!write || (lo & _PAGE_RW) !== 0)) {
        // GUP with FOLL_WRITE | FOLL_TOUCH marks a clean page dirty (folio_mark_dirty).
        const pfn = leaf.pfn;
        if (write && !leaf.huge && (lo & _PAGE_DIRTY) === 0 && !k.pages.isSpecial(pfn)) k.pages.flags[pfn] |= PG_DIRTY;
        continue;
      }
    }
    const r = handleMmFault(k, mm, va, (write ? X86_PF_WRITE : 0) | X86_PF_USER, cpu);
    if (r !== FAULT_DONE) return r;
  }
  return FAULT_DONE;
}

/**
 * __mm_populate: fault in the pages of every VMA in [start, end) that is not
 * lock-on-fault, with a write fault for private writable memory (so COW is broken now, as
 * GUP with FOLL_WRITE does). A VMA without access rights fails (GUP gives EFAULT there).
 * Returns the first failure; callers that ignore population errors ignore it.
 */
export function mmPopulate(k: Kmm, mm: Mm, start: number, end: number, cpu: number, ignoreErrors = false): number {
  for (const v of mm.vmas.intersecting(start, end)) {
    if ((v.flags & VM_LOCKONFAULT) !== 0) continue;
    const write = (v.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    const r = (v.flags & VM_ACCESS_FLAGS) === 0 ? FAULT_SEGV_ACCERR : populate(k, mm, Math.max(start, v.start), Math.min(end, v.end), write, cpu);
    if (r !== FAULT_DONE && !ignoreErrors) return r;
  }
  return FAULT_DONE;
}
