// The generic page-table walker (mm/pagewalk.c, include/linux/pagewalk.h) with current
// Linux semantics (../shared/reference/dirty-pagewalk.md section 1). Every walk of page
// tables in the kernel goes through it: the dirty helpers, pagemap and PAGEMAP_SCAN,
// smaps, zapping and mprotect (forEachPte), freeing tables (memory.ts), validateMm.
//
// - callbacks per level (pgdEntry, p4dEntry, pudEntry, pmdEntry, pteEntry), pteHole with
//   the depth of the hole (-1 outside VMAs; with 4-level paging the folded P4D level
//   reports 0), testWalk, preVma and postVma;
// - walk.action, reset to ACTION_SUBTREE before each p4d/pud/pmd callback: ACTION_CONTINUE
//   skips the subtree, ACTION_AGAIN re-reads the same entry (pud and pmd levels); ptlab
//   also honours ACTION_CONTINUE at the p4d level, where Linux has no action;
// - a hole is an entry that is none (its low word zero); an entry that is not present but not none
//   (a swap or migration entry) goes to its level's callback and is never descended into;
//   pteEntry is called for every PTE slot, empty ones too;
// - a huge PMD leaf is split only when a pteEntry exists, the action is SUBTREE and the
//   walk has a VMA that is not hugetlb; a 1 GiB leaf is never split (Linux splits only DAX
//   ones);
// - postVma is called even when the walk of the VMA failed (it balances preVma);
// - callbacks return 0 to go on, > 0 to stop and return that value, < 0 for an error.
//
// Locks: the kernel thread is the only writer of page tables, which stands for Linux's
// mmap lock, the PTE-table lock (taken in walk_pte_range since 2019) and i_mmap_rwsem
// together. CPUs still set A and D concurrently: callbacks that change a live entry must
// use PageTableOps' atomic operations (as ptep_modify_prot_start/commit do), so no
// hardware update is lost.
//
// walkPageMapping departs from Linux on purpose: where Linux ends the whole walk at the
// first VMA its testWalk skips (err = 0; break), this one goes on to the next VMA; with the
// dirty helpers Linux's behaviour lets one private mapping of a file stop the dirty tracking
// of every shared mapping after it.

import { _PAGE_PRESENT, _PAGE_PSE, entryWord, ptePfn, pteLeaf } from '../../machine/index.ts';
import { index, pteMapped, SPAN } from './pgtable.ts';
import { KernelBug } from '../bug.ts';
import { type Mm } from './mm.ts';
import { EINVAL } from '../uapi.ts';
import { type Vma, VM_HUGETLB } from './mm_types.ts';
import { type Kmm } from './kmm.ts';
import { splitHugePmd } from './huge_memory.ts';
import { isPteMarker } from './swapfile.ts';
import { type AddressSpace } from './filemap.ts';

export const ACTION_SUBTREE = 0;
export const ACTION_CONTINUE = 1;
export const ACTION_AGAIN = 2;

/** VM_PFNMAP: walked only by walkers with their own testWalk. */
export const VM_PFNMAP = 0x400;

export interface MmWalk<P> {
  readonly k: Kmm;
  /** The CPU the walk runs for (shootdowns after a split); -1 for none. */
  cpu: number;
  readonly ops: MmWalkOps<P>;
  mm: Mm;
  /** The VMA being walked; null in gaps and in walkPageRangeNovma. */
  vma: Vma | null;
  action: number;
  readonly noVma: boolean;
  readonly priv: P;
}

/** An entry is passed as its word index in physical memory (read it with k.ops.lo/hi). */
type EntryFn<P> = (w: number, addr: number, next: number, walk: MmWalk<P>) => number;

export interface MmWalkOps<P> {
  pgdEntry?: EntryFn<P>;
  p4dEntry?: EntryFn<P>;
  pudEntry?: EntryFn<P>;
  pmdEntry?: EntryFn<P>;
  pteEntry?: EntryFn<P>;
  pteHole?: (addr: number, next: number, depth: number, walk: MmWalk<P>) => number;
  testWalk?: (start: number, end: number, walk: MmWalk<P>) => number;
  preVma?: (start: number, end: number, walk: MmWalk<P>) => number;
  postVma?: (walk: MmWalk<P>) => void;
}

function boundary(addr: number, level: number, end: number): number {
  return Math.min(end, (Math.floor(addr / SPAN[level]) + 1) * SPAN[level]);
}

/**
 * An entry that is none: no table, no leaf, no swap entry (pXd_none). The low word decides:
 * ptep_get_and_clear zeroes only it (the high word keeps stale NX and frame bits), so any
 * non-present entry that means something keeps a bit set there.
 */
function entryNone(k: Kmm, w: number): boolean {
  return k.ops.lo(w) === 0;
}

function walkPteRange<P>(walk: MmWalk<P>, table: number, addr: number, end: number): number {
  const pte = walk.ops.pteEntry!;
  let w = entryWord(table, index(addr, 1));
  for (let a = addr; a < end; a += SPAN[1], w += 2) {
    const err = pte(w, a, a + SPAN[1], walk);
    if (err !== 0) return err;
  }
  return 0;
}

/** Whether this walk may split a huge PMD leaf to reach its PTEs: it has a VMA that is not hugetlb. */
function maySplit<P>(walk: MmWalk<P>): boolean {
  return walk.vma !== null && (walk.vma.flags & VM_HUGETLB) === 0;
}

/** The PUD and PMD levels share one shape (walk_pud_range, walk_pmd_range). */
function walkMidRange<P>(walk: MmWalk<P>, table: number, level: 3 | 2, addr: number, end: number): number {
  const { k, ops } = walk;
  const entry = level === 3 ? ops.pudEntry : ops.pmdEntry;
  const below = level === 3 ? ops.pmdEntry !== undefined || ops.pteEntry !== undefined : ops.pteEntry !== undefined;
  let err = 0;
  for (let a = addr; a < end;) {
    const next = boundary(a, level, end);
    const w = entryWord(table, index(a, level));
    for (;;) {
      if (entryNone(k, w)) {
        if (ops.pteHole !== undefined) err = ops.pteHole(a, next, level === 3 ? 2 : 3, walk);
        break;
      }
      walk.action = ACTION_SUBTREE;
      if (entry !== undefined) err = entry(w, a, next, walk);
      if (err !== 0) break;
      if (walk.action === ACTION_AGAIN) continue;
      const lo = k.ops.lo(w);
      if ((lo & _PAGE_PRESENT) === 0 || walk.action === ACTION_CONTINUE || !below) break;
      if ((lo & _PAGE_PSE) !== 0) {
        // Something below wants PTEs: split the huge PMD (split_huge_pmd), then look again.
        // A 1 GiB leaf is left alone: Linux splits only DAX PUDs; a hugetlb page never splits
        // (Linux walks hugetlb VMAs with hugetlb_entry, which these walks do not have).
        if (level === 3 || !maySplit(walk) || !splitHugePmd(k, walk.mm, w, a - (a % SPAN[2]), walk.cpu)) break;
        continue;
      }
      const child = ptePfn(lo, k.ops.hi(w));
      err = level === 3 ? walkMidRange(walk, child, 2, a, next) : walkPteRange(walk, child, a, next);
      break;
    }
    if (err !== 0) return err;
    a = next;
  }
  return 0;
}

/** The top of what four levels of tables translate: a walk past it would wrap around the PGD. */
const ADDRESS_SPACE_END = 2 ** 48;

function walkPgdRange<P>(walk: MmWalk<P>, pgd: number, addr: number, end: number): number {
  if (addr < 0 || end > ADDRESS_SPACE_END) throw new KernelBug(`walkPgdRange: [0x${addr.toString(16)}, 0x${end.toString(16)}) leaves the address space`);
  const { k, ops } = walk;
  const lower = ops.pudEntry !== undefined || ops.pmdEntry !== undefined || ops.pteEntry !== undefined;
  for (let a = addr; a < end;) {
    const next = boundary(a, 4, end);
    const w = entryWord(pgd, index(a, 4));
    let err = 0;
    // With 4-level paging the PGD level never reads as empty (pgd_none is 0): pgdEntry sees
    // every slot; the folded P4D level holds the real entry and reports its holes at depth 0.
    if (ops.pgdEntry !== undefined) err = ops.pgdEntry(w, a, next, walk);
    if (err === 0) {
      if (entryNone(k, w)) {
        if (ops.pteHole !== undefined) err = ops.pteHole(a, next, 0, walk);
      } else {
        walk.action = ACTION_SUBTREE;
        if (ops.p4dEntry !== undefined) err = ops.p4dEntry(w, a, next, walk);
        const lo = k.ops.lo(w);
        if (err === 0 && lower && walk.action !== ACTION_CONTINUE && (lo & _PAGE_PRESENT) !== 0) err = walkMidRange(walk, ptePfn(lo, k.ops.hi(w)), 3, a, next);
      }
    }
    if (err !== 0) return err;
    a = next;
  }
  return 0;
}

/** __walk_page_range: preVma, the walk, and postVma even if the walk failed. */
function walkVmaRange<P>(walk: MmWalk<P>, start: number, end: number): number {
  const { ops } = walk;
  if (walk.vma !== null && ops.preVma !== undefined) {
    const err = ops.preVma(start, end, walk);
    if (err !== 0) return err;
  }
  const err = walkPgdRange(walk, walk.mm.pml4, start, end);
  if (walk.vma !== null && ops.postVma !== undefined) ops.postVma(walk);
  return err;
}

/** walk_page_test: the walker's testWalk, or by default skip VM_PFNMAP VMAs (> 0: skip). */
function walkPageTest<P>(walk: MmWalk<P>, start: number, end: number): number {
  const { ops } = walk;
  if (ops.testWalk !== undefined) return ops.testWalk(start, end, walk);
  if ((walk.vma!.flags & VM_PFNMAP) !== 0) {
    const err = ops.pteHole !== undefined ? ops.pteHole(start, end, -1, walk) : 0;
    return err !== 0 ? err : 1;
  }
  return 0;
}

function newWalk<P>(k: Kmm, mm: Mm, ops: MmWalkOps<P>, priv: P, noVma = false): MmWalk<P> {
  return { k, ops, mm, vma: null, action: ACTION_SUBTREE, noVma, priv, cpu: -1 };
}

/** walk_page_range: every VMA and gap in [start, end) of mm; -EINVAL for an empty range. */
export function walkPageRange<P>(k: Kmm, mm: Mm, start: number, end: number, ops: MmWalkOps<P>, priv: P): number {
  if (start >= end) return -EINVAL;
  const walk = newWalk(k, mm, ops, priv);
  let vma = mm.vmas.findNext(start);
  let err = 0;
  for (let at = start; at < end;) {
    let next: number;
    if (vma === null || at < vma.start) {
      walk.vma = null;
      next = vma === null ? end : Math.min(end, vma.start);
      if (ops.pteHole !== undefined) err = ops.pteHole(at, next, -1, walk);
    } else {
      walk.vma = vma;
      next = Math.min(end, vma.end);
      vma = mm.vmas.findNext(vma.end);
      err = walkPageTest(walk, at, next);
      if (err > 0) err = 0;
      else if (err === 0) err = walkVmaRange(walk, at, next);
    }
    if (err !== 0) return err;
    at = next;
  }
  return 0;
}

/** walk_page_vma: the whole of one VMA. */
export function walkPageVma<P>(k: Kmm, vma: Vma, ops: MmWalkOps<P>, priv: P): number {
  const walk = newWalk(k, vma.mm!, ops, priv);
  walk.vma = vma;
  const err = walkPageTest(walk, vma.start, vma.end);
  if (err > 0) return 0;
  if (err < 0) return err;
  return walkVmaRange(walk, vma.start, vma.end);
}

/**
 * walk_page_mapping: pages [first, first + nr) of a page cache in every VMA of every
 * process that maps them (its i_mmap, in page-offset order); walk.mm is each VMA's mm.
 * testWalk sees the whole VMA. A skipped VMA does not end the walk (see the header).
 */
export function walkPageMapping<P>(k: Kmm, mapping: AddressSpace, first: number, nr: number, ops: MmWalkOps<P>, priv: P): number {
  const vmas = [...mapping.mappers.overlapping(first, first + nr - 1)];
  const walk = newWalk(k, vmas[0]?.mm ?? (null as unknown as Mm), ops, priv);
  for (const vma of vmas) {
    const vba = vma.pgoff;
    const vea = vba + (vma.end - vma.start) / SPAN[1];
    const cba = Math.max(first, vba);
    const cea = Math.min(first + nr, vea);
    if (cba >= cea) continue;
    walk.vma = vma;
    walk.mm = vma.mm!;
    let err = walkPageTest(walk, vma.start, vma.end);
    if (err > 0) continue;
    if (err === 0) err = walkVmaRange(walk, vma.start + (cba - vba) * SPAN[1], vma.start + (cea - vba) * SPAN[1]);
    if (err !== 0) return err;
  }
  return 0;
}

/**
 * A walk of the tables below `table`, a table of `level` (4: the PGD ... 1: a PTE table),
 * over [start, end) inside its span: tables only, as walkPageRangeNovma (freeing a table
 * tree, checking one is empty).
 */
export function walkPageTableRange<P>(k: Kmm, mm: Mm, table: number, level: number, start: number, end: number, ops: MmWalkOps<P>, priv: P): number {
  if (start >= end) return -EINVAL;
  const walk = newWalk(k, mm, ops, priv, true);
  if (level === 4) return walkPgdRange(walk, table, start, end);
  if (level === 1) return ops.pteEntry === undefined ? 0 : walkPteRange(walk, table, start, end);
  return walkMidRange(walk, table, level as 3 | 2, start, end);
}

/**
 * forEachPte: every mapped PTE in [start, end) of mm, fn(word, va), through the walker
 * (tables that do not exist cost nothing). A huge leaf goes to `huge(word, va, level)`, va
 * its first address (which may lie before start): true if it handled the leaf; false has
 * a 2 MiB leaf split and its 512 PTEs visited (a 1 GiB leaf must be handled). Without
 * `huge`, 2 MiB leaves are split. A swap PTE goes to `swap(word, va)` if given, a PTE
 * marker (a guard region's) to `marker(word, va)`: a walk that does not ask for markers
 * leaves them alone. Needs no VMA: munmap zaps VMAs already out of the tree. Returns how
 * many entries it handed to a callback (the work a range operation in slices is charged
 * for: slice_range.ts).
 */
export function forEachPte(
  k: Kmm, mm: Mm, start: number, end: number, fn: (w: number, va: number) => void,
  huge?: (w: number, va: number, level: number) => boolean, swap?: (w: number, va: number) => void,
  marker?: (w: number, va: number) => void,
): number {
  if (start >= end) return 0;
  let visited = 0;
  const leaf = (w: number, addr: number, level: number, walk: MmWalk<null>): number => {
    if (!pteLeaf(k.ops.lo(w))) return 0;
    const base = addr - (addr % SPAN[level]);
    if (huge !== undefined) visited++;
    if (huge?.(w, base, level) === true) walk.action = ACTION_CONTINUE;
    else if (level === 3) throw new KernelBug(`forEachPte: 1 GiB leaf at 0x${base.toString(16)} not handled`);
    else if (!splitHugePmd(k, mm, w, base, -1)) throw new KernelBug('forEachPte: no frame to split a huge PMD');
    return 0; // a split leaf is a table now: the walk goes down into it
  };
  const ops: MmWalkOps<null> = {
    pudEntry: (w, addr, _next, walk) => leaf(w, addr, 3, walk),
    pmdEntry: (w, addr, _next, walk) => leaf(w, addr, 2, walk),
    pteEntry: (w, addr) => {
      const lo = k.ops.lo(w);
      const to = pteMapped(lo) ? fn : lo === 0 ? undefined : isPteMarker(lo) ? marker : swap;
      if (to !== undefined) {
        to(w, addr);
        visited++;
      }
      return 0;
    },
  };
  walkPgdRange(newWalk(k, mm, ops, null, true), mm.pml4, start, end);
  return visited;
}

/**
 * walk_page_range_novma: tables only, no VMAs (no testWalk, preVma or postVma); upper
 * entries that are leaves or not present are not descended. `pgd` defaults to mm's PML4.
 */
export function walkPageRangeNovma<P>(k: Kmm, mm: Mm, start: number, end: number, ops: MmWalkOps<P>, priv: P, pgd = mm.pml4): number {
  if (start >= end) return -EINVAL;
  return walkPgdRange(newWalk(k, mm, ops, priv, true), pgd, start, end);
}
