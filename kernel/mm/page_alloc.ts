// The buddy page allocator and the per-frame metadata (Linux's struct page, as parallel
// typed arrays). Compare mm/page_alloc.c: free lists per order, a block's buddy is
// pfn ^ (1 << order), freeing merges with a free buddy of the same order. allocPages is
// the one entry point for every frame the kernel takes (alloc_pages): failure injection
// is there, and reclaim will be.
//
// Per frame, 24 bytes (the DESIGN budget), kernel-private (no other thread reads them):
//
//   flags     u16   PG_* below, all 16 bits used
//   link      3 x u16, packed:
//               word 0  next pfn, low 16 bits      word 1  prev pfn, low 16 bits
//               word 2  bits 0-4 next pfn high, 5-9 prev pfn high, 10-14 order,
//                       15 zeroed while free (prezeroOne)
//             the list a frame is on: a free block's buddy list, an allocated folio's LRU
//             list (as struct page's lru serves both); pfn 0 is reserved and means
//             "none"; 21 bits reach 8 GiB of frames (--mem stops at 4)
//   refcount  i32   references to the block (head frame)
//   mapcount  i32   page-table entries that map it (head frame for a THP)
//   owner     i32   reverse map: an anon_vma id (PG_ANON) or a page cache's inode number
//   index     i32   reverse map: the page's index in its owner, low 32 bits
//
// Frame 0 is reserved, and so are frames the caller marks reserved at boot. The shared
// zero page is allocated here once and never freed.

import type { PhysMem } from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { FailPageAlloc } from './fail_page_alloc.ts';
import type { Kmm } from './kmm.ts';

export const MAX_ORDER = 18;

/** Frame flags. */
export const PG_BUDDY = 1 << 0; // head of a free block (order in the link word)
export const PG_RESERVED = 1 << 1; // never allocated or freed
export const PG_PGTABLE = 1 << 2; // a page-table page
export const PG_ANON = 1 << 3; // anonymous memory
/**
 * Mapped only by special PTEs: the shared zero page and reference pages. vm_normal_page()
 * gives NULL for them: no refcount, mapcount or RSS per mapping, whatever the number of PTEs.
 */
export const PG_SPECIAL = 1 << 4;
export const PG_SHMEM = 1 << 5; // shared anonymous memory (shmem)
export const PG_HEAD = 1 << 6; // first frame of an allocated block (order in the link word)
export const PG_DIRTY = 1 << 7; // the page's data is dirty (folio dirty), beyond any PTE's D bit
/**
 * PageAnonExclusive: an anonymous page (the head, for a huge one) that only one mm maps and
 * no fork shares: a write fault may reuse it without asking the refcount. Set for a new page
 * and a COW copy or reuse, cleared when fork shares it. A writable anonymous PTE implies it.
 */
export const PG_ANON_EXCLUSIVE = 1 << 8;
/** On an LRU list (the list follows from PG_ACTIVE, PG_MLOCKED and the page's kind). */
export const PG_LRU = 1 << 9;
export const PG_ACTIVE = 1 << 10;
/** Referenced once more since reclaim last looked (second chance, folio_check_references). */
export const PG_REFERENCED = 1 << 11;
/** Was active before it was deactivated or evicted (workingset detection). */
export const PG_WORKINGSET = 1 << 12;
/** In the swap cache: a swap slot holds (or will hold) its content (SwapInfo.slotOf). */
export const PG_SWAPCACHE = 1 << 13;
/** Mapped by a VM_LOCKED VMA: on the unevictable list, never reclaimed. */
export const PG_MLOCKED = 1 << 14;
/** MADV_FREE'd anonymous page: not swap-backed, dropped by reclaim while clean (!PG_swapbacked). */
export const PG_LAZYFREE = 1 << 15;

// The LRU lists (enum lru_list). "Anon" means swap-backed: anonymous memory and shmem/tmpfs
// pages; lazily freed anonymous pages sit on the file lists, as Linux's do.
export const LRU_INACTIVE_ANON = 0;
export const LRU_ACTIVE_ANON = 1;
export const LRU_INACTIVE_FILE = 2;
export const LRU_ACTIVE_FILE = 3;
export const LRU_UNEVICTABLE = 4;
export const NR_LRU_LISTS = 5;

// Allocation flags (gfp_t): what an allocation is for and what the allocator may do for it.

/** Zero the block (__GFP_ZERO). */
export const __GFP_ZERO = 1 << 0;
/** Kernel data: page tables, page-cache pages a syscall needs (GFP_KERNEL). */
export const GFP_KERNEL = 0;
/** A page a user fault maps: reclaim and the OOM killer may act for it (GFP_HIGHUSER_MOVABLE). */
export const GFP_USER = 1 << 1;
/** Huge pages: give up at once rather than reclaim (the THP fault's __GFP_NORETRY). */
export const __GFP_NORETRY = 1 << 2;

/**
 * The zone's watermarks in pages (setup_per_zone_wmarks, from min_free_kbytes and
 * watermark_scale_factor): kswapd wakes below low and sleeps above high; below min a user
 * page is not handed out but reclaimed for (direct reclaim) by the caller's fault path.
 */
export class Watermarks {
  min = 0;
  low = 0;
  high = 0;
  /** vm.min_free_kbytes and vm.watermark_scale_factor. */
  minFreeKbytes = 0;
  scaleFactor = 10;

  /** calculate_min_free_kbytes for `managed` pages: int_sqrt(lowmem_kbytes * 16), in [128, 262144] KiB. */
  static defaultMinFreeKbytes(managed: number): number {
    return Math.min(262144, Math.max(128, Math.floor(Math.sqrt(managed * 4 * 16))));
  }

  /** __setup_per_zone_wmarks for one zone of `managed` pages. */
  setup(managed: number): void {
    this.min = Math.floor(this.minFreeKbytes / 4);
    const delta = Math.max(Math.floor(this.min / 4), Math.floor(managed * this.scaleFactor / 10000));
    this.low = this.min + delta;
    this.high = this.min + 2 * delta;
  }
}

/** Most frames the 21-bit links reach. */
const MAX_FRAMES = 1 << 21;
const NONE = 0;
/** Link word 2's mark of a free frame zeroed since it was freed (prezeroOne). */
const ZEROED = 0x8000;
/** How far ahead of order-0 allocations idle time zeroes frames. */
const PREZERO_AHEAD = 16;

/**
 * alloc_pages: 2^order contiguous frames with refcount 1 (zeroed with __GFP_ZERO), or -1
 * if none could be had (the caller turns that into ENOMEM, SIGBUS or an OOM kill). The one
 * way the kernel takes frames.
 */
export function allocPages(k: Kmm, order: number, gfp: number): number {
  if (k.pages.fail.shouldFail()) return -1;
  const pages = k.pages;
  const n = 1 << order;
  const wm = pages.wmark;
  // No allocation takes the reserve below min but reclaim's own (PF_MEMALLOC): the caller
  // fails, and where nothing is half done (a fault, between the pages of a populate loop, a
  // system call's entry) reclaims and tries again.
  if (pages.nrFree - n < wm.min && !k.reclaim.reserveOk) {
    k.reclaim.wakeKswapd();
    return -1;
  }
  const pfn = pages.takeBlock(order, (gfp & __GFP_ZERO) !== 0);
  if (pages.nrFree < wm.low) k.reclaim.wakeKswapd();
  return pfn;
}

export class PageAllocator {
  readonly mem: PhysMem;
  readonly nrFrames: number;
  readonly flags: Uint16Array;
  readonly refcount: Int32Array;
  readonly mapcount: Int32Array;
  /** Reverse-map owner and index of an allocated frame (see the header). */
  readonly rmapOwner: Int32Array;
  readonly rmapIndex: Int32Array;
  /** Packed list links and order (see the header). */
  private readonly link: Uint16Array;
  private readonly freeHead = new Int32Array(MAX_ORDER + 1).fill(NONE);
  private readonly freeCount = new Float64Array(MAX_ORDER + 1);
  /** Free frames (all orders). */
  nrFree = 0;
  /** Frames handed out and returned since boot (/proc/vmstat pgalloc_normal and pgfree). */
  pgalloc = 0;
  pgfree = 0;
  /** The shared zero page. */
  readonly zeroPfn: number;
  /** Pages handed out zeroed since boot (__GFP_ZERO), for modeled time (kernel/timing.ts). */
  zeroedPages = 0;
  readonly fail = new FailPageAlloc();
  readonly wmark = new Watermarks();
  /** The LRU lists (one lruvec: one node, no memory cgroups): head, tail, pages on each. */
  private readonly lruHead = new Int32Array(NR_LRU_LISTS);
  private readonly lruTail = new Int32Array(NR_LRU_LISTS);
  readonly lruPages = new Float64Array(NR_LRU_LISTS);
  /** Pages with PG_MLOCKED (meminfo Mlocked). */
  mlocked = 0;
  /** The free lists changed since prezeroOne last found nothing to do. */
  private freeListsMoved = true;

  constructor(mem: PhysMem) {
    this.mem = mem;
    this.nrFrames = mem.nrFrames;
    const n = this.nrFrames;
    if (n > MAX_FRAMES) throw new KernelBug(`page allocator: ${n} frames, the links reach ${MAX_FRAMES}`);
    this.flags = new Uint16Array(n);
    this.refcount = new Int32Array(n);
    this.mapcount = new Int32Array(n);
    this.rmapOwner = new Int32Array(n);
    this.rmapIndex = new Int32Array(n);
    this.link = new Uint16Array(3 * n);
    this.flags[0] = PG_RESERVED;
    // Hand every frame but 0 to the free lists in maximal aligned blocks.
    let pfn = 1;
    while (pfn < n) {
      let order = 0;
      while (order < MAX_ORDER && pfn % (2 << order) === 0 && pfn + (2 << order) <= n) order++;
      this.pushFree(pfn, order);
      pfn += 1 << order;
    }
    const zero = this.takeBlock(0);
    if (zero < 0) throw new KernelBug('page allocator: no memory for the zero page');
    this.zeroPfn = zero;
    this.flags[zero] |= PG_SPECIAL | PG_RESERVED;
    mem.zeroFrame(zero);
    this.wmark.minFreeKbytes = Watermarks.defaultMinFreeKbytes(this.nrFree);
    this.wmark.setup(this.nrFree);
  }

  /** Bytes of metadata per frame, from the arrays themselves (DESIGN's target is 24 at most). */
  get metadataBytesPerFrame(): number {
    const arrays = [this.flags, this.refcount, this.mapcount, this.rmapOwner, this.rmapIndex, this.link];
    return arrays.reduce((sum, a) => sum + a.byteLength, 0) / this.nrFrames;
  }

  /** The order of the block whose head (or free head) is pfn. */
  orderOf(pfn: number): number {
    return (this.link[3 * pfn + 2] >>> 10) & 0x1f;
  }

  private setOrder(pfn: number, order: number): void {
    const i = 3 * pfn + 2;
    this.link[i] = (this.link[i] & (0x3ff | ZEROED)) | (order << 10);
  }

  private next(pfn: number): number {
    return this.link[3 * pfn] | ((this.link[3 * pfn + 2] & 0x1f) << 16);
  }

  private prev(pfn: number): number {
    return this.link[3 * pfn + 1] | (((this.link[3 * pfn + 2] >>> 5) & 0x1f) << 16);
  }

  private setNext(pfn: number, to: number): void {
    this.link[3 * pfn] = to & 0xffff;
    this.link[3 * pfn + 2] = (this.link[3 * pfn + 2] & ~0x1f) | ((to >>> 16) & 0x1f);
  }

  private setPrev(pfn: number, to: number): void {
    this.link[3 * pfn + 1] = to & 0xffff;
    this.link[3 * pfn + 2] = (this.link[3 * pfn + 2] & ~(0x1f << 5)) | (((to >>> 16) & 0x1f) << 5);
  }

  /**
   * The buddy allocator itself: 2^order contiguous frames, refcount 1, zeroed if `zero`
   * (frames zeroed in idle time are not zeroed again), else contents undefined; -1 if no
   * block is free. Everything but boot goes through allocPages.
   */
  takeBlock(order: number, zero = false): number {
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
    this.setOrder(pfn, order);
    this.pgalloc += 1 << order;
    this.refcount[pfn] = 1;
    this.mapcount[pfn] = 0;
    this.rmapOwner[pfn] = 0;
    this.rmapIndex[pfn] = 0;
    this.setNext(pfn, NONE);
    this.setPrev(pfn, NONE);
    // Allocated frames may be written: none keeps its zeroed mark.
    for (let i = 0, l = 3 * pfn + 2; i < 1 << order; i++, l += 3) {
      if ((this.link[l] & ZEROED) !== 0) this.link[l] &= ~ZEROED;
      else if (zero) this.mem.zeroFrame(pfn + i);
    }
    // Modeled time charges every page asked for zeroed, whether idle time zeroed it already
    // or not (which depends on the host's timing).
    if (zero) this.zeroedPages += 1 << order;
    return pfn;
  }

  /**
   * Idle work (the kernel loop calls it when nothing is posted): zero the first of the next
   * PREZERO_AHEAD free frames, in the order order-0 allocations will take them, that is not
   * zeroed yet, and mark it, so a fault that wants a zeroed page finds it done. Which frame
   * is handed out when does not change. False if all of them are zeroed already.
   */
  prezeroOne(): boolean {
    if (!this.freeListsMoved) return false; // an idle loop that allocates nothing pays nothing
    let n = 0;
    for (let o = 0; o <= MAX_ORDER; o++) {
      for (let p = this.freeHead[o]; p !== NONE; p = this.next(p)) {
        for (let i = 0, l = 3 * p + 2; i < 1 << o; i++, l += 3) {
          if ((this.link[l] & ZEROED) === 0) {
            this.mem.zeroFrame(p + i);
            this.link[l] |= ZEROED;
            return true;
          }
          if (++n === PREZERO_AHEAD) {
            this.freeListsMoved = false;
            return false;
          }
        }
      }
    }
    this.freeListsMoved = false;
    return false;
  }

  /** True if free frame pfn was zeroed in idle time (prezeroOne) and not handed out since. */
  prezeroed(pfn: number): boolean {
    return (this.link[3 * pfn + 2] & ZEROED) !== 0;
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
    const order = this.orderOf(head);
    const flags = this.flags[head];
    const owner = this.rmapOwner[head];
    const idx = this.rmapIndex[head];
    for (let i = 0; i < 1 << order; i++) {
      const pfn = head + i;
      this.flags[pfn] = flags;
      this.setOrder(pfn, 0);
      this.refcount[pfn] = this.refcount[head];
      this.mapcount[pfn] = this.mapcount[head];
      this.rmapOwner[pfn] = owner;
      this.rmapIndex[pfn] = (idx + i) | 0;
      // lru_add_split_folio: each new page follows the one before it on the head's list.
      if (i > 0 && (flags & PG_LRU) !== 0) this.linkAfter(pfn - 1, pfn, this.lruOf(head));
    }
  }

  /**
   * The inverse of splitBlock: the 2^order single frames from head, which were one block
   * split by splitBlock, become that block again, with the head's flags, references and
   * mapcount; the caller makes sure those describe the whole block.
   */
  joinBlock(head: number, order: number): void {
    const onLru = (this.flags[head] & PG_LRU) !== 0;
    if (onLru) this.lruDel(head);
    for (let i = 1; i < 1 << order; i++) {
      const pfn = head + i;
      if (this.orderOf(pfn) !== 0 || (this.flags[pfn] & PG_HEAD) === 0) throw new KernelBug(`joinBlock: frame ${pfn} is not a single allocated frame`);
      if ((this.flags[pfn] & PG_LRU) !== 0) this.lruDel(pfn);
      if ((this.flags[pfn] & PG_MLOCKED) !== 0) this.mlocked--;
      this.flags[pfn] = 0;
      this.refcount[pfn] = 0;
      this.mapcount[pfn] = 0;
    }
    this.setOrder(head, order);
    if ((this.flags[head] & PG_MLOCKED) !== 0) this.mlocked += (1 << order) - 1;
    if (onLru) this.lruAdd(head);
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
    if (--this.refcount[pfn] === 0) {
      // __folio_put: off its LRU list first.
      if ((this.flags[pfn] & PG_LRU) !== 0) this.lruDel(pfn);
      if ((this.flags[pfn] & PG_MLOCKED) !== 0) this.mlocked -= 1 << this.orderOf(pfn);
      this.freePages(pfn, this.orderOf(pfn));
    }
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
      if (buddy >= this.nrFrames || (this.flags[buddy] & PG_BUDDY) === 0 || this.orderOf(buddy) !== o) break;
      this.unlinkFree(buddy, o);
      p = Math.min(p, buddy);
      o++;
    }
    this.pushFree(p, o);
  }

  // --- the LRU lists ---------------------------------------------------------------------------

  /** The list a folio belongs on by its flags (folio_lru_list). */
  lruOf(pfn: number): number {
    const f = this.flags[pfn];
    if ((f & PG_MLOCKED) !== 0) return LRU_UNEVICTABLE;
    const file = (f & PG_LAZYFREE) !== 0 ? 2 : 0;
    return file + ((f & PG_ACTIVE) !== 0 ? 1 : 0);
  }

  /** lruvec_add_folio: on the head of its list (the end reclaim takes last). */
  lruAdd(pfn: number): void {
    if ((this.flags[pfn] & PG_LRU) !== 0) throw new KernelBug(`lruAdd: frame ${pfn} is on an LRU list already`);
    const lru = this.lruOf(pfn);
    this.flags[pfn] |= PG_LRU;
    const head = this.lruHead[lru];
    this.setNext(pfn, head);
    this.setPrev(pfn, NONE);
    if (head !== NONE) this.setPrev(head, pfn);
    else this.lruTail[lru] = pfn;
    this.lruHead[lru] = pfn;
    this.lruPages[lru] += 1 << this.orderOf(pfn);
  }

  /** lruvec_del_folio: off its list (flags unchanged but PG_LRU). */
  lruDel(pfn: number): void {
    if ((this.flags[pfn] & PG_LRU) === 0) throw new KernelBug(`lruDel: frame ${pfn} is on no LRU list`);
    this.unlink(pfn, this.lruOf(pfn));
    this.flags[pfn] &= ~PG_LRU;
  }

  /** The folio at the tail of `lru` (the one reclaim looks at next), or 0 if it is empty. */
  lruTailOf(lru: number): number {
    return this.lruTail[lru];
  }

  /** The folio before pfn on its list (towards the head), or 0. */
  lruPrev(pfn: number): number {
    return this.prev(pfn);
  }

  /** The folio after pfn on its list (towards the tail), or 0. */
  lruNext(pfn: number): number {
    return this.next(pfn);
  }

  /** The first folio (head) of `lru`, or 0. */
  lruHeadOf(lru: number): number {
    return this.lruHead[lru];
  }

  private unlink(pfn: number, lru: number): void {
    const n = this.next(pfn);
    const p = this.prev(pfn);
    if (p !== NONE) this.setNext(p, n);
    else this.lruHead[lru] = n;
    if (n !== NONE) this.setPrev(n, p);
    else this.lruTail[lru] = p;
    this.setNext(pfn, NONE);
    this.setPrev(pfn, NONE);
    this.lruPages[lru] -= 1 << this.orderOf(pfn);
  }

  /** Link pfn (a page split off a folio, order 0 now) right after `after` on list `lru`. */
  private linkAfter(after: number, pfn: number, lru: number): void {
    const n = this.next(after);
    this.setNext(after, pfn);
    this.setPrev(pfn, after);
    this.setNext(pfn, n);
    if (n !== NONE) this.setPrev(n, pfn);
    else this.lruTail[lru] = pfn;
  }

  /** Free blocks per order (for /proc/buddyinfo and tests). */
  buddyInfo(): number[] {
    return Array.from(this.freeCount);
  }

  private pushFree(pfn: number, order: number): void {
    this.flags[pfn] = PG_BUDDY;
    this.setOrder(pfn, order);
    this.refcount[pfn] = 0;
    const head = this.freeHead[order];
    this.setNext(pfn, head);
    this.setPrev(pfn, NONE);
    if (head !== NONE) this.setPrev(head, pfn);
    this.freeHead[order] = pfn;
    this.freeCount[order]++;
    this.nrFree += 1 << order;
    this.freeListsMoved = true;
  }

  private unlinkFree(pfn: number, order: number): void {
    const n = this.next(pfn);
    const p = this.prev(pfn);
    if (p !== NONE) this.setNext(p, n);
    else this.freeHead[order] = n;
    if (n !== NONE) this.setPrev(n, p);
    this.flags[pfn] &= ~PG_BUDDY;
    this.freeCount[order]--;
    this.nrFree -= 1 << order;
    this.freeListsMoved = true;
  }
}
