// Virtual memory areas and the per-mm VMA index.
//
// The index is a sorted array with binary search: O(log n) find and intersection, O(n)
// insert and remove. It is the first VMA tree; the B-tree (maple-tree-like) index comes with
// the VMA engine, behind the same methods.

export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_LOCKED = 0x2000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

/** Shared anonymous memory (shmem): the pages behind MAP_SHARED|MAP_ANONYMOUS VMAs. */
export class ShmemObject {
  /** Page index -> frame. */
  readonly pages = new Map<number, number>();
  /** VMAs referring to this object. */
  refs = 1;
}

export class Vma {
  start: number;
  end: number;
  flags: number;
  /** Page offset into `shmem` (anonymous private: start >> 12, as Linux sets it). */
  pgoff: number;
  shmem: ShmemObject | null;

  constructor(start: number, end: number, flags: number, pgoff: number, shmem: ShmemObject | null) {
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.shmem = shmem;
  }
}

export class VmaTree {
  private readonly vmas: Vma[] = [];

  get count(): number {
    return this.vmas.length;
  }

  /** Index of the first VMA whose end is above addr (or count). */
  private lowerBound(addr: number): number {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vmas[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The VMA containing addr, or null. */
  find(addr: number): Vma | null {
    const i = this.lowerBound(addr);
    const v = this.vmas[i];
    return v !== undefined && v.start <= addr ? v : null;
  }

  /** The first VMA ending above addr (find_vma), or null. */
  findNext(addr: number): Vma | null {
    return this.vmas[this.lowerBound(addr)] ?? null;
  }

  /** The last VMA ending at or below addr, or null. */
  findPrev(addr: number): Vma | null {
    const i = this.lowerBound(addr + 1);
    const v = this.vmas[i];
    if (v !== undefined && v.start <= addr) return this.vmas[i - 1] ?? null;
    return this.vmas[i - 1] ?? null;
  }

  /** VMAs intersecting [start, end), in order. */
  intersecting(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.lowerBound(start); i < this.vmas.length && this.vmas[i].start < end; i++) out.push(this.vmas[i]);
    return out;
  }

  insert(v: Vma): void {
    const i = this.lowerBound(v.start);
    const next = this.vmas[i];
    if (next !== undefined && next.start < v.end) throw new Error(`VmaTree: [${v.start.toString(16)}, ${v.end.toString(16)}) overlaps an existing VMA`);
    this.vmas.splice(i, 0, v);
  }

  remove(v: Vma): void {
    const i = this.lowerBound(v.start);
    if (this.vmas[i] !== v) throw new Error('VmaTree: removing a VMA that is not in the tree');
    this.vmas.splice(i, 1);
  }

  all(): readonly Vma[] {
    return this.vmas;
  }

  /**
   * Highest gap of `len` bytes inside [low, high) (top-down get_unmapped_area), leaving
   * `guard` bytes below every VMA above it. Returns the start, or -1.
   */
  gapTopDown(len: number, low: number, high: number): number {
    let top = high;
    for (let i = this.vmas.length - 1; i >= -1; i--) {
      const v = this.vmas[i];
      const below = v === undefined ? low : Math.max(low, v.end);
      if (v !== undefined && v.start >= top) continue;
      const hi = Math.min(top, high);
      if (hi - below >= len) return hi - len;
      if (v === undefined) break;
      top = v.start;
      if (top <= low) break;
    }
    return -1;
  }
}
