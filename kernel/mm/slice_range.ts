// Range operations in slices (munmap, MADV_DONTNEED and the like): their page-table work is
// done a piece at a time, a piece being at most one page table's span (2 MiB, 512 PTEs),
// and the operation yields when the slice's budget (KernelOptions.slicePages) is spent
// (slice.ts). Pieces start and end on 2 MiB boundaries except at the range's own ends, so
// a transparent huge page is never cut where the call in one go would not cut it: the
// result is the same as in one go.
//
// A piece is charged for the work it did, not for its length: the entries it acted on
// (present PTEs zapped, changed or mlocked, swap entries freed, a huge leaf as one), which
// its callback returns, plus TABLE_SCAN_UNITS for reading a whole table's 512 entries. So
// a range of sparse page tables (one page each, or none) takes a slice per few dozen
// tables, and a fully populated one a slice per budget's worth of pages. Spans without a
// page table cost nothing (the walk skips empty upper-level entries), so an almost empty
// 2^47 range is a few pieces.

import { pteLeaf } from '../../machine/index.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { walkPageRangeNovma } from './pagewalk.ts';
import { SPAN } from './pgtable.ts';

/** The start of the first 2 MiB span at or after `at` in [at, end) with a PMD entry (or a PUD leaf), clamped to at; end if none. */
export function nextTable(k: Kmm, mm: Mm, at: number, end: number): number {
  if (at >= end) return end;
  let found = end;
  const stop = (_w: number, addr: number): number => {
    found = Math.max(at, addr - (addr % SPAN[2]));
    return 1;
  };
  const pud = (w: number, addr: number): number => (pteLeaf(k.ops.lo(w)) ? stop(w, addr) : 0);
  walkPageRangeNovma(k, mm, at, end, { pudEntry: pud, pmdEntry: stop }, null);
  return found;
}

/**
 * What reading a whole page table's 512 entries costs, in units of a page's work (slice.ts):
 * measured as about 6-11 times the zap of one present PTE in a full table (about 6 us for
 * the walk of a table with one entry, 0.7-1.2 us a page zapped and freed, on the project
 * machine: see kernel/README.md).
 */
export const TABLE_SCAN_UNITS = 8;

/** The units a piece [a, b) that acted on `work` entries costs: the work and its share of a table's scan. */
export function pieceCost(a: number, b: number, work: number): number {
  return work + Math.ceil((TABLE_SCAN_UNITS * (b - a)) / SPAN[2]);
}

/**
 * Call fn(a, b) on the pieces of [start, end) that may hold translations, in address
 * order, yielding when the slice budget is spent. fn returns the entries it acted on (the
 * piece is charged for them and for its scan: pieceCost), or false to stop. If
 * [start, end) begins with no page table, fn(start, start) is called first (so a caller's
 * checks run even on a range with none).
 */
export function* inPieces(k: Kmm, mm: Mm, start: number, end: number, fn: (a: number, b: number) => number | false): Generator<void, void, void> {
  let a = nextTable(k, mm, start, end);
  if (a > start && fn(start, start) === false) return; // the checks, on no page
  while (a < end) {
    const b = Math.min(end, a - (a % SPAN[2]) + SPAN[2]);
    const work = fn(a, b);
    if (work === false) return;
    const spent = k.slice.spend(pieceCost(a, b, work));
    a = nextTable(k, mm, b, end);
    if (spent && a < end) yield;
  }
}

/**
 * inPieces over [start, end) with fn(a, b) for every piece (its work, as inPieces's fn);
 * if the caller is killed at a slice boundary, fn runs at once on what is left (for work
 * that must not stop halfway: PTEs that would keep rights or locks their VMA no longer has).
 */
export function* piecesThenRest(k: Kmm, mm: Mm, start: number, end: number, fn: (a: number, b: number) => number): Generator<void, void, void> {
  let done = start;
  try {
    yield* inPieces(k, mm, start, end, (a, b) => {
      const work = fn(a, b);
      done = b;
      return work;
    });
    done = end;
  } finally {
    if (done < end) fn(done, end);
  }
}
