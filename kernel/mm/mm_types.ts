// Virtual memory areas (include/linux/mm_types.h): the Vma, its VM_* flags, and the
// operations through which a backing (anonymous memory, files, hugetlb, mshare regions,
// reference pages, drivers) does its part. The per-mm index is vmatree.ts; the VMA layer
// (merge, split, link, release) is vma.ts.

import type { AnonVma } from './anon_vma.ts';
import type { AddressSpace } from './filemap.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import type { Gather } from './mmu_gather.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../uapi.ts';

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
/**
 * VM_MAYBE_GUARD (bit 11, smaps "gu"): MADV_GUARD_INSTALL put guard markers somewhere in
 * the VMA (set on the whole VMA, which is not split; never cleared, not even by
 * GUARD_REMOVE). Its page tables are copied on fork (VM_COPY_ON_FORK), and it is sticky: a
 * merge ignores it and the merged VMA has it.
 */
export const VM_MAYBE_GUARD = 0x800;
/** VM_STICKY: flags a merged VMA keeps if either part had them. */
export const VM_STICKY = VM_SOFTDIRTY | VM_MAYBE_GUARD;
/** VM_IGNORE_MERGE: flags that do not keep two VMAs apart. */
export const VM_IGNORE_MERGE = VM_STICKY;
export const VM_NORESERVE = 0x200000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
export const VM_DONTEXPAND = 0x40000;
export const VM_HUGETLB = 0x400000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_MERGEABLE = 0x80000000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

export const PAGE_SIZE = 4096;

/** PAGE_ALIGN: n rounded up to a whole page. */
export function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/** calc_vm_prot_bits: the VM_* access flags of PROT_* bits. */
export function protToVmFlags(prot: number): number {
  return ((prot & PROT_READ) !== 0 ? VM_READ : 0) | ((prot & PROT_WRITE) !== 0 ? VM_WRITE : 0)
    | ((prot & PROT_EXEC) !== 0 ? VM_EXEC : 0);
}

// Fault results: what handleMmFault and a backing's handleFault return.
/** Retry the access: the translation is there now (or a spurious fault). */
export const FAULT_DONE = 0;
export const FAULT_SEGV_MAPERR = 1;
export const FAULT_SEGV_ACCERR = 2;
/** No frame for the page or a page table: the OOM path (oom_kill.ts) chooses a victim. */
export const FAULT_OOM = 3;
/** Past the end of the object behind a mapping, or no huge page (SIGBUS, BUS_ADRERR). */
export const FAULT_SIGBUS = 4;

/** VMAs that never merge and never grow by mremap (VM_SPECIAL). */
export const VM_SPECIAL = VM_DONTEXPAND | 0x400 /* VM_PFNMAP */ | 0x4000 /* VM_IO */ | 0x10000000 /* VM_MIXEDMAP */;

/** What /proc/PID/maps names a mapped object by (the vm_file's inode and path). */
export interface MappedFile {
  readonly name: string;
  /** Device numbers as maps prints them ("00:01" for the internal shmem mount). */
  readonly dev: string;
  readonly ino: number;
}

/**
 * What a VMA's backing does (vm_operations_struct): the generic VMA, fault and syscall
 * code calls these, never a backing by name. Anonymous memory has its own (anonVmOps in
 * fault.ts); a file's mmap operation chooses the ops of the VMAs that map it.
 */
export interface VmOperations {
  /** What backs it: 'anon', 'file', 'hugetlb', 'refpage', 'mshare', or a driver's name. */
  readonly name: string;
  /**
   * The whole fault at va in vma, for backings that map otherwise than through the generic
   * path (hugetlb_fault; mshare's fault in the host mm): FAULT_DONE or why not. Without it
   * fault.ts's path runs (rights, THP, PTEs, fault or the anonymous page).
   */
  handleFault?(k: Kmm, mm: Mm, vma: Vma, va: number, code: number, cpu: number): number;
  /**
   * The page-cache page of page index idx for a fault (filemap_fault): its frame, or
   * -FAULT_SIGBUS (no such page) or -FAULT_OOM. VMAs with a mapping have it.
   */
  fault?(k: Kmm, vma: Vma, idx: number): number;
  /**
   * Fault-around (filemap_map_pages): map what the page cache already holds around a read
   * fault at `page`, whose PTE word is w.
   */
  mapPages?(k: Kmm, mm: Mm, vma: Vma, page: number, w: number): void;
  /** vma is about to be split at addr: make its page tables fit the boundary (vma_adjust_trans_huge). */
  split?(k: Kmm, vma: Vma, addr: number): void;
  /** A new VMA now holds the backing too: a part split off, an mremap copy (vm_ops->open). */
  open?(vma: Vma): void;
  /** The VMA is gone for good: unmapped, its mm torn down, or merged away (vm_ops->close). */
  close?(k: Kmm, vma: Vma): void;
  /** 0 if vma may be split at addr, else -errno (vm_ops->may_split). */
  maySplit?(vma: Vma, addr: number): number;
  /** The size of the pages that map it (vm_ops->pagesize); 4 KiB without. */
  pagesize?(vma: Vma): number;
  /** 0 if the syscall may act on the VMA, else -errno (vm_ops->mprotect, ->mremap; madvise). */
  mprotect?(vma: Vma): number;
  mremap?(vma: Vma): number;
  madvise?(vma: Vma, advice: number): number;
  /** Take the translations of [start, end) away, where zapping PTEs is not how (hugetlb, mshare). */
  unmap?(k: Kmm, vma: Vma, start: number, end: number, g: Gather): void;
  /** Rewrite the translations of vma for its new flags, where the PTE walk is not how (hugetlb). */
  changeProtection?(k: Kmm, vma: Vma, g: Gather): void;
  /**
   * Anonymous memory whose clean pages are a reference page rather than the zero page
   * (refpage): the page read faults map, and how a new private page is filled.
   */
  refpage?(vma: Vma): { readonly pfn: number; fill(pfn: number): void };
  /**
   * Write-notified shared mappings (vma_wants_writenotify): called before a write is allowed
   * to page idx (0, or -errno: SIGBUS); pages map read-only unless writeNotify says not.
   */
  pageMkwrite?(vma: Vma, idx: number): number;
  writeNotify?(vma: Vma, idx: number): boolean;
  /** Whether page idx exists at all; a fault on one that does not is SIGBUS (default: yes). */
  valid?(idx: number): boolean;
  /**
   * Fork (dup_mmap): a private copy of what the VMA's privateData holds for the parent
   * alone, on the child's new VMA (hugetlb_dup_vma_private: its reservations stay behind).
   */
  dupPrivate?(vma: Vma): void;
  /**
   * Fork: copy the translations of src into the child's dst, where the PTE copy is not how
   * (copy_hugetlb_page_range); 0 or -ENOMEM. Its presence also says the tables need copying
   * whether or not src has an anon_vma (vma_needs_copy).
   */
  copyPageRange?(k: Kmm, dst: Vma, src: Vma): number;
  /** The VMA's page tables below its PML4 entries belong to another mm (mshare). */
  readonly foreignTables?: boolean;
}

/**
 * A mapping about to be made (vm_area_desc, as mmap_prepare sees it): mmap's checks fill
 * it, the backing (a file's mmap operation, shmem, hugetlb) completes it, and mmapRegion
 * makes it a VMA. Ranges in bytes; `off` is the file offset in bytes.
 */
export interface VmaDesc {
  readonly start: number;
  readonly end: number;
  readonly prot: number;
  /** The MAP_* flags of the call, and whether the mapping is shared. */
  readonly mapFlags: number;
  readonly shared: boolean;
  readonly off: number;
  pgoff: number;
  /** VM_* flags. */
  flags: number;
  ops: VmOperations;
  mapping: AddressSpace | null;
  file: MappedFile | null;
  privateData: unknown;
  droppable: boolean;
  /**
   * The file's ->mmap check, which Linux runs only after the old mapping's PTEs are cleared
   * (vms_clean_up_area): 0, or an errno that leaves a MAP_FIXED's range a hole (hugetlbfs
   * finding its pool short).
   */
  check: (() => number) | null;
  /** What to do once the VMA is in place (mmap_action): a reservation to take, say. */
  action: ((vma: Vma) => void) | null;
}

/** The VMA has a vm_file: a file or shmem object, a reference page, a hugetlbfs file, a region. */
export const vmaHasFile = (v: Vma): boolean => v.file !== null;

/** vma_is_anonymous: private or shared, no page cache and no special backing. */
export const vmaIsAnonymous = (v: Vma): boolean => v.ops.name === 'anon';

export class Vma {
  start: number;
  end: number;
  flags: number;
  /** Page offset into its file (anonymous private: start >> 12, as Linux sets it). */
  pgoff: number;
  /** What backs it (vm_ops). */
  ops: VmOperations;
  /**
   * The page cache mapped (vm_file's f_mapping): a tmpfs file, the shmem object behind
   * shared anonymous memory, a device's; null for anonymous memory and special backings.
   * Private file mappings have one too (their pages are copied on write).
   */
  mapping: AddressSpace | null;
  /** The mapped object (vm_file): merge identity and what /proc/PID/maps names. */
  file: MappedFile | null;
  /** The backing's own state for this VMA (vm_private_data): only its ops read it. */
  privateData: unknown = null;
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
  /**
   * The name prctl(PR_SET_VMA_ANON_NAME) gave it (anon_name; anon_name.ts): maps shows
   * anonymous memory as [anon:NAME], shared anonymous as [anon_shmem:NAME]. Compared by
   * value, as anon_vma_name_eq does: VMAs merge only when their names are equal.
   */
  anonName: string | null = null;

  constructor(start: number, end: number, flags: number, pgoff: number, ops: VmOperations, mapping: AddressSpace | null = null, file: MappedFile | null = mapping) {
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.ops = ops;
    this.mapping = mapping;
    this.file = file;
  }
}
