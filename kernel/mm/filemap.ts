// The page cache (mm/filemap.c, mm/truncate.c, the shmem parts of mm/shmem.c): an
// AddressSpace holds a file's pages by index; cachePage finds or allocates one, and
// read(2)/write(2) of tmpfs files copy through it. Truncation and hole punching take
// pages out of the cache and out of every process that maps them (unmap_mapping_range).
//
// Shared anonymous memory is a file here too, as in Linux (shmem_zero_setup): a page
// cache no VMA maps and nothing holds is freed whole (releaseIfUnused).

import { ptePfn } from '../../machine/index.ts';
import { VmaIntervalTree } from './interval_tree.ts';
import type { Kmm } from './kmm.ts';
import { zapPte, forEachPte } from './memory.ts';
import { finishGather, Gather } from './mmu_gather.ts';
import type { Mm } from './mm.ts';
import type { Vma } from './mm_types.ts';
import { PG_DIRTY, PG_SHMEM, allocPages, GFP_USER, __GFP_ZERO } from './page_alloc.ts';
import * as U from '../uapi.ts';

const PAGE = 4096;

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

/**
 * A page cache (struct address_space) of a shmem/tmpfs inode: the frames of the file's
 * pages, its size, and i_mmap, every VMA of every process that maps it. Shared anonymous
 * memory is such a file too ("/dev/zero (deleted)", as Linux's shmem_zero_setup makes it).
 *
 * Lifetime: the pages are freed when nothing holds the object: no VMA maps it and no
 * holder (an inode's link or an open file) is left.
 */
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

/** The frame of page idx of a page cache, allocated (zeroed) if it is a hole; -1 if none is free. */
export function cachePage(k: Kmm, m: AddressSpace, idx: number): number {
  let pfn = m.pages.get(idx);
  if (pfn === undefined) {
    pfn = allocPages(k, 0, GFP_USER | __GFP_ZERO);
    if (pfn < 0) return -1;
    k.pages.flags[pfn] |= PG_SHMEM;
    m.pages.set(idx, pfn);
    k.pages.rmapOwner[pfn] = m.ino;
    k.pages.rmapIndex[pfn] = idx | 0;
    k.rmap.mappings.set(m.ino, m);
  }
  return pfn;
}

/** Free a page cache that no VMA maps and nothing else holds. */
export function releaseIfUnused(k: Kmm, obj: AddressSpace): void {
  if (obj.mappers.size > 0 || obj.holders > 0) return;
  for (const pfn of obj.pages.values()) k.pages.putPage(pfn);
  obj.pages.clear();
  k.rmap.mappings.delete(obj.ino);
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
    const pfn = m.pages.get(idx);
    if (pfn !== undefined) out.set(k.mem.u8.subarray(pfn * PAGE + off, pfn * PAGE + off + chunk), done);
    done += chunk;
  }
  return out;
}

/** write(2) of a tmpfs file: pages are allocated as needed (ENOSPC when none is free). */
export function writeCache(k: Kmm, m: AddressSpace, data: Uint8Array, pos: number): number {
  if (pos + data.length > U.MAX_LFS_FILESIZE) return -U.EFBIG;
  let done = 0;
  while (done < data.length) {
    const at = pos + done;
    const idx = Math.floor(at / PAGE);
    const off = at % PAGE;
    const chunk = Math.min(PAGE - off, data.length - done);
    const pfn = cachePage(k, m, idx);
    if (pfn < 0) break;
    k.mem.u8.set(data.subarray(done, done + chunk), pfn * PAGE + off);
    k.pages.flags[pfn] |= PG_DIRTY;
    done += chunk;
  }
  if (done === 0 && data.length > 0) return -U.ENOSPC;
  if (pos + done > m.size) m.size = pos + done;
  return done;
}


/**
 * unmap_mapping_range: clear the PTEs of pages [first, last) of m in every VMA of every
 * process that maps them, with `evenCows` also the private copies made from them, and shoot
 * down those TLB entries.
 */
export function unmapMappingRange(k: Kmm, m: AddressSpace, first: number, last: number, evenCows: boolean, cpu: number): void {
  const byMm = new Map<Mm, Gather>();
  for (const v of [...m.mappers.overlapping(first, last - 1)]) {
    const vFirst = v.pgoff;
    const vLast = v.pgoff + (v.end - v.start) / PAGE;
    const from = Math.max(first, vFirst);
    const to = Math.min(last, vLast);
    if (from >= to) continue;
    const mm = v.mm!;
    let g = byMm.get(mm);
    if (g === undefined) byMm.set(mm, (g = new Gather()));
    const gather = g;
    forEachPte(k, mm, v.start + (from - vFirst) * PAGE, v.start + (to - vFirst) * PAGE, (w, va) => {
      if (!evenCows && (k.pages.flags[ptePfn(k.ops.lo(w), k.ops.hi(w))] & PG_SHMEM) === 0) return;
      zapPte(k, mm, w, va, gather);
    });
  }
  for (const [mm, g] of byMm) finishGather(k, mm, g, cpu);
}

/**
 * Free the pages of [from, to) bytes of m (fallocate PUNCH_HOLE, MADV_REMOVE): whole pages
 * are unmapped from every process (private copies stay) and dropped, partial ones zeroed.
 */
export function punchHole(k: Kmm, m: AddressSpace, from: number, to: number, cpu: number): void {
  const first = Math.ceil(from / PAGE);
  const last = Math.floor(Math.min(to, m.size + PAGE - 1) / PAGE);
  if (first < last) {
    unmapMappingRange(k, m, first, last, false, cpu);
    for (let i = first; i < last; i++) {
      const pfn = m.pages.get(i);
      if (pfn === undefined) continue;
      m.pages.delete(i);
      k.pages.putPage(pfn);
    }
  }
  const zero = (a: number, b: number) => {
    const pfn = m.pages.get(Math.floor(a / PAGE));
    if (pfn !== undefined && b > a) k.mem.u8.fill(0, pfn * PAGE + (a % PAGE), pfn * PAGE + (a % PAGE) + (b - a));
  };
  if (from % PAGE !== 0) zero(from, Math.min(to, (Math.floor(from / PAGE) + 1) * PAGE));
  if (to % PAGE !== 0 && Math.floor(to / PAGE) >= first) zero(Math.floor(to / PAGE) * PAGE, to);
}

/** Set m's size; shrinking unmaps and frees the pages past the end and zeroes the tail. */
export function truncate(k: Kmm, m: AddressSpace, size: number, cpu: number): void {
  if (size < m.size) {
    const keep = Math.ceil(size / PAGE);
    unmapMappingRange(k, m, keep, Math.ceil(m.size / PAGE), true, cpu);
    for (const [idx, pfn] of m.pages) {
      if (idx < keep) continue;
      m.pages.delete(idx);
      k.pages.putPage(pfn);
    }
    const tail = m.pages.get(Math.floor(size / PAGE));
    if (tail !== undefined && size % PAGE !== 0) k.mem.u8.fill(0, tail * PAGE + (size % PAGE), tail * PAGE + PAGE);
  }
  m.size = size;
}
