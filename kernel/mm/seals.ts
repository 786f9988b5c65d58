// memfd seals: the rules mm/memfd.c, mm/shmem.c and fs/hugetlbfs make of them. Seals are
// a word of the inode (shmem_inode_info.seals, hugetlbfs_inode_info.seals), kept here on the
// object that is one-to-one with it: a tmpfs file's page cache (AddressSpace) or a hugetlbfs
// file's pages (HugetlbMapping). Every such file starts with F_SEAL_SEAL (shmem_get_inode,
// hugetlbfs_get_inode); memfd_create's MFD_ALLOW_SEALING and MFD_NOEXEC_SEAL lift it.
//
// i_mmap_writable: Linux counts the VMAs that are shared and may write (VM_SHARED and
// VM_MAYWRITE: vma_is_shared_maywrite), raising it as such a VMA is linked (mmap, split,
// fork's dup_mmap, mremap's copy) and lowering it as one goes; F_SEAL_WRITE is refused
// (EBUSY) while it is above zero. Here the count is taken when it is asked for, over the
// file's i_mmap, which holds the same VMAs.

import {
  EBUSY, EPERM, F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
} from '../uapi.ts';
import { VM_MAYWRITE, VM_SHARED, VM_WRITE, type Vma, type VmaDesc } from './mm_types.ts';

/** Every seal F_ADD_SEALS knows (F_ALL_SEALS). */
export const F_ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/** A file that takes seals: its seal word and every VMA that maps it shared (i_mmap). */
export interface SealedFile {
  seals: number;
  readonly mappers: Iterable<Vma>;
}

/** is_write_sealed: F_SEAL_WRITE or F_SEAL_FUTURE_WRITE. */
export const isWriteSealed = (seals: number): boolean => (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) !== 0;

/** The number of VMAs that map f shared and may write (i_mmap_writable). */
export function mappingWritable(f: SealedFile): number {
  let n = 0;
  for (const v of f.mappers) if ((v.flags & (VM_SHARED | VM_MAYWRITE)) === (VM_SHARED | VM_MAYWRITE)) n++;
  return n;
}

/**
 * memfd_add_seals once the caller has checked the descriptor (open for writing, known bits):
 * EPERM once F_SEAL_SEAL is set; F_SEAL_EXEC on a file with an exec bit (`mode`) brings
 * F_SEAL_SHRINK, GROW, WRITE and FUTURE_WRITE with it; a new F_SEAL_WRITE is EBUSY while a
 * shared mapping may write. 0 or -errno; nothing changes on an error.
 */
export function addSeals(f: SealedFile, seals: number, mode: number): number {
  if ((f.seals & F_SEAL_SEAL) !== 0) return -EPERM;
  let add = seals;
  if ((add & F_SEAL_EXEC) !== 0 && (mode & 0o111) !== 0) add |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
  // mapping_deny_writable; memfd_wait_for_pins finds nothing here: no page is pinned for long.
  if ((add & F_SEAL_WRITE) !== 0 && (f.seals & F_SEAL_WRITE) === 0 && mappingWritable(f) > 0) return -EBUSY;
  f.seals |= add;
  return 0;
}

/**
 * memfd_check_seals_mmap, at do_mmap's file checks: under a write seal a shared mapping
 * asking for PROT_WRITE is EPERM, and a read-only one loses VM_MAYWRITE, so mprotect can
 * never make it writable (EACCES). Private mappings are not concerned. 0 or -EPERM.
 */
export function checkSealsMmap(seals: number, desc: VmaDesc): number {
  if (!isWriteSealed(seals) || (desc.flags & VM_SHARED) === 0) return 0;
  if ((desc.flags & VM_WRITE) !== 0) return -EPERM;
  desc.flags &= ~VM_MAYWRITE;
  return 0;
}

/** shmem_setattr's and hugetlbfs_setattr's rule: a new size the seals forbid (EPERM), else 0. */
export function checkSealsResize(seals: number, oldSize: number, newSize: number): number {
  if ((newSize < oldSize && (seals & F_SEAL_SHRINK) !== 0) || (newSize > oldSize && (seals & F_SEAL_GROW) !== 0)) return -EPERM;
  return 0;
}

/**
 * shmem_write_begin for one chunk (a page or part of one) [pos, pos + len): EPERM under a
 * write seal, or under F_SEAL_GROW where the chunk ends past `size`; else 0.
 */
export function checkSealsWrite(seals: number, pos: number, len: number, size: number): number {
  if (isWriteSealed(seals)) return -EPERM;
  return (seals & F_SEAL_GROW) !== 0 && pos + len > size ? -EPERM : 0;
}

/**
 * shmem_fallocate's rules: a hole punch is EPERM under a write seal; an allocation reaching
 * past the end (KEEP_SIZE or not) is EPERM under F_SEAL_GROW. 0 or -EPERM.
 */
export function checkSealsFallocate(seals: number, punch: boolean, end: number, size: number): number {
  if (punch) return isWriteSealed(seals) ? -EPERM : 0;
  return (seals & F_SEAL_GROW) !== 0 && end > size ? -EPERM : 0;
}
