// The page cache (mm/filemap.c, mm/truncate.c, the shmem parts of mm/shmem.c): an
// AddressSpace holds a file's pages by index; cachePage finds or allocates one, and
// read(2)/write(2) of tmpfs files copy through it. Truncation and hole punching, which take
// pages out of the cache and out of every process that maps them, are truncate.ts's.
//
// Shared anonymous memory is a file here too, as in Linux (shmem_zero_setup): a page
// cache no VMA maps and nothing holds is freed whole (releaseIfUnused).

import { _PAGE_ACCESSED, mkPteHi, mkPteLo } from '../../machine/index.ts';
import { VmaIntervalTree } from './interval_tree.ts';
import type { Kmm } from './kmm.ts';
import type { Mm } from './mm.ts';
import { FAULT_OOM, FAULT_SIGBUS, type MappedFile, type Vma, type VmaDesc, type VmOperations, VM_EXEC, VM_SHARED, VM_WRITE } from './mm_types.ts';
import { PG_DIRTY, PG_SHMEM, allocPages, GFP_USER, __GFP_ZERO } from './page_alloc.ts';
import { softDirtyWp, vmaPteFlags } from './pgtable.ts';
import * as U from '../uapi.ts';
import { freeSwapEntry, shmemSwapin } from './swap_state.ts';
import { folioMarkAccessed, lruAddVma, workingsetRefault } from './lru.ts';
import { reclaimForAllocation } from './vmscan.ts';
import { checkSealsWrite, type SealedFile } from './seals.ts';
import { XArray } from './xarray.ts';

const PAGE = 4096;

/**
 * A page cache (struct address_space) of a shmem/tmpfs inode: the frames of the file's
 * pages, its size, and i_mmap, every VMA of every process that maps it. Shared anonymous
 * memory is such a file too ("/dev/zero (deleted)", as Linux's shmem_zero_setup makes it).
 *
 * Lifetime: the pages are freed when nothing holds the object: no VMA maps it and no
 * holder (an inode's link or an open file) is left.
 */
export class AddressSpace implements SealedFile {
  /** Page index -> frame (each holds one page reference for the cache). */
  readonly pages = new XArray();
  /** Page index -> swap slot of a page swapped out (shmem's swap entries in the page cache). */
  readonly swapped = new XArray();
  /** Page index -> shadow entry of a clean page reclaim dropped (lru.ts's refault test). */
  readonly shadows = new XArray(true);
  /** Pages never reclaimed (mapping_set_unevictable: device memory such as /dev/vbuf's). */
  unevictable = false;
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
  /** The inode's memfd seals (seals.ts): F_SEAL_SEAL until memfd_create lifts it. */
  seals = U.F_SEAL_SEAL;

  /** A page cache of `size` bytes for inode `ino` (from Kmm.nextIno). */
  constructor(ino: number, size: number, name = '/dev/zero (deleted)', dev = '00:01') {
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

/**
 * The frame of page idx of a page cache (shmem_get_folio): swapped in if it is in swap,
 * allocated (zeroed) if it is a hole, and put on the LRU (unevictable for a VM_LOCKED
 * `vma`); -1 if no frame is free.
 */
export function cachePage(k: Kmm, m: AddressSpace, idx: number, vma: Vma | null = null): number {
  let pfn = m.pages.load(idx);
  if (pfn !== -1) return pfn;
  if (m.swapped.has(idx)) return shmemSwapin(k, m, idx, vma);
  pfn = allocPages(k, 0, GFP_USER | __GFP_ZERO);
  if (pfn < 0) return -1;
  k.pages.flags[pfn] |= PG_SHMEM;
  m.pages.store(idx, pfn);
  k.pages.rmapOwner[pfn] = m.ino;
  k.pages.rmapIndex[pfn] = idx | 0;
  k.rmap.mappings.set(m.ino, m);
  const shadow = m.shadows.erase(idx);
  if (shadow !== -1) workingsetRefault(k, pfn, shadow);
  if (!m.unevictable) lruAddVma(k, pfn, vma);
  return pfn;
}

/** Drop page idx of m from the cache: its frame, or its swap entry, and any shadow. */
export function dropCachePage(k: Kmm, m: AddressSpace, idx: number): void {
  const pfn = m.pages.erase(idx);
  if (pfn !== -1) k.pages.putPage(pfn);
  const slot = m.swapped.erase(idx);
  if (slot !== -1) freeSwapEntry(k, slot);
  m.shadows.erase(idx);
}

/**
 * Drop pages [first, last) of m from the cache (truncate_inode_pages_range): the frames in
 * index order, then the swap entries in index order. Returns how many.
 */
export function dropCacheRange(k: Kmm, m: AddressSpace, first: number, last: number): number {
  let n = 0;
  for (let i = m.pages.next(first); i !== -1 && i < last; i = m.pages.next(i + 1), n++) dropCachePage(k, m, i);
  for (let i = m.swapped.next(first); i !== -1 && i < last; i = m.swapped.next(i + 1), n++) dropCachePage(k, m, i);
  return n;
}

/** Free a page cache that no VMA maps and nothing else holds. */
export function releaseIfUnused(k: Kmm, obj: AddressSpace): void {
  if (obj.mappers.size > 0 || obj.holders > 0) return;
  dropCacheRange(k, obj, 0, Infinity);
  obj.shadows.clear();
  k.rmap.mappings.delete(obj.ino);
}

/**
 * The VMAs of a page cache: tmpfs files, shared anonymous memory, /dev/zero shared (shmem's
 * and generic_file_vm_ops): faults take the cache page, reads map what is cached around
 * them, and the last VMA of an object nothing else holds frees it.
 */
export const fileVmOps: VmOperations = {
  name: 'file',
  fault: filemapFault,
  mapPages: filemapMapPages,
  close: (k, vma) => releaseIfUnused(k, vma.mapping!),
};

/** shmem_anon_vm_ops: shared anonymous memory's VMAs, which alone of the files' may be named. */
export const shmemAnonVmOps: VmOperations = { ...fileVmOps, name: 'anon_shmem' };

/** vma_is_anon_shmem. */
export const vmaIsAnonShmem = (v: Vma): boolean => v.ops === shmemAnonVmOps;

/**
 * shmem_zero_setup: shared anonymous memory is a file of its own size on the internal shmem
 * mount ("/dev/zero (deleted)"), mapped from offset 0.
 */
export function shmemZeroSetup(k: Kmm, desc: VmaDesc): void {
  const m = new AddressSpace(k.nextIno(), desc.end - desc.start);
  desc.mapping = m;
  desc.file = m;
  desc.ops = shmemAnonVmOps;
  desc.pgoff = 0;
}

/**
 * generic_file_mmap (shmem_mmap): the VMA maps page cache m from the file offset. `file` is
 * its vm_file, what maps shows and what merging compares: the open file description's
 * (VMAs made through two opens of one file never merge, as in Linux), m itself by default.
 */
export function fileMmap(m: AddressSpace, desc: VmaDesc, file: MappedFile = m): number {
  desc.mapping = m;
  desc.file = file;
  desc.ops = fileVmOps;
  desc.pgoff = desc.off / 4096;
  return 0;
}

/**
 * filemap_fault for page idx of vma's page cache: the frame (a hole is filled with a
 * zeroed page first, as shmem does), or -FAULT_SIGBUS past the end of the file or where the
 * backing has no page, or -FAULT_OOM.
 */
export function filemapFault(k: Kmm, vma: Vma, idx: number): number {
  const m = vma.mapping!;
  if (idx >= m.nrPages) return -FAULT_SIGBUS;
  if (vma.ops.valid !== undefined && !vma.ops.valid(idx)) return -FAULT_SIGBUS;
  const pfn = cachePage(k, m, idx, vma);
  return pfn < 0 ? -FAULT_OOM : pfn;
}

/** fault_around_bytes: 64 KiB. */
const FAULT_AROUND_PAGES = 16;

/**
 * do_fault_around with filemap_map_pages: a read fault on a file mapping first maps the
 * pages of the aligned 16-page window around it (within the VMA and the page table) that
 * are already in the page cache; no page is allocated for it.
 */
export function filemapMapPages(k: Kmm, mm: Mm, vma: Vma, page: number, w: number): void {
  const obj = vma.mapping!;
  const pteOff = (page / 4096) % 512;
  const vmaOff = (page - vma.start) / 4096;
  const from = Math.max(pteOff - (pteOff % FAULT_AROUND_PAGES), pteOff - Math.min(pteOff, vmaOff));
  const to = Math.min(from + FAULT_AROUND_PAGES, 512, pteOff + (vma.end - vma.start) / 4096 - vmaOff);
  const writable = (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE) && !softDirtyWp(k, vma);
  const nx = (vma.flags & VM_EXEC) === 0;
  for (let i = from; i < to; i++) {
    const idx = vma.pgoff + vmaOff + (i - pteOff);
    if (idx >= obj.nrPages) break;
    const pfn = obj.pages.load(idx);
    const slot = w + (i - pteOff) * 2;
    // Only where nothing is (pte_none): not over a mapping, nor a swapped-out private copy.
    if (pfn === -1 || k.ops.lo(slot) !== 0) continue;
    k.pages.getPage(pfn);
    k.pages.mapcount[pfn]++;
    mm.rssShmem++;
    k.ops.setPte(slot, mkPteLo(pfn, vmaPteFlags(vma, writable) | _PAGE_ACCESSED), mkPteHi(pfn, nx));
  }
  mm.noteRss();
}

/** read(2) of a tmpfs file: holes read as zeros. */
export function readCache(k: Kmm, m: AddressSpace, len: number, pos: number): Uint8Array {
  const n = Math.max(0, Math.min(len, m.size - pos, 1 << 24));
  const out = new Uint8Array(n);
  for (let done = 0; done < n;) {
    const at = pos + done;
    const idx = Math.floor(at / PAGE);
    const off = at % PAGE;
    const chunk = Math.min(PAGE - off, n - done);
    // A page in swap is read back (a hole stays one, -1 from the cache).
    const inSwap = m.swapped.has(idx);
    const pfn = inSwap ? cachePage(k, m, idx) : m.pages.load(idx);
    if (pfn === -1 && inSwap) return out.subarray(0, done);
    if (pfn >= 0) {
      out.set(k.mem.u8.subarray(pfn * PAGE + off, pfn * PAGE + off + chunk), done);
      folioMarkAccessed(k, pfn);
    }
    done += chunk;
  }
  return out;
}

/**
 * write(2) of a tmpfs file, a page at a time (generic_perform_write): pages are allocated as
 * needed; a page that cannot be had (ENOSPC) or that the seals refuse (EPERM, shmem_write_begin)
 * ends the write, short if some was written.
 */
export function writeCache(k: Kmm, m: AddressSpace, data: Uint8Array, pos: number): number {
  if (pos + data.length > U.MAX_LFS_FILESIZE) return -U.EFBIG;
  let done = 0;
  let err = -U.ENOSPC;
  while (done < data.length) {
    const at = pos + done;
    const idx = Math.floor(at / PAGE);
    const off = at % PAGE;
    const chunk = Math.min(PAGE - off, data.length - done);
    const sealed = checkSealsWrite(m.seals, at, chunk, m.size);
    if (sealed < 0) {
      err = sealed;
      break;
    }
    // Between pages nothing is half done: a page that cannot be had is reclaimed for.
    let pfn = cachePage(k, m, idx);
    while (pfn < 0 && reclaimForAllocation(k)) pfn = cachePage(k, m, idx);
    if (pfn < 0) break;
    k.mem.u8.set(data.subarray(done, done + chunk), pfn * PAGE + off);
    k.pages.flags[pfn] |= PG_DIRTY;
    folioMarkAccessed(k, pfn);
    done += chunk;
  }
  if (done === 0 && data.length > 0) return err;
  if (done > 0 && pos + done > m.size) m.size = pos + done; // an empty write changes nothing
  return done;
}
