// The buddy page allocator and the per-frame metadata (Linux's struct page, as parallel
// typed arrays). Compare mm/page_alloc.c: free lists per order, a block's buddy is
// pfn ^ (1 << order), freeing merges with a free buddy of the same order.
//
// Per frame: flags (u8), order (u8), refcount (i32), mapcount (i32), list links (2 x i32):
// 18 bytes (DESIGN target: <= 24). Kernel-private; no other thread reads these.
//
// Frame 0 is reserved (pfn 0 means "none" in places), and so are frames the caller marks
// reserved at boot. The shared zero page is allocated here once and never freed.

import type { PhysMem } from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';

export const MAX_ORDER = 18;

/** Frame flags. */
export const PG_BUDDY = 1 << 0; // head of a free block (order in `order`)
export const PG_RESERVED = 1 << 1; // never allocated or freed
export const PG_PGTABLE = 1 << 2; // a page-table page
export const PG_ANON = 1 << 3; // anonymous memory
/**
 * Mapped only by special PTEs: the shared zero page and reference pages. vm_normal_page()
 * gives NULL for them: no refcount, mapcount or RSS per mapping, whatever the number of PTEs.
 */
export const PG_SPECIAL = 1 << 4;
export const PG_SHMEM = 1 << 5; // shared anonymous memory (shmem)
export const PG_HEAD = 1 << 6; // first frame of an allocated block (order in `order`)
export const PG_DIRTY = 1 << 7; // the page's data is dirty (folio dirty), beyond any PTE's D bit

const NONE = -1;

export class PageAllocator {
  readonly mem: PhysMem;
  readonly nrFrames: number;
  readonly flags: Uint8Array;
  readonly order: Uint8Array;
  readonly refcount: Int32Array;
  readonly mapcount: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly freeHead = new Int32Array(MAX_ORDER + 1).fill(NONE);
  private readonly freeCount = new Float64Array(MAX_ORDER + 1);
  /** Free frames (all orders). */
  nrFree = 0;
  /** Frames handed out and returned since boot (/proc/vmstat pgalloc_normal and pgfree). */
  pgalloc = 0;
  pgfree = 0;
  /** The shared zero page. */
  readonly zeroPfn: number;
  /**
   * Failure injection (tests): when >= 0, the number of allocations that still succeed;
   * every allocation after that fails as if memory were exhausted.
   */
  failAfter = -1;

  constructor(mem: PhysMem) {
    this.mem = mem;
    this.nrFrames = mem.nrFrames;
    const n = this.nrFrames;
    this.flags = new Uint8Array(n);
    this.order = new Uint8Array(n);
    this.refcount = new Int32Array(n);
    this.mapcount = new Int32Array(n);
    this.next = new Int32Array(n).fill(NONE);
    this.prev = new Int32Array(n).fill(NONE);
    this.flags[0] = PG_RESERVED;
    // Hand every frame but 0 to the free lists in maximal aligned blocks.
    let pfn = 1;
    while (pfn < n) {
      let order = 0;
      while (order < MAX_ORDER && pfn % (2 << order) === 0 && pfn + (2 << order) <= n) order++;
      this.pushFree(pfn, order);
      pfn += 1 << order;
    }
    const zero = this.allocPages(0);
    if (zero < 0) throw new KernelBug('page allocator: no memory for the zero page');
    this.zeroPfn = zero;
    this.flags[zero] |= PG_SPECIAL | PG_RESERVED;
    mem.zeroFrame(zero);
  }

  /** Bytes of metadata per frame (for the DESIGN target). */
  static readonly METADATA_BYTES_PER_FRAME = 1 + 1 + 4 + 4 + 4 + 4;

  /**
   * Allocate 2^order contiguous frames, refcount 1, contents undefined. Returns the first
   * pfn, or -1 if no block is free (the caller turns that into ENOMEM or an OOM kill).
   */
  allocPages(order: number): number {
    if (this.failAfter >= 0 && this.failAfter-- === 0) {
      this.failAfter = 0;
      return -1;
    }
    let o = order;
    while (o <= MAX_ORDER && this.freeHead[o] === NONE) o++;
    if (o > MAX_ORDER) return -1;
    const pfn = this.freeHead[o];
    this.unlinkFree(pfn, o);
    while (o > order) {
      o--;
      this.pushFree(pfn + (1 << o), o);
    }
    this.flags[pfn] = PG_HEAD;
    this.order[pfn] = order;
    this.pgalloc += 1 << order;
    this.refcount[pfn] = 1;
    this.mapcount[pfn] = 0;
    this.next[pfn] = 0;
    this.prev[pfn] = 0;
    return pfn;
  }

  /** allocPages, then zero the block. */
  allocZeroed(order: number): number {
    const pfn = this.allocPages(order);
    if (pfn >= 0) this.mem.zeroFrames(pfn, 1 << order);
    return pfn;
  }

  /** The zero page or a reference page: a PTE to it holds no count (!vm_normal_page). */
  isSpecial(pfn: number): boolean {
    return (this.flags[pfn] & PG_SPECIAL) !== 0;
  }

  /**
   * split_page for a huge folio: the allocated block at head becomes 2^order blocks of one
   * frame, each with the head's flags, one reference and the head's mapcount, and the rmap
   * index of its own page.
   */
  splitBlock(head: number): void {
    const order = this.order[head];
    const flags = this.flags[head];
    const owner = this.rmapOwner[head];
    const idx = this.rmapIndex[head];
    for (let i = 0; i < 1 << order; i++) {
      const pfn = head + i;
      this.flags[pfn] = flags;
      this.order[pfn] = 0;
      this.refcount[pfn] = this.refcount[head];
      this.mapcount[pfn] = this.mapcount[head];
      this.rmapOwner[pfn] = owner;
      this.rmapIndex[pfn] = (idx + i) | 0;
    }
  }

  /** Take a reference on an allocated block (get_page). */
  getPage(pfn: number): void {
    if (this.refcount[pfn] <= 0 || (this.flags[pfn] & PG_HEAD) === 0) throw new KernelBug(`getPage: frame ${pfn} is not allocated`);
    this.refcount[pfn]++;
  }

  /** Drop a reference (put_page); the block is freed when the last one goes. */
  putPage(pfn: number): void {
    if ((this.flags[pfn] & PG_RESERVED) !== 0) return;
    if (this.refcount[pfn] <= 0 || (this.flags[pfn] & PG_HEAD) === 0) throw new KernelBug(`putPage: frame ${pfn} is not allocated (refcount ${this.refcount[pfn]})`);
    if (--this.refcount[pfn] === 0) this.freePages(pfn, this.order[pfn]);
  }

  /** Return a block to the buddy lists, merging with free buddies. */
  freePages(pfn: number, order: number): void {
    if ((this.flags[pfn] & (PG_BUDDY | PG_RESERVED)) !== 0) throw new KernelBug(`freePages: frame ${pfn} is free or reserved`);
    if (this.mapcount[pfn] !== 0) throw new KernelBug(`freePages: frame ${pfn} is still mapped ${this.mapcount[pfn]} times`);
    this.refcount[pfn] = 0;
    this.pgfree += 1 << order;
    let p = pfn;
    let o = order;
    while (o < MAX_ORDER) {
      const buddy = p ^ (1 << o);
      if (buddy >= this.nrFrames || (this.flags[buddy] & PG_BUDDY) === 0 || this.order[buddy] !== o) break;
      this.unlinkFree(buddy, o);
      p = Math.min(p, buddy);
      o++;
    }
    this.pushFree(p, o);
  }

  /**
   * Reverse-map fields of an allocated frame, in the storage of its free-list links (as
   * struct page's mapping and index share theirs with lru): the owner (an anon_vma
   * identity for anonymous pages, a page cache's inode number for cache pages) and the low
   * 32 bits of the page's index in it. 0 owner: none.
   */
  get rmapOwner(): Int32Array {
    return this.next;
  }

  get rmapIndex(): Int32Array {
    return this.prev;
  }

  /** Free blocks per order (for /proc/buddyinfo and tests). */
  buddyInfo(): number[] {
    return Array.from(this.freeCount);
  }

  private pushFree(pfn: number, order: number): void {
    this.flags[pfn] = PG_BUDDY;
    this.order[pfn] = order;
    this.refcount[pfn] = 0;
    const head = this.freeHead[order];
    this.next[pfn] = head;
    this.prev[pfn] = NONE;
    if (head !== NONE) this.prev[head] = pfn;
    this.freeHead[order] = pfn;
    this.freeCount[order]++;
    this.nrFree += 1 << order;
  }

  private unlinkFree(pfn: number, order: number): void {
    const n = this.next[pfn];
    const p = this.prev[pfn];
    if (p !== NONE) this.next[p] = n;
    else this.freeHead[order] = n;
    if (n !== NONE) this.prev[n] = p;
    this.flags[pfn] &= ~PG_BUDDY;
    this.freeCount[order]--;
    this.nrFree -= 1 << order;
  }
}
