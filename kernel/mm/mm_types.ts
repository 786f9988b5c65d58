// Virtual memory areas: flags, the page caches they map. The per-mm index is vmatree.ts.

import type { Mm } from './mm.ts';
import type { RefPage } from './refpage.ts';
import type { HugetlbMapping } from './hugetlb.ts';
import type { AnonVma } from './anon_vma.ts';
import type { AddressSpace } from './filemap.ts';

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
   * The anon_vma of the anonymous pages this VMA creates (null until the first one; see
   * anon_vma.ts), and every anon_vma whose pages it may map, its own first.
   */
  anonVma: AnonVma | null = null;
  readonly anonVmaChain: AnonVma[] = [];
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
