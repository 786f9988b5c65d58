// Virtual memory areas: flags, the page caches they map. The per-mm index is vmatree.ts.

import { VmaIntervalTree } from './interval_tree.ts';
import type { Mm } from './mm.ts';
import type { RefPage } from './refpage.ts';
import type { HugetlbMapping } from './hugetlb.ts';

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
export const VM_LOCKONFAULT = 0x80000;
export const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;
export const VM_SEQ_READ = 0x8000;
export const VM_RAND_READ = 0x10000;
export const VM_DONTCOPY = 0x20000;
export const VM_ACCOUNT = 0x100000;
export const VM_SOFTDIRTY = 0x8000000;
export const VM_NORESERVE = 0x200000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
export const VM_DONTEXPAND = 0x40000;
export const VM_HUGETLB = 0x400000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_MERGEABLE = 0x80000000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

let nextIno = 1024;

/**
 * A page cache (struct address_space) of a shmem/tmpfs inode: the frames of the file's
 * pages, its size, and i_mmap, every VMA of every process that maps it. Shared anonymous
 * memory is such a file too ("/dev/zero (deleted)", as Linux's shmem_zero_setup makes it).
 *
 * Lifetime: the pages are freed when nothing holds the object: no VMA maps it and no
 * holder (an inode's link or an open file) is left.
 */
/**
 * What a driver supplies for the mappings of its page cache (vm_operations_struct, the
 * parts ptlab uses). With pageMkwrite, shared writable mappings are write-notified
 * (vma_wants_writenotify): pages are mapped read-only unless writeNotify says otherwise,
 * and the first write to one calls pageMkwrite, after which the fault path makes the PTE
 * writable and dirty itself. There is no fault-around on such mappings (no map_pages).
 */
export interface VmOps {
  /** Called before a write is allowed to page idx; 0, or a negative errno (SIGBUS). */
  pageMkwrite(vma: Vma, idx: number): number;
  /** Whether page idx must be mapped read-only on a read fault (default: yes). */
  writeNotify?(vma: Vma, idx: number): boolean;
  /** Whether page idx exists at all; a fault on one that does not is SIGBUS (default: yes). */
  valid?(idx: number): boolean;
}

export class AddressSpace {
  /** Page index -> frame (each holds one page reference for the cache). */
  readonly pages = new Map<number, number>();
  /** i_size in bytes. */
  size: number;
  /** i_mmap: the VMAs mapping this object (each knows its mm), by page-offset range. */
  readonly mappers = new VmaIntervalTree();
  /** References other than mappings (links, open files). */
  holders = 0;
  /** Inode number and the name /proc/PID/maps shows. */
  readonly ino: number;
  name: string;
  /** Device numbers as maps prints them ("00:01" for the internal shmem mount). */
  readonly dev: string;
  /** The driver's operations for VMAs mapping this (null: plain shmem/tmpfs). */
  vmOps: VmOps | null = null;

  constructor(size: number, name = '/dev/zero (deleted)', dev = '00:01', ino = nextIno++) {
    this.size = size;
    this.name = name;
    this.dev = dev;
    this.ino = ino;
  }

  /** Size in pages (a partial last page counts). */
  get nrPages(): number {
    return Math.ceil(this.size / 4096);
  }
}

/** A new inode number (tmpfs). */
export function allocIno(): number {
  return nextIno++;
}

let nextAnonVma = 1;

/**
 * The anonymous reverse map: each anon_vma identity with the VMAs that carry it (Linux's
 * anon_vma interval tree, flattened: without fork a page is mapped once, so a set is
 * enough). A page's owner and index (PageAllocator.rmapOwner/rmapIndex) lead here.
 */
export const anonVmaTable = new Map<number, Set<Vma>>();

/** Give vma the anon_vma `id` (0: none), keeping anonVmaTable in step. */
export function setAnonVma(vma: Vma, id: number): void {
  if (vma.anonVma === id) return;
  if (vma.anonVma !== 0) {
    const set = anonVmaTable.get(vma.anonVma);
    set?.delete(vma);
    if (set !== undefined && set.size === 0) anonVmaTable.delete(vma.anonVma);
  }
  vma.anonVma = id;
  if (id !== 0) {
    let set = anonVmaTable.get(id);
    if (set === undefined) anonVmaTable.set(id, (set = new Set()));
    set.add(vma);
  }
}

/**
 * anon_vma_prepare: give vma an anon_vma, reusing a neighbour's where find_mergeable_anon_vma
 * would (the next VMA first, then the previous): adjacent, both anonymous, flags equal but
 * for the access bits, and page offsets contiguous (anon_vma_compatible).
 */
export function anonVmaPrepare(vma: Vma, prev: Vma | null, next: Vma | null): void {
  if (vma.anonVma !== 0) return;
  const compatible = (a: Vma, b: Vma) =>
    a.end === b.start && a.shmem === b.shmem && a.refpage === b.refpage && ((a.flags ^ b.flags) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY)) === 0 &&
    b.pgoff === a.pgoff + (b.start - a.start) / 4096;
  if (next !== null && next.anonVma !== 0 && compatible(vma, next)) {
    setAnonVma(vma, next.anonVma);
    return;
  }
  if (prev !== null && prev.anonVma !== 0 && compatible(prev, vma)) {
    setAnonVma(vma, prev.anonVma);
    return;
  }
  setAnonVma(vma, nextAnonVma++);
}

/** What a process VMA needs of an mshare region (kernel/mshare.ts implements it). */
export interface MshareLink {
  readonly hostMm: Mm;
  readonly base: number;
  /** Every process VMA mapping the region. */
  readonly mappers: Set<Vma>;
  /** The last process mapping went away. */
  unmapped(): void;
  /** What /proc/PID/maps shows: the region file's path and inode number. */
  readonly path: string;
  readonly ino: number;
}

/** The VMA has a vm_file: a file or shmem object, a reference page's file, or a hugetlbfs file. */
export const vmaHasFile = (v: Vma): boolean => v.shmem !== null || v.refpage !== null || v.hugetlb !== null;

export class Vma {
  start: number;
  end: number;
  flags: number;
  /** Page offset into `shmem` (anonymous private: start >> 12, as Linux sets it). */
  pgoff: number;
  /**
   * The page cache mapped (vm_file's mapping): a tmpfs file, or the shmem object behind
   * shared anonymous memory; null for anonymous memory. Private file mappings have one too.
   */
  shmem: AddressSpace | null;
  /** The mm this VMA belongs to (vm_mm), for reverse mapping; set by linkVma. */
  mm: Mm | null = null;
  /**
   * Identity of the VMA's anon_vma (0: none yet). Set by the first fault that allocates an
   * anonymous page here; kept by splits; two VMAs with different non-zero identities do not
   * merge (is_mergeable_anon_vma).
   */
  anonVma = 0;
  /** mseal(2): VM_SEALED (kept as a field: Linux's bit is above the 32 this index uses). */
  sealed = false;
  /** MAP_DROPPABLE: VM_DROPPABLE (a field for the same reason). */
  droppable = false;
  /** A hugetlb mapping (VM_HUGETLB): its pool, shared pages and reservation. */
  hugetlb: HugetlbMapping | null = null;
  /** A mapping of a reference page's file: anonymous memory whose clean pages are it. */
  refpage: RefPage | null = null;
  /** VM_MSHARE: the mshare region this VMA maps (its page tables are the region's). */
  mshare: MshareLink | null = null;

  constructor(start: number, end: number, flags: number, pgoff: number, shmem: AddressSpace | null) {
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.shmem = shmem;
  }
}
