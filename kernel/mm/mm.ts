// Address spaces: the Mm of a process (PML4, VMA tree, counters) and the page-table code
// that builds, tears down and frees its tables.
//
// Page tables live in physical memory in the hardware format, so CPUs walk them while the
// kernel edits them: present entries change only through PageTableOps (atomic exchange and
// compare-and-swap, like ptep_get_and_clear), and a table page or a frame that a CPU may
// still reach through its TLB or paging-structure caches is freed only after a shootdown
// (Gather, the mmu_gather equivalent).

import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_SOFT_DIRTY, _PAGE_GLOBAL, _PAGE_NX_HI, _PAGE_PRESENT, _PAGE_SPECIAL, _PAGE_TABLE, type ControlBlock, entryWord,
  mkPteHi, mkPteLo, PageTableOps, type PhysMem, pgprotLargeTo4k, pmdPfn, ptePfn, pteLeaf, pudPfn,
} from '../../machine/index.ts';
import { PageAllocator, PG_ANON, PG_DIRTY, PG_PGTABLE, PG_SHMEM } from './page_alloc.ts';
import { TlbFlusher } from './tlbflush.ts';
import { putHugeZeroPage, zapHugePmd } from './huge_memory.ts';
import { type HState, hstates, unsharePmds, zapHugetlbLeaf } from './hugetlb.ts';
import { rmapCachePage } from './rmap.ts';
import { DEFAULT_MAX_MAP_COUNT, ENOMEM, RLIM_NLIMITS, RLIMIT_AS, RLIMIT_CORE, RLIMIT_DATA, RLIMIT_MEMLOCK, RLIMIT_NOFILE, RLIMIT_STACK } from '../uapi.ts';
import { type AddressSpace, VM_GROWSDOWN, VM_LOCKED, VM_SHARED, VM_WRITE } from './mm_types.ts';
import { VmaTree } from './vmatree.ts';
import { KernelBug } from '../bug.ts';

/** Linux's _PAGE_PROTNONE: a PROT_NONE mapping keeps its frame with P clear and bit 8 set. */
export const _PAGE_PROTNONE = _PAGE_GLOBAL;

export const USER_TOP = 2 ** 47;
/** Where the heap starts (where a PIE's brk area typically lies on x86-64). */
export const HEAP_BASE = 0x5555_5560_0000;
/** Bytes one entry covers at each paging level (index = level). */
export const SPAN = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];

/** The kernel's memory context: physical memory, frames, page-table operations, shootdowns. */
export class Kmm {
  readonly mem: PhysMem;
  readonly cb: ControlBlock;
  readonly pages: PageAllocator;
  readonly ops: PageTableOps;
  readonly flusher: TlbFlusher;
  /**
   * Map the shared zero page on read faults of private anonymous memory (Linux does, unless
   * mm_forbids_zeropage); false allocates a page as a write fault would.
   */
  zeroPage = true;
  /**
   * Soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY): new VMAs are VM_SOFTDIRTY, the fault path
   * sets the PTE's soft-dirty bit with D, clear_refs 4 clears both and write-protects.
   * Off: as a kernel built without it (the CI host is one).
   */
  softDirty = true;
  /**
   * mshare flush policy: 'all' flushes every CPU on any change of a host mm (the series'
   * flush_tlb_all); 'attached' only the CPUs running processes that map the region.
   */
  mshareFlush: 'all' | 'attached' = 'all';
  /** Flushes of mshare host mms, and CPUs they were sent to (/proc/vmstat). */
  mshareFlushes = 0;
  mshareFlushCpus = 0;
  /** mshare: page-directory-pointer tables linked into processes, with how many links. */
  readonly sharedTables = new Map<number, number>();
  /** Huge entries found writable or dirty by the dirty helpers (their WARN_ON). */
  hugeDirtyWarnings = 0;
  /**
   * Transparent huge pages for anonymous memory (/sys/kernel/mm/transparent_hugepage/enabled):
   * 'always', 'madvise' (only VM_HUGEPAGE VMAs) or 'never'. 'madvise' by default, as on the
   * project's host kernel and many distributions (upstream's Kconfig default is 'always').
   */
  thp: 'always' | 'madvise' | 'never' = 'madvise';
  /** transparent_hugepage/use_zero_page: a read fault maps the huge zero page. */
  thpUseZeroPage = true;
  /** The huge zero page's first frame (allocated at its first use), or -1; and its PMD mappings. */
  hugeZeroPfn = -1;
  hugeZeroMaps = 0;
  /** /proc/vmstat's THP events. */
  thpFaultAlloc = 0;
  thpFaultFallback = 0;
  thpSplitPmd = 0;
  thpZeroPageAlloc = 0;
  /** hugetlb page pools: 2 MiB (the default size), then 1 GiB. */
  readonly hstates: HState[] = hstates();
  /** hugetlb pages in use (first frame), with their pool; those a MAP_SHARED mapping keeps. */
  readonly hugetlbPages = new Map<number, HState>();
  readonly hugetlbShared = new Set<number>();
  /** hugetlb PMD sharing: page directories linked by more than one mm, with how many extra links. */
  readonly pmdShares = new Map<number, number>();
  /** vm.max_map_count (sysctl): most VMAs a process may have. */
  maxMapCount = DEFAULT_MAX_MAP_COUNT;
  /** Frames and tables freed by shootdowns that a CPU has not acknowledged yet. */
  deferred: { waits: [number, number][]; g: Gather }[] = [];

  constructor(mem: PhysMem, cb: ControlBlock) {
    this.mem = mem;
    this.cb = cb;
    this.pages = new PageAllocator(mem);
    this.ops = new PageTableOps(mem, cb);
    this.flusher = new TlbFlusher(cb);
  }
}

export class Mm {
  readonly k: Kmm;
  readonly pml4: number;
  readonly vmas = new VmaTree();
  /**
   * Page tables set aside with each transparent huge PMD (pgtable_trans_huge_deposit), by the
   * PMD entry's word: a split never needs a frame it may not get. Counted in ptePages.
   */
  readonly deposited = new Map<number, number>();
  /** CPUs whose TLB may hold this mm's translations (the CPUs of its threads). */
  readonly cpus = new Set<number>();
  /** Resident anonymous and shmem pages (RSS by kind), and page-table pages (VmPTE). */
  rssAnon = 0;
  rssShmem = 0;
  ptePages = 0;
  /** Sum of VMA sizes in pages (VmSize), and its highest value before an unmap (VmPeak). */
  totalVm = 0;
  hiwaterVm = 0;
  /** Pages of private writable non-stack mappings (VmData; what RLIMIT_DATA limits). */
  dataVm = 0;
  /** Resource limits [soft, hard] by RLIMIT_*, in bytes or counts; Infinity = unlimited. */
  readonly rlimits: [number, number][] = defaultRlimits();
  /** Highest RSS seen (VmHWM), in pages. */
  hiwaterRss = 0;
  mmapBase = USER_TOP - 2 ** 30;
  /**
   * CAP_IPC_LOCK of the tasks using this mm (credentials belong to tasks in Linux; every
   * thread here shares its process's). Without it RLIMIT_MEMLOCK limits locked memory.
   */
  capIpcLock = true;
  /** Flush whole TLBs on any change (an mshare host mm: see finishGather). */
  flushAll = false;
  /** The CPUs a flush of this mm must reach, when not its own (an mshare host mm). */
  flushCpus: (() => Iterable<number>) | null = null;
  /** TLB flushes in progress on this mm (inc/dec_tlb_flush_pending); > 1 means nested. */
  tlbFlushPending = 0;
  /** VMA flags every new mapping gets (mlockall MCL_FUTURE sets VM_LOCKED here). */
  defFlags = 0;
  /** Start of the heap (start_brk) and the current break (brk). */
  startBrk = HEAP_BASE;
  brk = HEAP_BASE;

  /** An address space whose PML4 is the (zeroed, PG_PGTABLE) frame `pml4`: see mmAlloc. */
  constructor(k: Kmm, pml4: number) {
    this.k = k;
    this.pml4 = pml4;
  }

  rss(): number {
    return this.rssAnon + this.rssShmem;
  }

  noteRss(): void {
    const r = this.rss();
    if (r > this.hiwaterRss) this.hiwaterRss = r;
  }
}

/** mm_alloc: a new, empty address space (its PML4 allocated), or -ENOMEM. */
export function mmAlloc(k: Kmm): Mm | number {
  const pfn = k.pages.allocZeroed(0);
  if (pfn < 0) return -ENOMEM;
  k.pages.flags[pfn] |= PG_PGTABLE;
  return new Mm(k, pfn);
}

/** locked_vm: pages of VM_LOCKED mappings (computed, as count_mm_mlocked_page_nr walks them). */
export function lockedVm(mm: Mm, start = 0, end = USER_TOP): number {
  let n = 0;
  for (const v of mm.vmas.intersecting(start, end)) {
    if ((v.flags & VM_LOCKED) !== 0) n += (Math.min(end, v.end) - Math.max(start, v.start)) / 4096;
  }
  return n;
}

/** can_do_mlock: CAP_IPC_LOCK, or a non-zero RLIMIT_MEMLOCK. */
export function canDoMlock(mm: Mm): boolean {
  return mm.capIpcLock || mm.rlimits[RLIMIT_MEMLOCK][0] !== 0;
}

/** mlock_future_ok: room for `bytes` more locked memory if `flags` has VM_LOCKED. */
export function mlockFutureOk(mm: Mm, flags: number, bytes: number): boolean {
  if ((flags & VM_LOCKED) === 0 || mm.capIpcLock) return true;
  return lockedVm(mm) + bytes / 4096 <= Math.floor(mm.rlimits[RLIMIT_MEMLOCK][0] / 4096);
}

/** Linux's defaults for a process started by root. */
function defaultRlimits(): [number, number][] {
  const r: [number, number][] = Array.from({ length: RLIM_NLIMITS }, () => [Infinity, Infinity]);
  r[RLIMIT_STACK] = [8 << 20, Infinity];
  r[RLIMIT_CORE] = [0, Infinity];
  r[RLIMIT_NOFILE] = [1024, 4096];
  r[RLIMIT_MEMLOCK] = [8 << 20, 8 << 20];
  return r;
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
    pt = k.pages.allocZeroed(0);
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
  if (first === k.hugeZeroPfn) {
    // The huge zero page becomes 512 entries for the 4 KiB zero page (__split_huge_zero_page_pmd).
    const z = pages.zeroPfn;
    for (let i = 0; i < 512; i++) k.ops.setPte(entryWord(pt, i), mkPteLo(z, flags | _PAGE_SPECIAL), mkPteHi(z, nx));
    putHugeZeroPage(k, g);
  } else {
    for (let i = 0; i < 512; i++) k.ops.setPte(entryWord(pt, i), mkPteLo(first + i, flags), mkPteHi(first + i, nx));
    // A transparent huge page is split with its mapping: 512 pages, each mapped once.
    if ((pages.flags[first] & PG_ANON) !== 0 && pages.order[first] === 9) pages.splitBlock(first);
  }
  k.thpSplitPmd++;
  k.ops.setPte(w, mkPteLo(pt, _PAGE_TABLE), mkPteHi(pt, false));
  g.cover(addr, addr + 2 ** 21);
  finishGather(k, mm, g, cpu);
  return true;
}

/** pte_mkdirty's bits: D, and the soft-dirty bit when the kernel tracks it. */
export function softwareDirty(k: Kmm): number {
  return k.softDirty ? _PAGE_DIRTY | _PAGE_SOFT_DIRTY : _PAGE_DIRTY;
}

/** The frame of page idx of a page cache, allocated (zeroed) if it is a hole; -1 if none is free. */
export function cachePage(k: Kmm, m: AddressSpace, idx: number): number {
  let pfn = m.pages.get(idx);
  if (pfn === undefined) {
    pfn = k.pages.allocZeroed(0);
    if (pfn < 0) return -1;
    k.pages.flags[pfn] |= PG_SHMEM;
    m.pages.set(idx, pfn);
    rmapCachePage(k, pfn, m, idx);
  }
  return pfn;
}

/** is_data_mapping: private, writable, not a stack. */
export function isDataMapping(flags: number): boolean {
  return (flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) === VM_WRITE;
}

/** vm_stat_account: count npages (negative to remove) of a mapping with `flags`. */
export function vmStatAccount(mm: Mm, flags: number, npages: number): void {
  if (npages < 0 && mm.totalVm > mm.hiwaterVm) mm.hiwaterVm = mm.totalVm; // update_hiwater_vm
  mm.totalVm += npages;
  if (isDataMapping(flags)) mm.dataVm += npages;
}

/** may_expand_vm: room for npages more of a mapping with `flags` under RLIMIT_AS and RLIMIT_DATA. */
export function mayExpandVm(mm: Mm, flags: number, npages: number): boolean {
  if (mm.totalVm + npages > mm.rlimits[RLIMIT_AS][0] / 4096) return false;
  if (isDataMapping(flags) && mm.dataVm + npages > mm.rlimits[RLIMIT_DATA][0] / 4096) return false;
  return true;
}

/** Frames and tables to release after the shootdown of [start, end). */
export class Gather {
  start = Infinity;
  end = -Infinity;
  pages: number[] = [];
  tables: number[] = [];
  /** Releases other than page references (a hugetlb page back to its pool). */
  after: (() => void)[] = [];

  /** A gather holding what this one held (its range too); this one is left empty. */
  takeAll(): Gather {
    const held = new Gather();
    [held.pages, this.pages] = [this.pages, held.pages];
    [held.tables, this.tables] = [this.tables, held.tables];
    [held.after, this.after] = [this.after, held.after];
    held.cover(this.start, this.end);
    return held;
  }

  cover(start: number, end: number): void {
    if (start < this.start) this.start = start;
    if (end > this.end) this.end = end;
  }
}

/** The entries [first, last] of a table at `base` with entries of `span` bytes that overlap [start, end). */
function slots(base: number, span: number, start: number, end: number): [number, number] {
  return [Math.max(0, Math.floor((start - base) / span)), Math.min(511, Math.ceil((end - base) / span) - 1)];
}

function index(va: number, level: number): number {
  return Math.floor(va / SPAN[level]) % 512;
}

/**
 * The word index of va's PTE, allocating missing tables if `alloc`; -1 if absent (or, with
 * alloc, -2 if no frame was free for a table).
 */
export function pteWord(k: Kmm, mm: Mm, va: number, alloc: boolean): number {
  const pw = pmdWord(k, mm, va, alloc);
  return pw < 0 ? pw : pteWordBelow(k, mm, pw, va, alloc);
}

/** pteWord for a caller that already has va's PMD entry word `pw` (the fault path). */
export function pteWordBelow(k: Kmm, mm: Mm, pw: number, va: number, alloc: boolean): number {
  // A huge leaf where a page table is wanted: split it (split_huge_pmd). Callers that only
  // read a translation use leafWord and leave it whole.
  if (pteLeaf(k.ops.lo(pw)) && !splitHugePmd(k, mm, pw, va - (va % SPAN[2]), -1)) return -2;
  const table = tableBelow(k, mm, pw, alloc);
  return table < 0 ? table : entryWord(table, index(va, 1));
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
function tableBelow(k: Kmm, mm: Mm, w: number, alloc: boolean): number {
  const lo = k.ops.lo(w);
  if ((lo & _PAGE_PRESENT) !== 0) return ptePfn(lo, k.ops.hi(w));
  if (!alloc) return -1;
  const pfn = k.pages.allocZeroed(0);
  if (pfn < 0) return -2;
  k.pages.flags[pfn] |= PG_PGTABLE;
  mm.ptePages++;
  k.ops.setPte(w, mkPteLo(pfn, _PAGE_TABLE), mkPteHi(pfn, false));
  return pfn;
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

/** True if a PTE maps a frame (present, or a PROT_NONE mapping). */
export function pteMapped(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
}

/**
 * Visit every mapped PTE in [start, end): fn(word, va). Skips absent tables, so the cost is
 * proportional to the tables that exist. A huge PMD leaf goes to `huge(word, va)` (va its
 * first address, which may lie before start): true if it handled the leaf, false to have it
 * split and its 512 PTEs visited. Without `huge`, leaves are split.
 */
export function forEachPte(k: Kmm, mm: Mm, start: number, end: number, fn: (w: number, va: number) => void, huge?: (w: number, va: number, level: number) => boolean): void {
  const rec = (table: number, level: number, base: number): void => {
    const span = SPAN[level];
    const [first, last] = slots(base, span, start, end);
    for (let i = first; i <= last; i++) {
      const w = entryWord(table, i);
      let lo = k.ops.lo(w);
      const va = base + i * span;
      if (level === 3 && pteLeaf(lo)) {
        // A 1 GiB hugetlb page: never split (hugetlb VMAs change only in whole pages).
        if (huge?.(w, va, 3) !== true) throw new KernelBug(`forEachPte: 1 GiB leaf at 0x${va.toString(16)} not handled`);
        continue;
      }
      if (level === 2 && pteLeaf(lo)) {
        if (huge?.(w, va, 2) === true) continue;
        if (!splitHugePmd(k, mm, w, va, -1)) throw new KernelBug('forEachPte: no frame to split a huge PMD');
        lo = k.ops.lo(w);
      }
      if (level === 1) {
        if (pteMapped(lo)) fn(w, va);
      } else if ((lo & _PAGE_PRESENT) !== 0) {
        rec(ptePfn(lo, k.ops.hi(w)), level - 1, va);
      }
    }
  };
  if (end > start) rec(mm.pml4, 4, 0);
}

/**
 * Clear every PTE in [start, end) (zap_page_range): drop RSS and mapcount, queue frames
 * for release after the flush. The zero page and other reserved frames are not queued.
 */
export function zapRange(k: Kmm, mm: Mm, start: number, end: number, g: Gather): void {
  unsharePmds(k, mm, start, end, g); // a shared hugetlb page directory: unlink it, zap nothing
  forEachPte(k, mm, start, end, (w, va) => zapPte(k, mm, w, va, g), (w, va, level) => zapHugetlbLeaf(k, w, va, level, g) || zapHugePmd(k, mm, w, va, start, end, g));
}

/** Clear one mapped PTE at va: RSS, mapcount, and the frame queued for after the flush. */
export function zapPte(k: Kmm, mm: Mm, w: number, va: number, g: Gather): void {
  const pages = k.pages;
  const lo = k.ops.ptepGetAndClear(w);
  const pfn = ptePfn(lo, k.ops.hi(w));
  g.cover(va, va + 4096);
  if (pages.isSpecial(pfn)) return;
  pages.mapcount[pfn]--;
  if ((pages.flags[pfn] & PG_SHMEM) !== 0) {
    mm.rssShmem--;
    // The page outlives the mapping: keep what the D bit said (zap_present_ptes).
    if ((lo & _PAGE_DIRTY) !== 0) pages.flags[pfn] |= PG_DIRTY;
  } else mm.rssAnon--;
  g.pages.push(pfn);
}

/**
 * Free the page-table pages that serve only [floor, ceiling) and overlap [start, end)
 * (free_pgtables): a table is freed when its whole span lies inside [floor, ceiling), so
 * no VMA can need it. Their parent entries are cleared now; the frames go after the flush.
 */
export function freePgtables(k: Kmm, mm: Mm, start: number, end: number, floor: number, ceiling: number, g: Gather): void {
  const rec = (table: number, level: number, base: number): void => {
    const span = SPAN[level];
    const [first, last] = slots(base, span, start, end);
    for (let i = first; i <= last; i++) {
      const w = entryWord(table, i);
      const lo = k.ops.lo(w);
      if ((lo & _PAGE_PRESENT) === 0 || pteLeaf(lo)) continue;
      const child = ptePfn(lo, k.ops.hi(w));
      const lo2 = base + i * span;
      // A PDPT that mshare processes link to is never freed (nor what lies below it), nor a
      // page directory that hugetlb PMD sharing links into other mms.
      if (level === 4 && (k.sharedTables.get(child) ?? 0) > 0) continue;
      if (level === 3 && (k.pmdShares.get(child) ?? 0) > 0) continue;
      if (lo2 >= floor && lo2 + span <= ceiling) {
        freeTableTree(k, mm, child, level - 1, g);
        k.ops.ptepGetAndClear(w);
        g.cover(lo2, lo2 + span);
      } else if (level > 2) {
        rec(child, level - 1, lo2);
      }
    }
  };
  if (end > start) rec(mm.pml4, 4, 0);
}

/**
 * A table tree at entry word w (an entry of level `level`, covering [base, base + span))
 * that maps nothing (left behind, e.g. by an mremap that failed after making its
 * destination's tables): unlink and free it. False if something is mapped below.
 */
export function dropEmptyTables(k: Kmm, mm: Mm, w: number, level: number, base: number, cpu: number): boolean {
  const empty = (table: number, l: number): boolean => {
    for (let i = 0; i < 512; i++) {
      const lo = k.ops.lo(entryWord(table, i));
      if (l === 1 ? pteMapped(lo) : pteLeaf(lo)) return false;
      if (l > 1 && (lo & _PAGE_PRESENT) !== 0 && !empty(ptePfn(lo, k.ops.hi(entryWord(table, i))), l - 1)) return false;
    }
    return true;
  };
  const child = ptePfn(k.ops.lo(w), k.ops.hi(w));
  if (!empty(child, level - 1)) return false;
  const g = new Gather();
  k.ops.ptepGetAndClear(w);
  freeTableTree(k, mm, child, level - 1, g);
  g.cover(base, base + SPAN[level]);
  finishGather(k, mm, g, cpu);
  return true;
}

/** Queue a table and every table below it; a leaf still mapped here is a kernel bug. */
function freeTableTree(k: Kmm, mm: Mm, table: number, level: number, g: Gather): void {
  for (let i = 0; i < 512; i++) {
    const w = entryWord(table, i);
    const lo = k.ops.lo(w);
    if (level === 1) {
      if (pteMapped(lo)) throw new KernelBug(`freePgtables: PTE ${i} of table ${table} still maps a frame`);
      continue;
    }
    if (pteLeaf(lo)) throw new KernelBug(`freePgtables: entry ${i} of table ${table} is a huge leaf still mapped`);
    if ((lo & _PAGE_PRESENT) !== 0) freeTableTree(k, mm, ptePfn(lo, k.ops.hi(w)), level - 1, g);
  }
  g.tables.push(table);
  mm.ptePages--;
}

/** Shoot down [g.start, g.end) on the mm's CPUs, then release what g holds. */
export function finishGather(k: Kmm, mm: Mm, g: Gather, initiator: number): void {
  // An mm whose tables other mms link to (mshare) is cached under their addresses, not its
  // own: any change flushes everything (flush_tlb_all).
  if (mm.flushAll && g.end > g.start) g.cover(0, USER_TOP);
  let cpus: Iterable<number> = mm.cpus;
  if (mm.flushCpus !== null && g.end > g.start) {
    const list = [...mm.flushCpus()];
    k.mshareFlushes++;
    k.mshareFlushCpus += list.length;
    cpus = list;
  }
  const late = g.end > g.start ? k.flusher.flushRange(cpus, g.start, g.end, initiator) : [];
  if (late.length > 0) {
    // Some CPU did not acknowledge in time: keep what it may still reach until it does (an
    // empty entry too: a reference page released meanwhile waits for it, see refpage.ts).
    // The lists move over whole, never through a call's arguments: an unmap may free
    // millions of frames.
    k.deferred.push({ waits: late, g: g.takeAll() });
  }
  releaseGather(k, g);
}

/** Run fn once every shootdown still outstanding has been acknowledged (now if none is). */
export function afterFlushes(k: Kmm, fn: () => void): void {
  if (k.deferred.length === 0) {
    fn();
    return;
  }
  const g = new Gather();
  g.after.push(fn);
  k.deferred.push({ waits: k.deferred.flatMap((d) => d.waits), g });
}

/** Release deferred frames whose CPUs have all acknowledged (the kernel loop calls this). */
export function releaseDeferred(k: Kmm): void {
  if (k.deferred.length === 0) return;
  k.deferred = k.deferred.filter((d) => {
    if (!d.waits.every(([cpu, seq]) => k.flusher.done(cpu, seq))) return true;
    releaseGather(k, d.g);
    return false;
  });
}

/** Release what g holds without a shootdown: only for an mm that no CPU runs. */
export function releaseGather(k: Kmm, g: Gather): void {
  for (const pfn of g.pages) k.pages.putPage(pfn);
  for (const t of g.tables) {
    k.mem.zeroFrame(t);
    k.pages.flags[t] &= ~PG_PGTABLE;
    k.pages.putPage(t);
  }
  for (const f of g.after) f();
  g.pages.length = 0;
  g.tables.length = 0;
  g.after.length = 0;
  g.start = Infinity;
  g.end = -Infinity;
}

/** Set A (and D for a write) on a PTE the kernel accessed through (copy_to_user). */
export function markAccessed(k: Kmm, w: number, dirty: boolean): void {
  k.ops.ptepSetBits(w, dirty ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED);
}
