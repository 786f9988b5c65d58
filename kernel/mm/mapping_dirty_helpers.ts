// mm/mapping_dirty_helpers.c: write-protect, and clean-and-record, the PTEs that map a range
// of a page cache in every shared writable mapping of it, in every process
// (../shared/reference/dirty-pagewalk.md section 2). Built on walkPageMapping.
//
// Each PTE is changed with one atomic operation on the live entry (clear RW, or clear D),
// the equivalent of ptep_modify_prot_start/commit here: a CPU that sets D at the same time
// either does so before (and the page is recorded) or after (and it stays dirty), so
// nothing dirty is cleaned without being recorded. The flush of what changed follows in
// postVma, per VMA, over the smallest range that covers the changed PTEs; if another flush
// is pending on the mm (a nested one), the whole walked range is flushed instead.

import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW } from '../../machine/index.ts';

import { ACTION_CONTINUE, type MmWalk, type MmWalkOps, walkPageMapping } from './pagewalk.ts';
import { VM_MAYWRITE, VM_SHARED } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { type Kmm } from './kmm.ts';
import { type AddressSpace } from './filemap.ts';

const PAGE = 4096;
/** VM_HUGETLB: hugetlb mappings are never walked here. */
const VM_HUGETLB = 0x400000;

interface WalkState {
  cpu: number;
  total: number;
  /** The clipped range of the VMA being walked, and the part whose PTEs changed. */
  rangeStart: number;
  rangeEnd: number;
  flushStart: number;
  flushEnd: number;
}

interface CleanState extends WalkState {
  bitmapPgoff: number;
  bitmap: Uint8Array;
  start: number;
  end: number;
}

/** Only shared, may-write, non-hugetlb VMAs (this also walks VM_PFNMAP ones). */
function testWalk(_s: number, _e: number, walk: MmWalk<WalkState>): number {
  return (walk.vma!.flags & (VM_SHARED | VM_MAYWRITE | VM_HUGETLB)) === (VM_SHARED | VM_MAYWRITE) ? 0 : 1;
}

function preVma(start: number, end: number, walk: MmWalk<WalkState>): number {
  const st = walk.priv;
  st.rangeStart = start;
  st.rangeEnd = end;
  st.flushStart = end;
  st.flushEnd = start;
  walk.mm.tlbFlushPending++;
  return 0;
}

function postVma(walk: MmWalk<WalkState>): void {
  const st = walk.priv;
  const g = new Gather();
  if (walk.mm.tlbFlushPending > 1) g.cover(st.rangeStart, st.rangeEnd);
  else if (st.flushEnd > st.flushStart) g.cover(st.flushStart, st.flushEnd);
  finishGather(walk.k, walk.mm, g, st.cpu);
  walk.mm.tlbFlushPending--;
}

/** Huge entries are skipped (never split); one that is writable or dirty is a warning. */
function skipHuge(w: number, _a: number, _n: number, walk: MmWalk<WalkState>): number {
  const lo = walk.k.ops.lo(w);
  if ((lo & _PAGE_PSE) !== 0) {
    if ((lo & (_PAGE_RW | _PAGE_DIRTY)) !== 0) walk.k.events.hugeDirtyWarnings++;
    walk.action = ACTION_CONTINUE;
  }
  return 0;
}

function widen(st: WalkState, addr: number): void {
  st.total++;
  if (addr < st.flushStart) st.flushStart = addr;
  if (addr + PAGE > st.flushEnd) st.flushEnd = addr + PAGE;
}

const WP_OPS: MmWalkOps<WalkState> = {
  testWalk, preVma, postVma, pmdEntry: skipHuge, pudEntry: skipHuge,
  pteEntry(w, addr, _next, walk) {
    const lo = walk.k.ops.lo(w);
    if ((lo & (_PAGE_PRESENT | _PAGE_RW)) !== (_PAGE_PRESENT | _PAGE_RW)) return 0;
    walk.k.ops.ptepSetWrprotect(w);
    widen(walk.priv, addr);
    return 0;
  },
};

const CLEAN_OPS: MmWalkOps<WalkState> = {
  testWalk, preVma, postVma, pmdEntry: skipHuge, pudEntry: skipHuge,
  pteEntry(w, addr, _next, walk) {
    const lo = walk.k.ops.lo(w);
    if ((lo & (_PAGE_PRESENT | _PAGE_DIRTY)) !== (_PAGE_PRESENT | _PAGE_DIRTY)) return 0;
    if (!walk.k.ops.ptepTestAndClearDirty(w)) return 0;
    const st = walk.priv as CleanState;
    const vma = walk.vma!;
    const bit = (addr - vma.start) / PAGE + vma.pgoff - st.bitmapPgoff;
    st.bitmap[bit >> 3] |= 1 << (bit & 7);
    if (bit < st.start) st.start = bit;
    if (bit + 1 > st.end) st.end = bit + 1;
    widen(st, addr);
    return 0;
  },
};

/**
 * wp_shared_mapping_range: write-protect the PTEs of pages [first, first + nr) in every
 * shared writable mapping; the number of PTEs that were writable (already read-only ones
 * are not counted).
 */
export function wpSharedMappingRange(k: Kmm, mapping: AddressSpace, first: number, nr: number, cpu: number): number {
  const st: WalkState = { cpu, total: 0, rangeStart: 0, rangeEnd: 0, flushStart: 0, flushEnd: 0 };
  const err = walkPageMapping(k, mapping, first, nr, WP_OPS, st);
  if (err !== 0) k.events.hugeDirtyWarnings++; // WARN_ON(walk_page_mapping(...))
  return st.total;
}

/**
 * clean_record_shared_mapping_range: clean the dirty PTEs of pages [first, first + nr) in
 * every shared writable mapping and set bit (pgoff - bitmapPgoff) for each; returns the
 * number of PTEs cleaned (a page dirty in two mappings counts twice, one bit). `range` holds
 * the bounds of the set bits relative to bitmapPgoff, end exclusive: if start >= end on
 * entry they start from (nr, 0); they only widen.
 */
export function cleanRecordSharedMappingRange(
  k: Kmm, mapping: AddressSpace, first: number, nr: number, bitmapPgoff: number, bitmap: Uint8Array,
  range: { start: number; end: number }, cpu: number,
): number {
  const noneSet = range.start >= range.end;
  const st: CleanState = {
    cpu, total: 0, rangeStart: 0, rangeEnd: 0, flushStart: 0, flushEnd: 0, bitmapPgoff, bitmap,
    start: noneSet ? nr : range.start, end: noneSet ? 0 : range.end,
  };
  const err = walkPageMapping(k, mapping, first, nr, CLEAN_OPS, st);
  if (err !== 0) k.events.hugeDirtyWarnings++;
  range.start = st.start;
  range.end = st.end;
  return st.total;
}
