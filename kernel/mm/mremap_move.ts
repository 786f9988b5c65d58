// mremap's move (mm/mremap.c: move_vma, copy_vma, move_page_tables) in slices. The
// destination's page tables are made first, a piece at a time (running out of frames
// fails the call before anything has moved), then the new VMA goes in and the entries move
// a piece at a time (slice_range.ts: a page table's span, a huge PMD moving whole as one
// entry), each slice's moves flushed from every TLB before it yields (move_ptes flushes
// each extent it moved), then the source is unmapped in slices (munmap.ts). Linux's
// move_page_tables has cond_resched() per extent but nothing that stops it: a SIGKILL at a
// slice boundary runs the rest at once (`unkillable`), so no mapping is ever left half
// moved. At each yield the moved part lies under the new VMA and the rest under the old,
// so the reverse map finds every page where it is.

import { _PAGE_PRESENT, _PAGE_SOFT_DIRTY, entryWord, ptePfn, pteLeaf } from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { ENOMEM } from '../uapi.ts';
import { anonVmaClone, unlinkAnonVmas } from './anon_vma.ts';
import { HPAGE_PMD_SIZE } from './huge_memory.ts';
import type { Kmm } from './kmm.ts';
import { pteWord } from './memory.ts';
import { type Mm, vmStatAccount } from './mm.ts';
import { PAGE_SIZE as PAGE, Vma, VM_LOCKED_MASK } from './mm_types.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import { doMunmapSliced } from './munmap.ts';
import { forEachPte } from './pagewalk.ts';
import { index, pmdWord, pteMapped, SPAN } from './pgtable.ts';
import { drain, type Sliced } from './slice.ts';
import { inPieces } from './slice_range.ts';
import { _PAGE_SWP_SOFT_DIRTY } from './swapfile.ts';
import { linkVma, splitVma, vmaMerge } from './vma.ts';

/**
 * `work` in slices, except that if the caller is killed at a slice boundary (the generator
 * is returned), the rest of it runs at once, its yields ignored: for work that Linux does
 * with nothing that could stop it (all of mremap under mmap_lock).
 */
export function* unkillable<T>(work: Sliced<T>): Sliced<T> {
  let done = false;
  try {
    for (;;) {
      const n = work.next();
      if (n.done === true) {
        done = true;
        return n.value;
      }
      yield;
    }
  } finally {
    if (!done) drain(work);
  }
}

/** do_munmap of [start, end) as a step of a call in slices: 0 or -errno. */
export function* munmapStep(k: Kmm, mm: Mm, start: number, end: number, cpu: number): Sliced {
  const r = doMunmapSliced(k, mm, start, end, cpu);
  return typeof r === 'number' ? r : yield* r;
}

/**
 * move_vma: move [oldAddr, oldAddr + oldLen) of vma to dst, growing to newLen (copy_vma +
 * move_page_tables), then unmap the source (or, with DONTUNMAP, leave it empty). dst, or
 * -ENOMEM if a destination page table could not be made (nothing moved).
 */
export function* moveRange(k: Kmm, mm: Mm, vma: Vma, oldAddr: number, oldLen: number, dst: number, newLen: number, dontUnmap: boolean, cpu: number): Sliced {
  const pt = new PageTableMove(k, mm, oldAddr, oldAddr + oldLen, dst);
  if (oldLen > 0 && !(yield* pt.prepare())) return -ENOMEM;
  // The source is split only by the unmap that follows a move; with DONTUNMAP it stays whole.
  let src = vma;
  if (oldLen > 0 && !dontUnmap) {
    if (src.start < oldAddr) src = splitVma(mm, src, oldAddr);
    if (src.end > oldAddr + oldLen) splitVma(mm, src, oldAddr + oldLen);
  }
  const moved = copyVma(mm, src, oldAddr, dst, newLen);
  // Move the entries; frames, mapcounts and RSS stay as they are.
  if (oldLen > 0) yield* pt.move(cpu);
  if (oldLen > 0 && !dontUnmap) {
    yield* munmapStep(k, mm, oldAddr, oldAddr + oldLen, cpu);
  } else if (dontUnmap) {
    // dontunmap_complete: the old VMA stays (still charged), never locked; it drops its
    // anon_vma only if all of it moved.
    src.flags &= ~VM_LOCKED_MASK;
    if (src.mapping === null && oldAddr === src.start && oldAddr + oldLen === src.end) unlinkAnonVmas(k, src);
  }
  vmaMerge(mm, moved);
  return dst;
}

/** copy_vma: the VMA at dst for src's part from oldAddr, newLen long, in the tree. */
function copyVma(mm: Mm, src: Vma, oldAddr: number, dst: number, newLen: number): Vma {
  // An anonymous VMA never faulted gets the pgoff of its new address (copy_vma); so does a
  // reference page's, which v5 made anonymous (vma_set_anonymous).
  const pgoff = src.mapping !== null || src.anonVma !== null ? src.pgoff + (oldAddr - src.start) / PAGE : dst / PAGE;
  const moved = new Vma(dst, dst + newLen, src.flags, pgoff, src.ops, src.mapping, src.file);
  moved.privateData = src.privateData;
  moved.droppable = src.droppable;
  moved.anonName = src.anonName; // copy_vma: the name comes along (and decides the merge)
  anonVmaClone(moved, src);
  src.ops.open?.(moved);
  mm.vmas.insert(moved);
  linkVma(mm, moved);
  vmStatAccount(mm, moved.flags, newLen / PAGE);
  return moved;
}

/**
 * An entry as it moves (move_soft_dirty_pte): a page counts as written at its new place
 * (a swap entry or a guard marker by its own bit).
 */
function softDirtyMoved(k: Kmm, lo: number): number {
  if (!k.vm.softDirty) return lo;
  return lo | ((lo & _PAGE_PRESENT) !== 0 ? _PAGE_SOFT_DIRTY : pteMapped(lo) ? 0 : _PAGE_SWP_SOFT_DIRTY);
}

/**
 * move_page_tables of [start, end) to dst, in pieces (slice_range.ts), each charged for the
 * entries it handled. A huge PMD wholly inside the range moves whole (move_huge_pmd) where
 * its destination is 2 MiB-aligned and has no page table yet; any other is split.
 */
class PageTableMove {
  private readonly g = new Gather();
  /** The destination's last page table looked up: the 2 MiB span it maps and its frame (-1: none). */
  private span = -1;
  private table = -1;

  constructor(private readonly k: Kmm, private readonly mm: Mm, private readonly start: number, private readonly end: number, private readonly dst: number) {}

  private to(va: number): number {
    return this.dst + (va - this.start);
  }

  private wholeHuge(va: number): boolean {
    return va >= this.start && va + HPAGE_PMD_SIZE <= this.end && (this.dst - this.start) % HPAGE_PMD_SIZE === 0;
  }

  /**
   * The word of the destination's PTE for source address va, its page table made if
   * `alloc`; -1 absent, -2 no frame. The table is remembered for the next PTEs of its span.
   */
  private dstPte(va: number, alloc: boolean): number {
    const { k, mm } = this;
    const to = this.to(va);
    const span = to - (to % SPAN[2]);
    if (span !== this.span) {
      const w = pteWord(k, mm, to, alloc);
      if (w < 0) return w;
      const pw = pmdWord(k, mm, to, false);
      this.span = span;
      this.table = ptePfn(k.ops.lo(pw), k.ops.hi(pw));
    }
    return entryWord(this.table, index(to, 1));
  }

  /** The destination's page tables, a piece at a time: false if a frame for one was missing. */
  *prepare(): Generator<void, boolean, void> {
    const { k, mm } = this;
    let ok = true;
    const table = (_w: number, va: number): void => {
      if (ok && this.dstPte(va, true) === -2) ok = false;
    };
    const huge = (_w: number, va: number): boolean => {
      if (!this.wholeHuge(va)) return false;
      const to = pmdWord(k, mm, this.to(va), true);
      if (to === -2) ok = false;
      return to === -2 || (k.ops.lo(to) & _PAGE_PRESENT) === 0;
    };
    const pieces = inPieces(k, mm, this.start, this.end, (a, b) => forEachPte(k, mm, a, b, table, huge, table, table));
    for (let n = pieces.next(); n.done !== true; n = pieces.next()) {
      this.span = -1; // looked up again after the slice
      yield;
    }
    this.span = -1;
    return ok;
  }

  /** The entries, a piece at a time; what moved in a slice is flushed before it yields. */
  *move(cpu: number): Sliced<void> {
    const { k, mm } = this;
    const pte = (w: number, va: number): void => this.movePte(w, va);
    const huge = (w: number, va: number): boolean => this.moveHuge(w, va);
    const piece = (a: number, b: number): number => this.splitSinceReadied(a) ?? forEachPte(k, mm, a, b, pte, huge, pte, pte);
    const pieces = inPieces(k, mm, this.start, this.end, piece);
    for (let n = pieces.next(); n.done !== true; n = pieces.next()) {
      finishGather(k, mm, this.g, cpu);
      this.span = -1;
      yield;
    }
    finishGather(k, mm, this.g, cpu); // the old translations are gone from every TLB
  }

  private movePte(w: number, va: number): void {
    const k = this.k;
    const to = this.dstPte(va, false); // made by prepare (or by splitSinceReadied)
    if (to < 0) throw new KernelBug('mremap: destination page table vanished');
    const hi = k.ops.hi(w);
    const lo = k.ops.ptepGetAndClear(w);
    k.ops.setPte(to, softDirtyMoved(k, lo), hi);
    this.g.cover(va, va + PAGE);
  }

  /**
   * The piece at a when its 2 MiB span was readied to move as a huge PMD whose leaf reclaim
   * has split since (vmscan.ts splitIsolatedThp): its destination has no page table. One is
   * made now (undefined: walk the piece), or with no frame for it the source's table itself
   * moves there (move_normal_pmd, which needs none): the entries it held, as work done.
   */
  private splitSinceReadied(a: number): number | undefined {
    const { k, mm } = this;
    const base = a - (a % SPAN[2]);
    if (!this.wholeHuge(base)) return undefined;
    const from = pmdWord(k, mm, base, false);
    const to = pmdWord(k, mm, this.to(base), false);
    if (from < 0 || to < 0 || (k.ops.lo(to) & _PAGE_PRESENT) !== 0) return undefined;
    const flo = k.ops.lo(from);
    if ((flo & _PAGE_PRESENT) === 0 || pteLeaf(flo)) return undefined;
    const table = ptePfn(flo, k.ops.hi(from));
    let entries = 0;
    for (let i = 0; i < 512; i++) if (k.ops.lo(entryWord(table, i)) !== 0) entries++;
    // An empty table (no entry ever readied a destination for it) stays where it is.
    if (entries === 0 || pteWord(k, mm, this.to(base), true) >= 0) return undefined;
    k.ops.setPte(to, flo, k.ops.hi(from));
    k.ops.ptepGetAndClear(from);
    for (let i = 0; i < 512; i++) {
      const w = entryWord(table, i);
      if (k.ops.lo(w) === 0) continue;
      const hi = k.ops.hi(w);
      k.ops.setPte(w, softDirtyMoved(k, k.ops.ptepGetAndClear(w)), hi);
    }
    this.g.cover(base, base + SPAN[2]);
    return entries;
  }

  private moveHuge(w: number, va: number): boolean {
    const { k, mm } = this;
    if (!this.wholeHuge(va)) return false;
    const to = pmdWord(k, mm, this.to(va), false);
    if (to < 0 || (k.ops.lo(to) & _PAGE_PRESENT) !== 0) return false;
    const hi = k.ops.hi(w);
    const lo = k.ops.ptepGetAndClear(w);
    k.ops.setPte(to, k.vm.softDirty ? lo | _PAGE_SOFT_DIRTY : lo, hi);
    const pt = mm.deposited.get(w);
    if (pt !== undefined) {
      mm.deposited.delete(w);
      mm.deposited.set(to, pt);
    }
    this.g.cover(va, va + HPAGE_PMD_SIZE);
    return true;
  }
}
