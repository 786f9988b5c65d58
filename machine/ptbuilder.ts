// A minimal page-table builder for driving the machine without a kernel: a bump frame
// allocator plus map/unmap of 4 KiB, 2 MiB and 1 GiB leaves. Tests, benchmarks and the
// hardware-only examples use it; the kernel has its own allocator and page-table code.
//
// Compare a boot loader's identity-map setup. Not thread-safe: one builder per machine,
// used from one thread (CPUs may walk what it builds concurrently; it edits entries
// through PageTableOps).

import { PageTableOps, entryWord, levelIndex } from './pgtable.ts';
import { type PhysMem } from './physmem.ts';
import { _PAGE_PRESENT, _PAGE_PSE, _PAGE_TABLE, mkPteHi, mkPteLo, pgprot4kToLarge, ptePfn } from './pte.ts';
import { SIZE_4K, SIZE_FRAMES } from './walker.ts';

const LEAF_LEVEL = [1, 2, 3] as const;

export class PageTableBuilder {
  readonly mem: PhysMem;
  readonly ops: PageTableOps;
  private next: number;

  /** Frames below `firstFreePfn` are never handed out. */
  constructor(ops: PageTableOps, firstFreePfn = 1) {
    this.ops = ops;
    this.mem = ops.mem;
    this.next = firstFreePfn;
  }

  /** A zeroed frame, `align` frames aligned (1, 512 or 262144). Throws when memory runs out. */
  allocFrame(align = 1): number {
    const pfn = Math.ceil(this.next / align) * align;
    if (pfn + align > this.mem.nrFrames) throw new RangeError('PageTableBuilder: out of physical memory');
    this.next = pfn + align;
    for (let i = 0; i < align; i++) this.mem.zeroFrame(pfn + i);
    return pfn;
  }

  /** A new, empty PML4; returns its frame (the CR3 value). */
  newRoot(): number {
    return this.allocFrame();
  }

  /**
   * Map the page of `size` (SIZE_*) at `va` to the frames starting at `pfn`, with `lo` flags
   * (_PAGE_*; P is added; for huge pages PS is added and PAT moved to bit 12) and NX.
   * Intermediate tables are created with _PAGE_TABLE. Replaces nothing: the slot must be
   * empty (throws otherwise).
   */
  map(root: number, va: number, pfn: number, size: number, flagsLo: number, nx: boolean): void {
    if (va % (SIZE_FRAMES[size] * 4096) !== 0 || pfn % SIZE_FRAMES[size] !== 0) {
      throw new RangeError(`map: va 0x${va.toString(16)} / pfn ${pfn} not aligned to the page size`);
    }
    const leaf = LEAF_LEVEL[size];
    let table = root;
    for (let level = 4; level > leaf; level--) table = this.tableBelow(table, va, level);
    const w = entryWord(table, levelIndex(va, leaf));
    let flags = flagsLo | _PAGE_PRESENT;
    if (size !== SIZE_4K) flags = pgprot4kToLarge(flags) | _PAGE_PSE;
    this.ops.setPte(w, mkPteLo(pfn, flags), mkPteHi(pfn, nx));
  }

  /** Map `nrPages` consecutive 4 KiB pages from va to consecutive fresh frames. Returns the first pfn. */
  mapFresh(root: number, va: number, nrPages: number, flagsLo: number, nx = true): number {
    const first = this.allocFrame();
    for (let i = 1; i < nrPages; i++) this.allocFrame();
    for (let i = 0; i < nrPages; i++) this.map(root, va + i * 4096, first + i, SIZE_4K, flagsLo, nx);
    return first;
  }

  /**
   * Int32Array index of the `lo` word of va's entry at `level` (4..1), or -1 if a table
   * on the way is missing or a huge leaf ends the walk above `level`.
   */
  entry(root: number, va: number, level: number): number {
    let table = root;
    for (let l = 4; l > level; l--) {
      const w = entryWord(table, levelIndex(va, l));
      const lo = this.ops.lo(w);
      if ((lo & _PAGE_PRESENT) === 0 || (lo & _PAGE_PSE) !== 0) return -1;
      table = ptePfn(lo, this.ops.hi(w));
    }
    return entryWord(table, levelIndex(va, level));
  }

  /** Clear the leaf of `size` mapping va (lo word only, as ptep_get_and_clear). */
  unmap(root: number, va: number, size: number): void {
    const w = this.entry(root, va, LEAF_LEVEL[size]);
    if (w < 0) throw new RangeError(`unmap: nothing mapped at 0x${va.toString(16)}`);
    this.ops.ptepGetAndClear(w);
  }

  private tableBelow(table: number, va: number, level: number): number {
    const w = entryWord(table, levelIndex(va, level));
    const lo = this.ops.lo(w);
    if ((lo & _PAGE_PRESENT) !== 0) {
      if ((lo & _PAGE_PSE) !== 0) throw new RangeError(`map: a huge page already covers 0x${va.toString(16)}`);
      return ptePfn(lo, this.ops.hi(w));
    }
    const pfn = this.allocFrame();
    this.ops.setPte(w, mkPteLo(pfn, _PAGE_TABLE), mkPteHi(pfn, false));
    return pfn;
  }
}
