// mshare regions (the msharefs API of the 2025 v3 series, ../shared/reference/mshare.md):
// each regular file under /sys/fs/mshare is a region with a host mm that no process owns.
// Its size is set once (ftruncate or fallocate, a multiple of 512 GiB); the ioctls
// MSHAREFS_CREATE_MAPPING and MSHAREFS_UNMAP map and unmap objects in the host mm at
// MSHARE_BASE + region_offset. The host mm's page tables are what processes that map the
// region will share.
//
// Processes map a region with mmap of its file (MAP_SHARED, the whole size, at a 512 GiB
// boundary). Their VMA is VM_MSHARE: a fault there first links the process's PML4 entry
// to the host's page-directory-pointer table (counting the link in k.mshare.sharedTables) and
// retries; later faults are resolved in the host mm, against the host VMA's rights (no
// host VMA: SIGSEGV). All sharers then use the same tables below the PML4. Unmapping the
// whole VMA unlinks it in that process only; part of it is EINVAL. The host mm flushes
// every CPU on any change (its CPU set is all of them), as the series does.

import { _PAGE_PRESENT, entryWord, ptePfn } from '../../machine/index.ts';
import { KernelBug } from '../bug.ts';
import type { FdTable, UserIo } from '../fs/index.ts';
import * as U from '../uapi.ts';
import { FAULT_DONE, FAULT_SEGV_ACCERR, FAULT_SEGV_MAPERR, handleMmFault } from './fault.ts';
import type { Kmm } from './kmm.ts';
import { type Mm, mmAlloc } from './mm.ts';
import { type MappedFile, type Vma, type VmaDesc, type VmOperations, VM_DONTEXPAND, VM_WRITE } from './mm_types.ts';
import { sysMmap } from './mmap.ts';
import type { Gather } from './mmu_gather.ts';
import { exitMmap } from './exit_mmap.ts';
import { doMunmap } from './munmap.ts';

/** mshare_align = P4D_SIZE: one PML4 entry's span with 4-level paging (512 GiB). */
export const MSHARE_ALIGN = U.MSHARE_ALIGN;
/** Where region offset 0 lies in the host mm. */
export const MSHARE_BASE = MSHARE_ALIGN;
export const MSHARE_MAGIC = 0x4d534852;


/** mshare's kernel-wide state: the tables regions share, and how their changes are flushed. */
export class MshareState {
  /**
   * 'all' flushes every CPU on any change of a host mm (the series' flush_tlb_all);
   * 'attached' only the CPUs running processes that map the region.
   */
  flushPolicy: 'all' | 'attached' = 'all';
  /** Page-directory-pointer tables linked into processes, with how many links. */
  readonly sharedTables = new Map<number, number>();
}

export class MshareRegion implements MappedFile {
  readonly k: Kmm;
  readonly base = MSHARE_BASE;
  readonly mappers = new Set<Vma>();
  /** Called when the last process mapping goes (the inode may then be evicted). */
  onUnused: () => void = () => undefined;
  /** The path /proc/PID/maps shows, the device numbers of msharefs, and the inode number. */
  path = '';
  readonly dev = '00:2f';
  ino = 0;
  /** The host mm: the region's VMAs and page tables, owned by no process. */
  readonly hostMm: Mm;
  /** Size in bytes; 0 until set. */
  size = 0;
  initialized = false;
  /** The creating process (HAS_OWNER while it lives). */
  ownerPid: number;
  hasOwner = true;

  /** A new region owned by `ownerPid`, or -ENOMEM (no frame for its host mm's PML4). */
  static create(k: Kmm, ownerPid: number): MshareRegion | number {
    const hostMm = mmAlloc(k);
    return typeof hostMm === 'number' ? hostMm : new MshareRegion(k, hostMm, ownerPid);
  }

  private constructor(k: Kmm, hostMm: Mm, ownerPid: number) {
    this.k = k;
    this.hostMm = hostMm;
    this.hostMm.mmapBase = MSHARE_BASE;
    // Any CPU may cache the host's translations under its own process's addresses: each
    // change flushes whole TLBs, on every CPU or (option) on those of attached processes.
    this.hostMm.flushAll = true;
    this.hostMm.flushCpus = () => {
      if (k.mshare.flushPolicy === 'all') return Array.from({ length: k.cb.nrCpus }, (_, i) => i);
      const cpus = new Set<number>();
      for (const v of this.mappers) for (const c of v.mm!.cpus) cpus.add(c);
      return cpus;
    };
    this.ownerPid = ownerPid;
  }

  /** The last process mapping went away. */
  unmapped(): void {
    this.onUnused();
  }

  get name(): string {
    return this.path;
  }

  get start(): number {
    return MSHARE_BASE;
  }

  get end(): number {
    return MSHARE_BASE + this.size;
  }

  /** ftruncate or fallocate(0, 0, len): once, a multiple of 512 GiB. */
  setSize(len: number): number {
    if (this.initialized) return -U.EINVAL;
    if (len % MSHARE_ALIGN !== 0) return -U.EINVAL;
    this.size = len;
    this.initialized = true;
    return 0;
  }

  ioctl(cmd: number, arg: number, io: UserIo, isMshareFile: (fd: number) => boolean): number {
    const files = io.files ?? null;
    if (cmd === U.MSHAREFS_CREATE_MAPPING) {
      const b = io.copyFrom(arg, 40);
      if (typeof b === 'number') return b;
      const dv = new DataView(b.buffer);
      const regionOffset = Number(dv.getBigUint64(0, true));
      const size = Number(dv.getBigUint64(8, true));
      const offset = Number(dv.getBigUint64(16, true));
      const prot = dv.getUint32(24, true);
      const flags = dv.getUint32(28, true);
      const fd = dv.getInt32(32, true);
      return this.createMapping(regionOffset, size, offset, prot, flags, fd, io.cpu, files, isMshareFile);
    }
    if (cmd === U.MSHAREFS_UNMAP) {
      const b = io.copyFrom(arg, 16);
      if (typeof b === 'number') return b;
      const dv = new DataView(b.buffer);
      return this.unmap(Number(dv.getBigUint64(0, true)), Number(dv.getBigUint64(8, true)), io.cpu);
    }
    return -U.ENOTTY;
  }

  /** MSHAREFS_CREATE_MAPPING: an object of the region, mapped in the host mm (v3 checks). */
  createMapping(regionOffset: number, size: number, offset: number, prot: number, flags: number, fd: number,
    cpu: number, files: FdTable | null, isMshareFile: (fd: number) => boolean): number {
    if (!this.initialized) return -U.EINVAL;
    const addr = this.start + regionOffset;
    if (addr < this.start || addr >= this.end) return -U.EINVAL;
    if ((flags & (U.MAP_SHARED | U.MAP_FIXED)) !== (U.MAP_SHARED | U.MAP_FIXED)) return -U.EINVAL;
    if ((flags & U.MAP_TYPE) !== U.MAP_SHARED) return -U.EINVAL; // never MAP_PRIVATE: no COW under shared tables
    if ((flags & U.MAP_ANONYMOUS) === 0) {
      if (files === null || files.get(fd) === null) return -U.EBADF;
      if (isMshareFile(fd)) return -U.EINVAL; // no nesting
    }
    if (addr + size > this.end) return -U.EINVAL;
    const r = sysMmap(this.k, this.hostMm, addr, size, prot, flags, (flags & U.MAP_ANONYMOUS) !== 0 ? -1 : fd, offset, cpu, files);
    return r < 0 ? r : 0;
  }

  /** MSHAREFS_UNMAP: munmap in the host mm. */
  unmap(regionOffset: number, size: number, cpu: number): number {
    if (size > this.size || regionOffset >= this.size) return -U.EINVAL;
    const addr = this.start + regionOffset;
    if (addr + size > this.end) return -U.EINVAL;
    if (addr % 4096 !== 0 || size === 0) return -U.EINVAL;
    return doMunmap(this.k, this.hostMm, addr, addr + Math.ceil(size / 4096) * 4096, cpu);
  }

  /** The owner exited: the whole region is unmapped (exit_mshare). */
  ownerExit(cpu: number): void {
    if (!this.hasOwner) return;
    this.hasOwner = false;
    if (this.initialized && this.size > 0) doMunmap(this.k, this.hostMm, this.start, this.end, cpu);
  }

  /** The inode is evicted: the host mm and everything in it go. */
  destroy(): void {
    exitMmap(this.k, this.hostMm);
  }
}

const PML4_SPAN = 2 ** 39;

/**
 * msharefs_get_unmapped_area: a region is mapped whole (MAP_SHARED, initialised, len equal
 * to its size) at a 512 GiB boundary: a fixed address must be one, a hint is rounded up to
 * one, else the highest free one. The address or -errno.
 */
export function regionUnmappedArea(region: MshareRegion, mm: Mm, addr: number, len: number, flags: number): number {
  const type = flags & U.MAP_TYPE;
  if (type !== U.MAP_SHARED && type !== U.MAP_SHARED_VALIDATE) return -U.EINVAL;
  if (!region.initialized || len !== region.size || len === 0) return -U.EINVAL;
  if (len > U.TASK_SIZE - U.MMAP_MIN_ADDR) return -U.ENOMEM;
  if ((flags & (U.MAP_FIXED | U.MAP_FIXED_NOREPLACE)) !== 0) {
    if (addr % PML4_SPAN !== 0) return -U.EINVAL;
    return addr + len > U.TASK_SIZE ? -U.ENOMEM : addr;
  }
  const free = (a: number) => a >= PML4_SPAN && a + len <= U.TASK_SIZE && mm.vmas.intersecting(a, a + len).length === 0;
  const hint = Math.ceil(Math.max(0, addr) / PML4_SPAN) * PML4_SPAN;
  if (addr > 0 && free(hint)) return hint;
  // Top down, in 512 GiB steps (the user half holds 255 of them above the first).
  for (let a = Math.floor((U.TASK_SIZE - len) / PML4_SPAN) * PML4_SPAN; a >= PML4_SPAN; a -= PML4_SPAN) if (free(a)) return a;
  return -U.ENOMEM;
}

/** msharefs_mmap: the VMA maps the region (VM_MSHARE, never merged or expanded), from offset 0. */
export function regionMmap(region: MshareRegion, desc: VmaDesc): number {
  if (!desc.shared) return -U.EINVAL;
  desc.flags |= VM_DONTEXPAND;
  desc.ops = mshareVmOps;
  desc.file = region;
  desc.pgoff = 0;
  return 0;
}

/**
 * A fault in a VM_MSHARE VMA: link the process's PML4 entry to the host's table and retry,
 * or, once linked, fault in the host mm (rights from the host VMA; none there: SIGSEGV).
 */
function mshareFault(k: Kmm, mm: Mm, vma: Vma, va: number, code: number, cpu: number): number {
  const region = vma.file as MshareRegion;
  const host = region.hostMm;
  const hostAddr = va - vma.start + region.base;
  const gw = entryWord(mm.pml4, Math.floor(va / PML4_SPAN) % 512);
  const hw = entryWord(host.pml4, Math.floor(hostAddr / PML4_SPAN) % 512);
  const hlo = k.ops.lo(hw);
  if ((hlo & _PAGE_PRESENT) !== 0 && k.ops.lo(gw) !== hlo) {
    if ((k.ops.lo(gw) & _PAGE_PRESENT) !== 0) throw new KernelBug('mshare: a process PML4 entry in a region points elsewhere');
    const pdpt = ptePfn(hlo, k.ops.hi(hw));
    k.mshare.sharedTables.set(pdpt, (k.mshare.sharedTables.get(pdpt) ?? 0) + 1);
    k.ops.setPte(gw, hlo, k.ops.hi(hw));
    return FAULT_DONE; // retried: the walk now goes through the host's tables
  }
  const hv = host.vmas.find(hostAddr);
  if (hv === null) return FAULT_SEGV_MAPERR;
  if ((code & 2) !== 0 && (hv.flags & VM_WRITE) === 0) return FAULT_SEGV_ACCERR;
  return handleMmFault(k, host, hostAddr, code, cpu);
}

/** Unlink [start, end) of a process's VM_MSHARE VMA from the region's tables (its PML4 entries). */
function mshareUnlink(k: Kmm, mm: Mm, start: number, end: number, g: Gather): void {
  for (let a = start; a < end; a += PML4_SPAN) {
    const gw = entryWord(mm.pml4, Math.floor(a / PML4_SPAN) % 512);
    const lo = k.ops.lo(gw);
    if ((lo & _PAGE_PRESENT) === 0) continue;
    const pdpt = ptePfn(lo, k.ops.hi(gw));
    k.ops.ptepGetAndClear(gw);
    const n = (k.mshare.sharedTables.get(pdpt) ?? 1) - 1;
    if (n > 0) k.mshare.sharedTables.set(pdpt, n);
    else k.mshare.sharedTables.delete(pdpt);
    g.cover(a, a + PML4_SPAN);
  }
}

/**
 * The VMA of a process that maps a region (VM_MSHARE): faults link the host's tables or
 * are resolved in the host mm; unmapping unlinks; a region is mapped whole, so no split,
 * mprotect, mremap or madvise of it (the series' vm_ops refuse or leave them undefined).
 */
export const mshareVmOps: VmOperations = {
  name: 'mshare',
  foreignTables: true,
  handleFault: mshareFault,
  open: (vma) => (vma.file as MshareRegion).mappers.add(vma),
  close: (_k, vma) => {
    const region = vma.file as MshareRegion;
    region.mappers.delete(vma);
    if (region.mappers.size === 0) region.unmapped();
  },
  maySplit: () => -U.EINVAL,
  mprotect: () => -U.EINVAL,
  mremap: () => -U.EINVAL, // VM_DONTEXPAND, and its tables are the region's
  madvise: () => -U.EINVAL,
  unmap: (k, vma, start, end, g) => mshareUnlink(k, vma.mm!, start, end, g),
};
