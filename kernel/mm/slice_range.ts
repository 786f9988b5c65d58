// Range operations in slices (munmap, MADV_DONTNEED and the like): their page-table work is
// done a piece at a time, a piece being at most one page table's span (2 MiB, 512 PTEs),
// and the operation yields when the slice's budget (KernelOptions.slicePages, in pages) is
// spent (slice.ts). Pieces start and end on 2 MiB boundaries except at the range's own
// ends, so a transparent huge page is never cut where the call in one go would not cut
// it: the result is the same as in one go. Spans without a page table cost nothing (the
// walk skips empty upper-level entries), so an almost empty 2^47 range is a few pieces.

import { pteLeaf } from '../../machine/index.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE as PAGE } from './mm_types.ts';
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
 * Call fn(a, b) on the pieces of [start, end) that may hold translations, in address
 * order, yielding when the slice budget is spent. If [start, end) begins with no page
 * table, fn(start, start) is called first (so a caller's checks run even on a range with
 * none). fn may return false to stop.
 */
export function* inPieces(k: Kmm, mm: Mm, start: number, end: number, fn: (a: number, b: number) => boolean | void): Generator<void, void, void> {
  let a = nextTable(k, mm, start, end);
  if (a > start && fn(start, start) === false) return; // the checks, on no page
  while (a < end) {
    const b = Math.min(end, a - (a % SPAN[2]) + SPAN[2]);
    if (fn(a, b) === false) return;
    const spent = k.slice.spend((b - a) / PAGE);
    a = nextTable(k, mm, b, end);
    if (spent && a < end) yield;
  }
}

/**
 * inPieces over [start, end) with fn(a, b) for every piece; if the caller is killed at a
 * slice boundary, fn runs at once on what is left (for work that must not stop halfway:
 * PTEs that would keep rights or locks their VMA no longer has).
 */
export function* piecesThenRest(k: Kmm, mm: Mm, start: number, end: number, fn: (a: number, b: number) => void): Generator<void, void, void> {
  let done = start;
  try {
    yield* inPieces(k, mm, start, end, (a, b) => {
      fn(a, b);
      done = b;
    });
    done = end;
  } finally {
    if (done < end) fn(done, end);
  }
}
