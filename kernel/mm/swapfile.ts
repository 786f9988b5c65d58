// The swap device (mm/swapfile.c): slots of one swap area, the count of references to
// each (swap_map: swap PTEs and shmem page-cache entries), the SWAP_HAS_CACHE mark of a
// slot whose page is in the swap cache, and the allocator that hands slots out by
// cluster. Also the x86-64 encoding of a swap entry in a PTE, and of a PTE marker (guard
// regions).
//
// The content lives in host memory beside the machine's (chunks of 16 MiB allocated on
// first write), so swap never takes a frame. Slot 0 is the area's header, as in a
// swapfile made by mkswap: never allocated, not counted in SwapTotal.
//
// The allocator follows the cluster allocator of Linux 6.12+ (one CPU): slots are taken in
// order from the current cluster of SWAPFILE_CLUSTER slots; when it is used up, from a
// cluster with free slots left (nonfull), else a free cluster. A cluster whose slots are
// all freed becomes free again. Slots that are near each other in time are near each other
// on the device, which is what swap readahead by offset counts on.

import { _PAGE_GLOBAL, _PAGE_PRESENT } from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import { MAX_SWAP_BYTES } from '../uapi.ts';

export const SWAPFILE_CLUSTER = 512;
const CHUNK_SLOTS = 4096;
const PAGE = 4096;
/** Offsets are 50 bits wide in a swap PTE. */
const OFFSET_MASK = 2 ** 50 - 1;
/** _PAGE_SWP_SOFT_DIRTY (bit 1, _PAGE_RW) and _PAGE_SWP_EXCLUSIVE (bit 3, _PAGE_PWT). */
export const _PAGE_SWP_SOFT_DIRTY = 1 << 1;
export const _PAGE_SWP_EXCLUSIVE = 1 << 3;

// --- swap entries in PTEs (arch/x86/include/asm/pgtable_64.h) ------------------------------------
//
//   bit  63..59   58 ..... 9   8   7   6..4   3   2   1    0
//        type     ~offset      0   0   -      E   F   SD   0 (not present)
//
// The offset is stored inverted (the L1TF mitigation: a stale "frame number" points past
// memory); G (bit 8, PROT_NONE's) and PSE (bit 7) stay clear so the entry is never taken
// for a present or PROT_NONE one.

/** The low word of the swap PTE for (type, offset), with its exclusive and soft-dirty bits. */
export function swpPteLo(offset: number, exclusive: boolean, softDirty: boolean): number {
  const inv = OFFSET_MASK - offset;
  return ((inv % 2 ** 23) * 512 + (exclusive ? _PAGE_SWP_EXCLUSIVE : 0) + (softDirty ? _PAGE_SWP_SOFT_DIRTY : 0)) >>> 0;
}

/** The high word of the swap PTE for (type, offset). */
export function swpPteHi(type: number, offset: number): number {
  const inv = OFFSET_MASK - offset;
  return (Math.floor(inv / 2 ** 23) + type * 2 ** 27) >>> 0;
}

/**
 * is_swap_pte && !is_pte_marker: a swap entry proper, not none, not present, not a
 * PROT_NONE mapping, not a PTE marker. None is decided by the low word alone (a cleared
 * PTE keeps stale high bits, see pagewalk.ts), so a swap PTE must keep a bit set there:
 * the inverted offset's low 23 bits are zero only for offsets of 2^23 - 1 and beyond,
 * which a swap area below MAX_SWAP_BYTES never has.
 */
export function isSwapPte(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_GLOBAL | _PAGE_MARKER)) === 0 && lo !== 0;
}

// --- PTE markers (include/linux/swapops.h: make_pte_marker, is_guard_swp_entry) --------------
//
// A marker is a non-present entry that records something about the page table itself, not
// a page: ptlab has one, PTE_MARKER_GUARD (MADV_GUARD_INSTALL). Linux encodes a marker as a
// swap entry of type SWP_PTE_MARKER (31) whose offset holds the marker bits; ptlab tags it
// with bit 4 (_PAGE_PCD's place, which no swap entry sets), so that the low word alone tells
// a marker from a swap entry and from none, and keeps the marker bits where the offset
// goes. Linux's type and offset are what pagemap shows for it (markerSwpType/Offset).
// A marker may carry _PAGE_SWP_SOFT_DIRTY (mremap sets it on every swap PTE it moves).

/** ptlab's tag of a PTE marker. */
export const _PAGE_MARKER = 1 << 4;
/** PTE_MARKER_GUARD (BIT(2)): a guard region's page; any access is SIGSEGV. */
export const PTE_MARKER_GUARD = 1 << 2;
/** SWP_PTE_MARKER on x86-64 (MAX_SWAPFILES_SHIFT 5: the last type), which pagemap reports. */
export const SWP_PTE_MARKER = 31;

/** make_pte_marker(PTE_MARKER_GUARD): the low word of a guard marker (its high word is 0). */
export const GUARD_PTE_LO = _PAGE_MARKER | (PTE_MARKER_GUARD << 9);

/** is_pte_marker: a PTE marker, whatever it marks. */
export function isPteMarker(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_GLOBAL | _PAGE_MARKER)) === _PAGE_MARKER;
}

/** is_guard_pte_marker: the PTE is a guard marker. */
export function isGuardPte(lo: number): boolean {
  return isPteMarker(lo) && ((lo >>> 9) & PTE_MARKER_GUARD) !== 0;
}

/** The swap offset Linux's encoding of a marker has: its marker bits. */
export function markerSwpOffset(lo: number): number {
  return (lo >>> 9) & 0x7;
}


/** swp_offset of a swap PTE. */
export function swpOffset(lo: number, hi: number): number {
  return OFFSET_MASK - ((lo >>> 9) + (hi & 0x7ffffff) * 2 ** 23);
}

/** swp_type of a swap PTE. */
export function swpType(hi: number): number {
  return hi >>> 27;
}

/** One swap area (struct swap_info_struct). */
export class SwapInfo {
  readonly type: number;
  /** Slots, the header included (si->max). */
  readonly max: number;
  /** References to each slot: swap PTEs and shmem entries (swap_map, less the cache bit). */
  readonly map: Int32Array;
  /** SWAP_HAS_CACHE: the slot's page is in the swap cache. */
  readonly cache: Uint8Array;
  /** Slots in use (inuse_pages): referenced or cached. */
  inuse = 0;
  /** The swap cache: slot -> frame, and frame -> slot (folio->swap). */
  readonly cachePfn = new Map<number, number>();
  readonly slotOf = new Map<number, number>();
  /** Shadow entries of evicted pages (workingset.ts), by slot. */
  readonly shadows = new Map<number, number>();
  /** Name and priority as /proc/swaps shows them. */
  readonly name: string;
  readonly priority: number;
  /** Slots in use per cluster, the current cluster and where to look in it next. */
  private readonly clusterUsed: Uint16Array;
  private cur = -1;
  private next = 0;
  /** Free and nonfull clusters, oldest first, and which list each cluster is on (0 none, 1 free, 2 nonfull). */
  private free: number[] = [];
  private nonfull: number[] = [];
  private readonly clusterList: Uint8Array;
  private readonly chunks: (Uint8Array | undefined)[] = [];

  constructor(type: number, bytes: number, name = '/dev/swap0', priority = -2) {
    this.type = type;
    this.max = Math.floor(bytes / PAGE);
    if (this.max < 2 || bytes > MAX_SWAP_BYTES) throw new KernelBug(`swapon: ${bytes} bytes: from 8 KiB to ${MAX_SWAP_BYTES} bytes`);
    this.map = new Int32Array(this.max);
    this.cache = new Uint8Array(this.max);
    this.name = name;
    this.priority = priority;
    const clusters = Math.ceil(this.max / SWAPFILE_CLUSTER);
    this.clusterUsed = new Uint16Array(clusters);
    this.clusterList = new Uint8Array(clusters);
    // The header slot is used for good; every cluster starts free.
    this.clusterUsed[0] = 1;
    for (let c = 0; c < clusters; c++) this.putCluster(c);
  }

  /** Usable slots (si->pages: SwapTotal). */
  get pages(): number {
    return this.max - 1;
  }

  /** Slots free (SwapFree). */
  get freeSlots(): number {
    return this.pages - this.inuse;
  }

  /** vm_swap_full: more than half the slots in use. */
  full(): boolean {
    return this.inuse * 2 > this.pages;
  }

  /**
   * A free slot for a page entering the swap cache (folio_alloc_swap): its count 0 and
   * SWAP_HAS_CACHE set; -1 if the area is full.
   */
  allocSlot(): number {
    for (;;) {
      if (this.cur >= 0) {
        const end = Math.min(this.max, (this.cur + 1) * SWAPFILE_CLUSTER);
        for (let off = this.next; off < end; off++) {
          if (this.map[off] !== 0 || this.cache[off] !== 0 || off === 0) continue;
          this.next = off + 1;
          this.take(off);
          return off;
        }
        // Used up from `next` on; slots freed behind it make it nonfull.
        const c = this.cur;
        this.cur = -1;
        if (this.clusterUsed[c] < end - c * SWAPFILE_CLUSTER) {
          this.clusterList[c] = 2;
          this.nonfull.push(c);
        }
      }
      const c = this.nonfull.shift() ?? this.free.shift();
      if (c === undefined) return -1;
      this.clusterList[c] = 0;
      this.cur = c;
      this.next = c * SWAPFILE_CLUSTER;
    }
  }

  private take(off: number): void {
    this.cache[off] = 1;
    this.inuse++;
    const c = Math.floor(off / SWAPFILE_CLUSTER);
    this.clusterUsed[c]++;
  }

  /** swap_duplicate: one more reference (a PTE copied by fork, or a new swap PTE). */
  dup(off: number): void {
    if (!this.used(off)) throw new KernelBug(`swap_duplicate: slot ${off} is free`);
    this.map[off]++;
  }

  /** One reference fewer (swap_free); the slot is freed when nothing refers to it or caches it. */
  put(off: number): void {
    if (this.map[off] <= 0) throw new KernelBug(`swap_free: slot ${off} has no reference`);
    this.map[off]--;
    this.maybeFree(off);
  }

  /** The slot's page left the swap cache (clear SWAP_HAS_CACHE). */
  uncache(off: number): void {
    if (this.cache[off] === 0) throw new KernelBug(`swap cache: slot ${off} is not cached`);
    this.cache[off] = 0;
    this.maybeFree(off);
  }

  used(off: number): boolean {
    return off > 0 && off < this.max && (this.map[off] > 0 || this.cache[off] !== 0);
  }

  private maybeFree(off: number): void {
    if (this.map[off] !== 0 || this.cache[off] !== 0) return;
    this.inuse--;
    this.shadows.delete(off);
    const c = Math.floor(off / SWAPFILE_CLUSTER);
    if (--this.clusterUsed[c] === 0 && c !== this.cur) {
      // An empty cluster goes back to the free list (from the nonfull one, if it was there).
      if (this.clusterList[c] === 2) this.nonfull.splice(this.nonfull.indexOf(c), 1);
      this.clusterList[c] = 0;
      this.putCluster(c);
    } else if (this.clusterList[c] === 0 && c !== this.cur) {
      // A full cluster with a slot free again: nonfull.
      this.clusterList[c] = 2;
      this.nonfull.push(c);
    }
  }

  private putCluster(c: number): void {
    const size = Math.min(SWAPFILE_CLUSTER, this.max - c * SWAPFILE_CLUSTER);
    if (this.clusterUsed[c] >= size) return;
    this.clusterList[c] = this.clusterUsed[c] === 0 ? 1 : 2;
    (this.clusterUsed[c] === 0 ? this.free : this.nonfull).push(c);
  }

  /** Write a page's content to slot `off` (swap_writepage). */
  write(off: number, src: Uint8Array): void {
    const i = Math.floor(off / CHUNK_SLOTS);
    const chunk = this.chunks[i] ?? (this.chunks[i] = new Uint8Array(CHUNK_SLOTS * PAGE));
    chunk.set(src, (off % CHUNK_SLOTS) * PAGE);
  }

  /** Read slot `off` into dst (swap_read_folio). */
  read(off: number, dst: Uint8Array): void {
    const chunk = this.chunks[Math.floor(off / CHUNK_SLOTS)];
    if (chunk === undefined) throw new KernelBug(`swap read: slot ${off} was never written`);
    const at = (off % CHUNK_SLOTS) * PAGE;
    dst.set(chunk.subarray(at, at + PAGE));
  }
}
