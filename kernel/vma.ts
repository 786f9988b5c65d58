// Virtual memory areas: flags, shmem objects. The per-mm index is vmatree.ts.

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
export const VM_NORESERVE = 0x200000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_MERGEABLE = 0x80000000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

let nextShmemIno = 1024;

/** Shared anonymous memory (shmem): the pages behind MAP_SHARED|MAP_ANONYMOUS VMAs. */
export class ShmemObject {
  /** Page index -> frame. */
  readonly pages = new Map<number, number>();
  /** Size in pages (the shmem file's size: the length of the mmap that made it). */
  readonly size: number;
  /** VMAs referring to this object. */
  refs = 1;
  /** Inode number (shown in /proc/PID/maps). */
  readonly ino = nextShmemIno++;

  constructor(size: number) {
    this.size = size;
  }
}

let nextAnonVma = 1;

/**
 * anon_vma_prepare: give vma an anon_vma, reusing a neighbour's where find_mergeable_anon_vma
 * would (the next VMA first, then the previous): adjacent, both anonymous, flags equal but
 * for the access bits, and page offsets contiguous (anon_vma_compatible).
 */
export function anonVmaPrepare(vma: Vma, prev: Vma | null, next: Vma | null): void {
  if (vma.anonVma !== 0) return;
  const compatible = (a: Vma, b: Vma) =>
    a.end === b.start && a.shmem === null && b.shmem === null && ((a.flags ^ b.flags) & ~VM_ACCESS_FLAGS) === 0 &&
    b.pgoff === a.pgoff + (b.start - a.start) / 4096;
  if (next !== null && next.anonVma !== 0 && compatible(vma, next)) {
    vma.anonVma = next.anonVma;
    return;
  }
  if (prev !== null && prev.anonVma !== 0 && compatible(prev, vma)) {
    vma.anonVma = prev.anonVma;
    return;
  }
  vma.anonVma = nextAnonVma++;
}

export class Vma {
  start: number;
  end: number;
  flags: number;
  /** Page offset into `shmem` (anonymous private: start >> 12, as Linux sets it). */
  pgoff: number;
  shmem: ShmemObject | null;
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

  constructor(start: number, end: number, flags: number, pgoff: number, shmem: ShmemObject | null) {
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.shmem = shmem;
  }
}
