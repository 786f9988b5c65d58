// Long kernel work in bounded slices (Linux's cond_resched, and the drop-and-retake of
// mmap_lock that __mm_populate and faultin_page do between pages).
//
// A long operation is a generator (`Sliced`) that does its work a unit at a time (a page
// faulted in, for populate), spends a unit of the current slice's budget for each, and
// yields when the budget is spent. Between two slices the kernel thread serves other CPUs'
// requests (kernel.ts); the operation then resumes where it stopped and looks its VMA up
// again from the address it got to, as __mm_populate does after each
// populate_vma_page_range, since another process may have changed what it works on (a
// shared file truncated, reclaim, the OOM reaper). A generator must leave every structure
// consistent at each yield: the process may be killed there, and the rest is then never
// run (its address space is torn down, or kept as it is by another user of the mm).
//
// Every slice runs to its yield with nothing else in between, so the budget bounds the
// time any other CPU's request waits behind this one. `finish` runs an operation in one
// go, for callers that are not system calls (and tests): the result is the same, as a
// slice boundary changes nothing.

import type { Kmm } from './kmm.ts';

/** An operation in slices: yields between slices, returns its result. */
export type Sliced<T = number> = Generator<void, T, void>;

/** The per-slice budget and what slicing did (Kmm.slice). */
export class SliceBudget {
  /** Units (pages faulted in) a slice may do before it yields: KernelOptions.slicePages. */
  units = 256;
  /** Units left in the current slice. */
  left = 256;
  /**
   * Set by an operation as it yields if it holds its mm's mmap_lock for read there (a
   * populate: __mm_populate and madvise_populate take it for read), so that the mm's other
   * threads' page faults go on between its slices (kernel.ts); otherwise it holds it for
   * write and they wait. Cleared as each slice begins.
   */
  shared = false;
  /** Slices that ended with work left (the operation yielded), ptlab's own count. */
  yields = 0;
  /** Work that waited for an mm's write hold, due now that it is gone (mm.ts setMmHold; run by runDue). */
  readonly due: (() => void)[] = [];

  /**
   * Long work no call waits for (the teardown of a killed fork's half-built copy, whose
   * memory goes back as exit_mmap's would): Kernel.tick runs a slice of the oldest a turn.
   */
  readonly background: Sliced<unknown>[] = [];

  /** One slice of the oldest background work (between requests): whether any is left. */
  backgroundStep(): boolean {
    const q = this.background;
    if (q.length === 0) return false;
    this.refill();
    if (q[0]!.next().done === true) q.shift();
    else this.yields++;
    return q.length > 0;
  }

  /** Run the work that is due (Kernel.tick and the end of a call in slices). */
  runDue(): void {
    // One at a time: a kernel bug in one (it throws) leaves the others due.
    for (let fn = this.due.shift(); fn !== undefined; fn = this.due.shift()) fn();
  }

  /** Spend n units: true when the slice is used up and the caller should yield (need_resched). */
  spend(n = 1): boolean {
    this.left -= n;
    return this.left <= 0;
  }

  /** A new slice begins. */
  refill(): void {
    this.left = this.units;
    this.shared = false;
  }
}

/** A result now, or an operation that yields between slices and returns it. */
export type MaybeSliced = number | Sliced;

/** Run an operation to its end in one go (its yields only refill the budget); a number passes through. */
export function finish(k: Kmm, r: MaybeSliced): number;
export function finish<T>(k: Kmm, r: Sliced<T>): T;
export function finish<T>(k: Kmm, r: number | Sliced<T>): number | T {
  if (typeof r === 'number') return r;
  for (k.slice.refill(); ; k.slice.refill()) {
    const n = r.next();
    if (n.done === true) return n.value;
  }
}

/**
 * Run an operation to its end inside another one's slice (its yields ignored, the budget
 * left as it is, so the outer operation yields at its next chance): its result.
 */
export function drain<T>(work: Sliced<T>): T {
  for (;;) {
    const n = work.next();
    if (n.done === true) return n.value;
  }
}

/** A sliced operation whose result is `value` once `work` is done (work's own result ignored). */
export function* thenReturn(work: Sliced, value: number): Sliced {
  yield* work;
  return value;
}
