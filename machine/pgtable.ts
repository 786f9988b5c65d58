// Live paging-structure entries: how software reads and changes an entry that CPUs may be
// walking at the same moment.
//
// Compare arch/x86/include/asm/pgtable.h (set_pte, ptep_get_and_clear,
// ptep_test_and_clear_young, ptep_set_wrprotect, ptep_modify_prot_start/commit).
//
// Concurrency contract. CPUs walk entries with plain reads and set A/D with a
// compare-and-swap on the `lo` word (walker.ts). So software:
//   - changes `lo` of a live entry only with Atomics (exchange or compare-and-swap), so that
//     an A or D bit a CPU sets at the same moment is never lost;
//   - writes `hi` before the `lo` that makes an entry present, so a walker that sees P=1
//     sees the matching `hi`;
//   - changes `hi` of an entry whose present `lo` a walker might hold only inside a G_PTE_SEQ
//     write section (odd while writing), which makes such a walker start again. ptepModify
//     does this whenever `hi` actually changes; setPte needs none (a non-present `lo` is
//     never combined with a `hi`).
// A cleared entry keeps its `hi` word: "none" means lo === 0 (hardware ignores every other
// bit of a non-present entry).
//
// Host ordering: walkers read `lo`, then `hi`, then G_PTE_SEQ, with plain loads, which relies
// on the host keeping loads in order (x86-64 TSO). Writers use Atomics, which are fences.

import { G_PTE_SEQ, type ControlBlock } from './layout.ts';
import { pfnToWord, type PhysMem } from './physmem.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW } from './pte.ts';

/** Int32Array index of the `lo` word of entry `idx` (0..511) of the table in frame `tablePfn`. */
export function entryWord(tablePfn: number, idx: number): number {
  return pfnToWord(tablePfn) + idx * 2;
}

/** Index (0..511) of `va`'s entry in its table at `level` (4 = PML4 ... 1 = PT). */
export function levelIndex(va: number, level: number): number {
  return Math.floor(va / 2 ** (3 + 9 * level)) & 511;
}

/**
 * Entry operations on the page tables of one machine. All take `w`, the Int32Array index
 * of the entry's `lo` word (entryWord). They are what the kernel uses to edit page tables
 * that CPUs may be walking; none of them flushes a TLB: that is the caller's job.
 */
export class PageTableOps {
  readonly mem: PhysMem;
  private readonly i32: Int32Array;
  private readonly ctl: Int32Array;
  /** Entries written through these ops (every method below that changes one), for modeled time. */
  writes = 0;

  constructor(mem: PhysMem, cb: ControlBlock) {
    this.mem = mem;
    this.i32 = mem.i32;
    this.ctl = cb.i32;
  }

  /** Current `lo` word (plain read: tear-free, possibly already stale). */
  lo(w: number): number {
    return this.i32[w];
  }

  /** Current `hi` word. */
  hi(w: number): number {
    return this.i32[w + 1];
  }

  /**
   * set_pte: make a non-present entry present (or write another non-present value).
   * Precondition: the entry is not present; throws otherwise (a kernel bug: use
   * ptepModify to change a present entry).
   *
   * No G_PTE_SEQ section even when `hi` changes: a walker that reads the old, non-present
   * `lo` faults without reading `hi`, and one that reads the new `lo` reads `hi` after it,
   * which was stored first. (A page fault's set_pte is the common case: a new PTE's NX
   * differs from the empty entry's zero `hi`.)
   */
  setPte(w: number, lo: number, hi: number): void {
    if ((this.i32[w] & _PAGE_PRESENT) !== 0) {
      throw new Error(`setPte: entry at word ${w} is present; clear it or use ptepModify`);
    }
    if (this.i32[w + 1] !== hi) Atomics.store(this.i32, w + 1, hi);
    Atomics.store(this.i32, w, lo);
    this.writes++;
  }

  /** ptep_get_and_clear: atomically clear `lo` and return its old value (A/D included). */
  ptepGetAndClear(w: number): number {
    this.writes++;
    return Atomics.exchange(this.i32, w, 0);
  }

  /**
   * Change a present entry to (lo, hi) without a non-present window that a walker can use
   * (when `hi` changes, the brief zero `lo` lies inside a G_PTE_SEQ write section, so walkers
   * retry), keeping any A/D bit a CPU sets meanwhile when `keepAd` is true. Returns the old
   * `lo`.
   */
  ptepModify(w: number, lo: number, hi: number, keepAd: boolean): number {
    this.writes++;
    if (this.i32[w + 1] !== hi) {
      this.seqBegin();
      const old = Atomics.exchange(this.i32, w, 0);
      Atomics.store(this.i32, w + 1, hi);
      Atomics.store(this.i32, w, keepAd ? lo | (old & (_PAGE_ACCESSED | _PAGE_DIRTY)) : lo);
      this.seqEnd();
      return old;
    }
    for (;;) {
      const old = this.i32[w];
      const next = keepAd ? lo | (old & (_PAGE_ACCESSED | _PAGE_DIRTY)) : lo;
      if (Atomics.compareExchange(this.i32, w, old, next) === old) return old;
    }
  }

  /** Atomically clear the `lo` bits in `mask`; return the old `lo`. */
  ptepClearBits(w: number, mask: number): number {
    this.writes++;
    return Atomics.and(this.i32, w, ~mask);
  }

  /** Atomically set the `lo` bits in `mask`; return the old `lo`. */
  ptepSetBits(w: number, mask: number): number {
    this.writes++;
    return Atomics.or(this.i32, w, mask);
  }

  /** ptep_test_and_clear_young: clear A; true if it was set. */
  ptepTestAndClearYoung(w: number): boolean {
    this.writes++;
    return (Atomics.and(this.i32, w, ~_PAGE_ACCESSED) & _PAGE_ACCESSED) !== 0;
  }

  /** ptep_set_wrprotect: clear RW; returns the old `lo` (its D bit tells if it was dirty). */
  ptepSetWrprotect(w: number): number {
    this.writes++;
    return Atomics.and(this.i32, w, ~_PAGE_RW);
  }

  /** Clear D (pte_mkclean on a live entry); true if it was dirty. */
  ptepTestAndClearDirty(w: number): boolean {
    this.writes++;
    return (Atomics.and(this.i32, w, ~_PAGE_DIRTY) & _PAGE_DIRTY) !== 0;
  }

  private seqBegin(): void {
    // One writer (the kernel thread), which never nests sections: an odd value before the
    // add is a corrupt word (any worker can write the control block). One more add makes the
    // section odd all the same, so walkers still see it.
    const v = Atomics.add(this.ctl, G_PTE_SEQ, 1);
    if ((v & 1) !== 0) Atomics.add(this.ctl, G_PTE_SEQ, 1);
  }

  private seqEnd(): void {
    Atomics.add(this.ctl, G_PTE_SEQ, 1);
  }
}
