// The memory files of a process (fs/proc/task_mmu.c): /proc/PID/maps, smaps and
// smaps_rollup, pagemap (with PAGEMAP_SCAN, pagemap_scan.ts) and clear_refs.
//
// smaps and smaps_rollup walk every VMA's page tables a piece at a time (slice_range.ts's
// inPieces; a hugetlb VMA, whose leaves are few and may span many pieces, whole), so a read
// of a big address space runs in slices (mm/slice.ts) and gives the bytes the walk in one
// go gives. Between slices the process may change its mappings (Linux too drops mmap_lock
// between reads); one that has exited ends the walk with the text made so far.

import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_SOFT_DIRTY, pmdPfn, ptePfn,
} from '../../../machine/index.ts';
import {
  _PAGE_SWP_SOFT_DIRTY, finish, finishGather, forEachPte, Gather, HPAGE_PMD_NR, HPAGE_PMD_SIZE, inPieces, type Kmm, markerSwpOffset, type Mm, PG_ANON,
  PG_DIRTY, PG_LAZYFREE, PG_SHMEM, SWP_PTE_MARKER, swpOffset, swpType, thpEligible, VM_EXEC, VM_HUGETLB, VM_LOCKED, VM_MAYSHARE,
  type Sliced, VM_PFNMAP, VM_READ, VM_SHARED, VM_SOFTDIRTY, VM_WRITE, type Vma, vmaHasFile,
} from '../../mm/index.ts';
import * as U from '../../uapi.ts';

/** The page size of a VMA's mappings (KernelPageSize). */
export const pageSize = (v: Vma): number => v.ops.pagesize?.(v) ?? 4096;

// --- /proc/PID/maps ------------------------------------------------------------------------------

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The line prefix of show_vma_header_prefix and the name padded to column 73. */
function vmaHeader(start: number, end: number, flags: number, pgoff: number, dev: string, ino: number, name: string): string {
  const perms = `${flags & VM_READ ? 'r' : '-'}${flags & VM_WRITE ? 'w' : '-'}${flags & VM_EXEC ? 'x' : '-'}${flags & VM_MAYSHARE ? 's' : 'p'}`;
  const prefix = `${hex(start, 8)}-${hex(end, 8)} ${perms} ${hex(pgoff * 4096, 8)} ${dev} ${ino} `;
  if (name === '') return prefix;
  // seq_setwidth(25 + 6 * sizeof(void *) - 1), then seq_pad(' ').
  return `${prefix.padEnd(72)} ${name}`;
}

/**
 * get_vma_name for a VMA without a file: the heap (vma_is_initial_heap), the stack
 * (vma_is_initial_stack: the VMA holding start_stack, bounds included), its anonymous
 * name, or none.
 */
function anonVmaName(mm: Mm, v: Vma): string {
  if (v.start < mm.brk && v.end > mm.startBrk) return '[heap]';
  if (v.start <= mm.startStack && v.end >= mm.startStack) return '[stack]';
  return v.anonName !== null ? `[anon:${v.anonName}]` : '';
}

/**
 * show_map_vma: the mapped file's device, inode and path (a named shared anonymous
 * mapping's name instead) with the file offset; or an anonymous VMA's name.
 */
function mapsLine(mm: Mm, v: Vma): string {
  const f = v.file;
  if (f !== null) return vmaHeader(v.start, v.end, v.flags, v.pgoff, f.dev, f.ino, v.anonName !== null ? `[anon_shmem:${v.anonName}]` : f.name);
  return vmaHeader(v.start, v.end, v.flags, 0, '00:00', 0, anonVmaName(mm, v));
}

export function procMaps(mm: Mm): string {
  let out = '';
  for (const v of mm.vmas.all()) out += `${mapsLine(mm, v)}\n`;
  return out;
}

// --- /proc/PID/smaps and smaps_rollup --------------------------------------------------------------

/** Linux's PSS fixed point: pss accumulates (PAGE_SIZE << PSS_SHIFT) / mapcount per page. */
const PSS_SHIFT = 12;

class MemSizeStats {
  resident = 0;
  pss = 0;
  pssDirty = 0;
  pssAnon = 0;
  pssFile = 0;
  pssShmem = 0;
  pssLocked = 0;
  sharedClean = 0;
  sharedDirty = 0;
  privateClean = 0;
  privateDirty = 0;
  referenced = 0;
  anonymous = 0;
  anonHuge = 0;
  privateHugetlb = 0;
  sharedHugetlb = 0;
  lazyfree = 0;
  swap = 0;
  swapPss = 0;
}

/**
 * smap_gather_stats for one VMA, in pieces (a hugetlb VMA whole); false if the process
 * ended between two slices (the stats are then partial).
 */
function* gatherStats(k: Kmm, mm: Mm, v: Vma, s: MemSizeStats, live: () => boolean): Generator<void, boolean, void> {
  const piece = (a: number, b: number): number | false => {
    k.slice.shared = true; // mmap_lock for read, as show_smap takes it
    return live() && pteStats(k, mm, v, a, b, s);
  };
  if ((v.flags & VM_HUGETLB) !== 0) k.slice.spend(pteStats(k, mm, v, v.start, v.end, s));
  else yield* inPieces(k, mm, v.start, v.end, piece);
  if (!live()) return false;
  shmemSwapUsage(v, s);
  if (k.slice.spend(1)) yield* nextSlice(k); // a VMA's text, a unit
  return live();
}

/** End this slice holding the mm for read (slice.shared). */
function* nextSlice(k: Kmm): Generator<void, void, void> {
  k.slice.shared = true;
  yield;
}

/** The stats of the PTEs of [from, to) of v (smaps_pte_entry, smaps_account): the entries it looked at. */
function pteStats(k: Kmm, mm: Mm, v: Vma, from: number, to: number, s: MemSizeStats): number {
  const pages = k.pages;
  const locked = (v.flags & VM_LOCKED) !== 0;
  const account = (lo: number, pfn: number, size: number): void => {
    if (pages.isSpecial(pfn)) return; // vm_normal_page: the zero page and reference pages are not counted
    const anon = (pages.flags[pfn] & PG_ANON) !== 0;
    if (anon) s.anonymous += size;
    s.resident += size;
    if ((lo & _PAGE_ACCESSED) !== 0) s.referenced += size;
    const mapcount = pages.mapcount[pfn];
    const pss = mapcount >= 2 ? Math.floor((size * 2 ** PSS_SHIFT) / mapcount) : size * 2 ** PSS_SHIFT;
    const priv = mapcount < 2;
    s.pss += pss;
    if (anon) s.pssAnon += pss;
    else if ((pages.flags[pfn] & PG_SHMEM) !== 0) s.pssShmem += pss;
    else s.pssFile += pss;
    if (locked) s.pssLocked += pss;
    const dirty = (lo & _PAGE_DIRTY) !== 0 || (pages.flags[pfn] & PG_DIRTY) !== 0;
    if ((pages.flags[pfn] & PG_LAZYFREE) !== 0 && !dirty && !v.droppable) s.lazyfree += size;
    if (dirty) {
      s.pssDirty += pss;
      if (priv) s.privateDirty += size;
      else s.sharedDirty += size;
    } else if (priv) s.privateClean += size;
    else s.sharedClean += size;
  };
  return forEachPte(k, mm, from, to, (w) => {
    const lo = k.ops.lo(w);
    account(lo, ptePfn(lo, k.ops.hi(w)), 4096);
  }, (w) => {
    const lo = k.ops.lo(w);
    const pfn = pmdPfn(lo, k.ops.hi(w));
    if ((v.flags & VM_HUGETLB) !== 0) {
      // smaps_hugetlb_range: hugetlb pages are not in Rss, only in *_Hugetlb.
      if ((v.flags & VM_MAYSHARE) !== 0 || pages.mapcount[pfn] > 1) s.sharedHugetlb += pageSize(v);
      else s.privateHugetlb += pageSize(v);
      return true;
    }
    // smaps_pmd_entry: a transparent huge page counts in AnonHugePages, and page by page
    // as smaps_account does (each page's Pss from its precise mapcount, in Linux's fixed
    // point): a whole folio's pages all have its head's mapcount; the pages of one split
    // while another mm kept this PMD (fork) have their own.
    const whole = pages.orderOf(pfn) !== 0;
    for (let i = 0; i < HPAGE_PMD_NR; i++) account(lo, whole ? pfn : pfn + i, 4096);
    if (!pages.isSpecial(pfn)) s.anonHuge += HPAGE_PMD_SIZE;
    return true;
  }, (w) => {
    // A swap entry: Swap, and SwapPss shared among the entries that refer to its slot.
    const refs = k.swap!.map[swpOffset(k.ops.lo(w), k.ops.hi(w))];
    s.swap += 4096;
    s.swapPss += refs >= 2 ? Math.floor(4096 * 2 ** PSS_SHIFT / refs) : 4096 * 2 ** PSS_SHIFT;
  });
}

/** shmem_swap_usage: a shared shmem mapping counts its file's swapped pages in its range. */
function shmemSwapUsage(v: Vma, s: MemSizeStats): void {
  const m = v.mapping;
  if (m !== null && m.swapped.size > 0 && ((v.flags & VM_SHARED) !== 0 || (v.flags & VM_WRITE) === 0)) {
    const last = v.pgoff + (v.end - v.start) / 4096;
    for (let idx = m.swapped.next(v.pgoff); idx !== -1 && idx < last; idx = m.swapped.next(idx + 1)) s.swap += 4096;
  }
}

/** A "Label:" padded to 16 columns, the value in kB right-aligned in 8 (seq_put_decimal_ull_width). */
export function kb(label: string, bytes: number): string {
  return `${`${label}:`.padEnd(16)}${String(Math.floor(bytes / 1024)).padStart(8)} kB\n`;
}

function statsText(s: MemSizeStats, rollup: boolean): string {
  const pss = (x: number) => Math.floor(x / 2 ** PSS_SHIFT);
  let out = kb('Rss', s.resident) + kb('Pss', pss(s.pss)) + kb('Pss_Dirty', pss(s.pssDirty));
  if (rollup) out += kb('Pss_Anon', pss(s.pssAnon)) + kb('Pss_File', pss(s.pssFile)) + kb('Pss_Shmem', pss(s.pssShmem));
  out += kb('Shared_Clean', s.sharedClean) + kb('Shared_Dirty', s.sharedDirty);
  out += kb('Private_Clean', s.privateClean) + kb('Private_Dirty', s.privateDirty);
  out += kb('Referenced', s.referenced) + kb('Anonymous', s.anonymous) + kb('KSM', 0) + kb('LazyFree', s.lazyfree);
  out += kb('AnonHugePages', s.anonHuge) + kb('ShmemPmdMapped', 0) + kb('FilePmdMapped', 0);
  out += kb('Shared_Hugetlb', s.sharedHugetlb) + kb('Private_Hugetlb', s.privateHugetlb) + kb('Swap', s.swap) + kb('SwapPss', pss(s.swapPss));
  out += kb('Locked', pss(s.pssLocked));
  return out;
}

/** The smaps VmFlags mnemonics by bit (show_smap_vma_flags); '' for bits it does not print. */
const MNEMONICS = [
  'rd', 'wr', 'ex', 'sh', 'mr', 'mw', 'me', 'ms', 'gd', 'um', 'pf', 'gu', 'uw', 'lo', 'io', 'sr',
  'rr', 'dc', 'de', 'lf', 'ac', 'nr', 'ht', 'sf', 'ar', 'wf', 'dd', 'sd', 'mm', 'hg', 'nh', 'mg',
];

export function vmFlagsText(v: Vma): string {
  let out = 'VmFlags: ';
  for (let bit = 0; bit < 32; bit++) {
    if (((v.flags >>> bit) & 1) !== 0 && MNEMONICS[bit] !== '') out += `${MNEMONICS[bit]} `;
  }
  if (v.droppable) out += 'dp ';
  if (v.sealed) out += 'sl ';
  return `${out}\n`;
}

/** /proc/PID/smaps in one go. */
export function procSmaps(k: Kmm, mm: Mm): string {
  return finish(k, procSmapsSliced(k, mm, () => true));
}

/**
 * /proc/PID/smaps in slices: each VMA looked up again from where the text got to; `live`
 * false (the process ended) ends it with the text so far.
 */
export function* procSmapsSliced(k: Kmm, mm: Mm, live: () => boolean): Sliced<string> {
  let out = '';
  for (let v = mm.vmas.findNext(0); v !== null; v = live() ? mm.vmas.findNext(v.end) : null) {
    const s = new MemSizeStats();
    if (!(yield* gatherStats(k, mm, v, s, live))) break;
    out += `${mapsLine(mm, v)}\n`;
    out += kb('Size', v.end - v.start) + kb('KernelPageSize', pageSize(v)) + kb('MMUPageSize', pageSize(v));
    out += statsText(s, false);
    const firstHuge = Math.ceil(v.start / HPAGE_PMD_SIZE) * HPAGE_PMD_SIZE;
    out += `THPeligible:    ${String(thpEligible(k, v, firstHuge) ? 1 : 0).padStart(8)}\n`;
    out += vmFlagsText(v);
  }
  return out;
}

/** /proc/PID/smaps_rollup in one go. */
export function procSmapsRollup(k: Kmm, mm: Mm): string {
  return finish(k, procSmapsRollupSliced(k, mm, () => true));
}

/** /proc/PID/smaps_rollup in slices, as procSmapsSliced. */
export function* procSmapsRollupSliced(k: Kmm, mm: Mm, live: () => boolean): Sliced<string> {
  const s = new MemSizeStats();
  let first = -1;
  let last = 0;
  for (let v = mm.vmas.findNext(0); v !== null; v = live() ? mm.vmas.findNext(v.end) : null) {
    if (first < 0) first = v.start;
    last = v.end;
    if (!(yield* gatherStats(k, mm, v, s, live))) break;
  }
  if (first < 0) return '';
  return `${vmaHeader(first, last, 0, 0, '00:00', 0, '[rollup]')}\n${statsText(s, true)}`;
}

// --- /proc/PID/pagemap and /proc/PID/clear_refs ---------------------------------------------------------

const PM_PRESENT = 1n << 63n;
const PM_SOFT_DIRTY = 1n << 55n;
const PM_FILE = 1n << 61n;
const PM_MMAP_EXCLUSIVE = 1n << 56n;
const PM_PFRAME_MASK = (1n << 55n) - 1n;
const PM_SWAP = 1n << 62n;
/** PM_GUARD_REGION (6.14): the page is a guard marker (shown with PM_SWAP, as Linux does). */
const PM_GUARD_REGION = 1n << 58n;

/**
 * pagemap_read: one little-endian u64 per page from offset pos / 8; the offset and length
 * must be multiples of 8. PFNs only for openers with CAP_SYS_ADMIN. Bit 55: the PTE is
 * soft-dirty or its VMA is VM_SOFTDIRTY (never without soft-dirty tracking).
 */
export function pagemapRead(k: Kmm, mm: Mm, len: number, pos: number, showPfn: boolean): Uint8Array | number {
  return finish(k, pagemapReadSliced(k, mm, len, pos, showPfn, () => true));
}

/**
 * pagemapRead in slices, each VMA's PTEs a piece at a time; `live` false (the process
 * ended between slices) ends it with the entries read so far (later ones read as 0).
 */
export function* pagemapReadSliced(k: Kmm, mm: Mm, len: number, pos: number, showPfn: boolean, live: () => boolean): Sliced<Uint8Array | number> {
  if (pos % 8 !== 0 || len % 8 !== 0) return -U.EINVAL;
  const first = pos / 8;
  const last = Math.min(first + Math.min(len / 8, 1 << 16), U.TASK_SIZE / 4096);
  if (last <= first) return new Uint8Array(0);
  const out = new Uint8Array((last - first) * 8);
  const dv = new DataView(out.buffer);
  for (let v = mm.vmas.findNext(first * 4096); v !== null && v.start < last * 4096; v = live() ? mm.vmas.findNext(v.end) : null) {
    const from = Math.max(v.start, first * 4096);
    const to = Math.min(v.end, last * 4096);
    // Holes in a VM_SOFTDIRTY VMA read as soft-dirty (pagemap_pte_hole).
    if ((v.flags & VM_SOFTDIRTY) !== 0) for (let va = from; va < to; va += 4096) dv.setBigUint64((va / 4096 - first) * 8, PM_SOFT_DIRTY, true);
    const vma = v;
    yield* inPieces(k, mm, from, to, (a, b) => {
      k.slice.shared = true; // mmap_lock for read, as pagemap_read takes it
      return live() && pagemapRange(k, mm, vma, a, b, first, dv, showPfn);
    });
  }
  return out;
}

/** The pagemap entries of [from, to) of v into dv (entry 0 is page `first`): the PTEs it looked at. */
function pagemapRange(k: Kmm, mm: Mm, v: Vma, from: number, to: number, first: number, dv: DataView, showPfn: boolean): number {
  const vmaSoftDirty = (v.flags & VM_SOFTDIRTY) !== 0;
  const entry = (lo: number, pfn: number, head: number, va: number): void => {
    let e = PM_PRESENT | (showPfn ? BigInt(pfn) & PM_PFRAME_MASK : 0n);
    if (vmaSoftDirty || (lo & _PAGE_SOFT_DIRTY) !== 0) e |= PM_SOFT_DIRTY;
    if (!k.pages.isSpecial(pfn)) {
      if ((k.pages.flags[head] & PG_ANON) === 0) e |= PM_FILE;
      if (k.pages.mapcount[head] === 1) e |= PM_MMAP_EXCLUSIVE;
    }
    dv.setBigUint64((va / 4096 - first) * 8, e, true);
  };
  return forEachPte(k, mm, from, to, (w, va) => {
    const lo = k.ops.lo(w);
    const pfn = ptePfn(lo, k.ops.hi(w));
    entry(lo, pfn, pfn, va);
  }, (w, base) => {
    // pagemap_pmd_range: each 4 KiB page of the leaf, with its own frame number.
    const lo = k.ops.lo(w);
    const head = pmdPfn(lo, k.ops.hi(w));
    const size = (v.flags & VM_HUGETLB) !== 0 ? pageSize(v) : HPAGE_PMD_SIZE;
    for (let va = Math.max(base, from); va < Math.min(base + size, to); va += 4096) entry(lo, head + (va - base) / 4096, head, va);
    return true;
  }, (w, va) => {
    // A swap entry: PM_SWAP, the frame field type | offset << MAX_SWAPFILES_SHIFT (shown
    // only to CAP_SYS_ADMIN, as PFNs are), soft-dirty from its own bit.
    const lo = k.ops.lo(w);
    const hi = k.ops.hi(w);
    let e = PM_SWAP | (showPfn ? (BigInt(swpType(hi)) | (BigInt(swpOffset(lo, hi)) << 5n)) & PM_PFRAME_MASK : 0n);
    if (vmaSoftDirty || (lo & _PAGE_SWP_SOFT_DIRTY) !== 0) e |= PM_SOFT_DIRTY;
    dv.setBigUint64((va / 4096 - first) * 8, e, true);
  }, (w, va) => {
    // A guard marker: a swap entry of type SWP_PTE_MARKER to pagemap, and PM_GUARD_REGION.
    const lo = k.ops.lo(w);
    let e = PM_SWAP | PM_GUARD_REGION | (showPfn ? BigInt(SWP_PTE_MARKER) | (BigInt(markerSwpOffset(lo)) << 5n) : 0n);
    if (vmaSoftDirty || (lo & _PAGE_SWP_SOFT_DIRTY) !== 0) e |= PM_SOFT_DIRTY;
    dv.setBigUint64((va / 4096 - first) * 8, e, true);
  });
}

/**
 * clear_refs: 1 clears the accessed bits of every mapping, 2 of anonymous ones, 3 of file
 * ones (shared anonymous memory is a file), then flushes; 4 clears soft-dirty (nothing to
 * do without it); 5 resets VmHWM to the current RSS. Other values are EINVAL.
 */
export function clearRefs(k: Kmm, mm: Mm, text: string): number {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) return -U.EINVAL;
  const type = Number(t);
  if (type < 1 || type > 5) return -U.EINVAL;
  if (type === 5) {
    mm.hiwaterRss = mm.rss();
    return 0;
  }
  const g = new Gather();
  if (type === 4) {
    // Soft-dirty: VMAs lose VM_SOFTDIRTY; present PTEs are write-protected and lose the
    // soft-dirty bit, so the next write faults and sets it again (clear_soft_dirty).
    if (!k.vm.softDirty) return 0;
    for (const v of mm.vmas.all()) {
      v.flags &= ~VM_SOFTDIRTY;
      if ((v.flags & VM_HUGETLB) !== 0) continue; // clear_refs skips hugetlb VMAs
      const clear = (w: number, va: number, size: number): boolean => {
        if ((k.ops.lo(w) & _PAGE_PRESENT) === 0) return true;
        k.ops.ptepClearBits(w, _PAGE_RW | _PAGE_SOFT_DIRTY);
        g.cover(va, va + size);
        return true;
      };
      // pte_swp_clear_soft_dirty (swap entries and guard markers): nothing maps it, so no flush.
      const clearSwp = (w: number): void => { k.ops.ptepClearBits(w, _PAGE_SWP_SOFT_DIRTY); };
      forEachPte(k, mm, v.start, v.end, (w, va) => clear(w, va, 4096), (w, va) => clear(w, va, HPAGE_PMD_SIZE), clearSwp, clearSwp);
    }
    finishGather(k, mm, g, -1);
    return 0;
  }
  for (const v of mm.vmas.all()) {
    if ((v.flags & VM_PFNMAP) !== 0) continue;
    if ((type === 2 && vmaHasFile(v)) || (type === 3 && !vmaHasFile(v)) || (v.flags & VM_HUGETLB) !== 0) continue;
    forEachPte(k, mm, v.start, v.end, (w, va) => {
      // !vm_normal_page: the zero page and reference pages keep their accessed bits.
      if (k.pages.isSpecial(ptePfn(k.ops.lo(w), k.ops.hi(w)))) return;
      if (k.ops.ptepTestAndClearYoung(w)) g.cover(va, va + 4096);
    }, (w, va) => {
      if (!k.pages.isSpecial(pmdPfn(k.ops.lo(w), k.ops.hi(w))) && k.ops.ptepTestAndClearYoung(w)) g.cover(va, va + HPAGE_PMD_SIZE);
      return true;
    });
  }
  finishGather(k, mm, g, -1);
  return 0;
}

