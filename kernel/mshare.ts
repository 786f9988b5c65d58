// mshare regions (the msharefs API of the 2025 v3 series, ../shared/reference/mshare.md):
// each regular file under /sys/fs/mshare is a region with a host mm that no process owns.
// Its size is set once (ftruncate or fallocate, a multiple of 512 GiB); the ioctls
// MSHAREFS_CREATE_MAPPING and MSHAREFS_UNMAP map and unmap objects in the host mm at
// MSHARE_BASE + region_offset. The host mm's page tables are what processes that map the
// region will share.
//
// Not yet: mapping the region into processes (mmap of the file, linking the PML4 entry on
// the first fault, the PDPT share count, flushing every CPU on host changes); until then
// mmap of a region file is ENODEV.

import type { FdTable, UserIo } from './file.ts';
import { type Kmm, Mm } from './mm.ts';
import { doMunmap, exitMmap, sysMmap } from './mman.ts';
import * as U from './uapi.ts';

/** mshare_align = P4D_SIZE: one PML4 entry's span with 4-level paging (512 GiB). */
export const MSHARE_ALIGN = 2 ** 39;
/** Where region offset 0 lies in the host mm. */
export const MSHARE_BASE = MSHARE_ALIGN;
export const MSHARE_MAGIC = 0x4d534852;

const ioc = (dir: number, nr: number, size: number) => ((dir << 30) | (size << 16) | (0x78 << 8) | nr) >>> 0;
/** _IOW('x', 0, struct mshare_create) and _IOW('x', 1, struct mshare_unmap). */
export const MSHAREFS_CREATE_MAPPING = ioc(1, 0, 40);
export const MSHAREFS_UNMAP = ioc(1, 1, 16);

export class MshareRegion {
  readonly k: Kmm;
  /** The host mm: the region's VMAs and page tables, owned by no process. */
  readonly hostMm: Mm;
  /** Size in bytes; 0 until set. */
  size = 0;
  initialized = false;
  /** The creating process (HAS_OWNER while it lives). */
  ownerPid: number;
  hasOwner = true;

  constructor(k: Kmm, ownerPid: number) {
    this.k = k;
    this.hostMm = new Mm(k);
    this.hostMm.mmapBase = MSHARE_BASE;
    this.ownerPid = ownerPid;
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
    if (cmd === MSHAREFS_CREATE_MAPPING) {
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
    if (cmd === MSHAREFS_UNMAP) {
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
