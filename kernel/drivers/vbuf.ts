// /dev/vbuf: a coherent-buffer device modelled on vmwgfx's dirty tracking
// (drivers/gpu/drm/vmwgfx/vmwgfx_page_dirty.c; ../shared/reference/dirty-pagewalk.md
// section 3). User space creates buffer objects (BOs), maps them shared through the device
// at the offset the driver gives, writes into them, and harvests which pages were written.
//
// All BOs live in one page cache (the device's address space), each at its own page
// offset, as vmwgfx's BOs live in bdev->dev_mapping. Two tracking methods:
// - PAGETABLE: pages are mapped writable and the CPU sets D; a scan cleans and records D
//   bits (cleanRecordSharedMappingRange). Chosen for BOs under 512 pages (one page table).
// - MKWRITE: pages are mapped read-only; the first write to each faults into pageMkwrite,
//   which records it; a scan write-protects the recorded span again.
// Three scans in a row with nothing dirty switch PAGETABLE to MKWRITE; three in a row
// that re-protect more than 10% of the BO switch MKWRITE to PAGETABLE.
//
// ioctls (struct layouts little-endian):
//   VBUF_CREATE  _IOWR('V', 1, 16)  { u32 pages; u32 handle (out); u64 offset (out, bytes) }
//   VBUF_HARVEST _IOWR('V', 2, 24)  { u32 handle; u32 method (out: 0 pagetable, 1 mkwrite);
//                                     u64 bitmap (user pointer, one bit per page);
//                                     u32 dirty (out: pages set); u32 switches (out) }
//                                   returns the PTEs the scan cleaned or write-protected
//                                   (a page mapped and dirty in two processes counts twice)
//   VBUF_DESTROY _IOW('V', 3, 4)    { u32 handle }

import type { FileOps, UserIo } from '../fs/index.ts';
import {
  AddressSpace, cachePage, cleanRecordSharedMappingRange, filemapFault, fileMmap, unmapMappingRange,
  wpSharedMappingRange, type Kmm, type VmOperations,
} from '../mm/index.ts';

import * as U from '../uapi.ts';



export const METHOD_PAGETABLE = 0;
export const METHOD_MKWRITE = 1;
/** VMW_DIRTY_NUM_CHANGE_TRIGGERS and VMW_DIRTY_PERCENTAGE. */
const CHANGE_TRIGGERS = 2;
const PERCENTAGE = 10;
/** PAGE_SIZE / sizeof(pte_t): BOs smaller than one page table start in PAGETABLE mode. */
const PAGETABLE_LIMIT = 512;

export class Bo {
  readonly handle: number;
  /** The open device file that made it: closing it destroys the BO. */
  owner: unknown = null;
  /** First page offset in the device's address space, and size in pages. */
  readonly offset: number;
  readonly pages: number;
  method: number;
  changeCount = 0;
  /** Bounds of the set bits (end exclusive; empty: start = pages, end = 0). */
  start: number;
  end = 0;
  readonly bitmap: Uint8Array;
  /** Method changes so far. */
  switches = 0;

  constructor(handle: number, offset: number, pages: number) {
    this.handle = handle;
    this.offset = offset;
    this.pages = pages;
    this.method = pages < PAGETABLE_LIMIT ? METHOD_PAGETABLE : METHOD_MKWRITE;
    this.start = pages;
    this.bitmap = new Uint8Array(Math.ceil(pages / 8));
  }

  setBit(i: number): void {
    this.bitmap[i >> 3] |= 1 << (i & 7);
    if (i < this.start) this.start = i;
    if (i + 1 > this.end) this.end = i + 1;
  }
}

export class VbufDevice {
  readonly k: Kmm;
  readonly mapping: AddressSpace;
  readonly bos = new Map<number, Bo>();
  private nextHandle = 1;
  private nextOffset = 0;
  readonly ops: FileOps;
  /**
   * The VMAs of buffer objects (vmwgfx's vm_ops over TTM): page-cache faults without
   * fault-around, write-notified unless a BO is tracked by PAGETABLE, SIGBUS outside BOs.
   */
  readonly vmOps: VmOperations;

  constructor(k: Kmm) {
    this.k = k;
    this.mapping = new AddressSpace(k.nextIno(), 0, '/dev/vbuf', '00:06');
    this.mapping.holders = 1; // the device itself
    // Buffer objects are device memory to the driver: never reclaimed (TTM pages are not on the LRU).
    this.mapping.unevictable = true;
    this.vmOps = {
      name: 'vbuf',
      fault: filemapFault,
      pageMkwrite: (_vma, idx) => {
        const bo = this.boAt(idx);
        if (bo === undefined) return -U.EFAULT;
        if (bo.method === METHOD_MKWRITE) bo.setBit(idx - bo.offset);
        return 0;
      },
      writeNotify: (_vma, idx) => this.boAt(idx)?.method !== METHOD_PAGETABLE,
      valid: (idx) => this.boAt(idx) !== undefined,
      // TTM maps buffer objects VM_MIXEDMAP | VM_DONTEXPAND (VM_SPECIAL), which takes no
      // guard regions (is_valid_guard_vma).
      madvise: (_vma, advice) => (advice === U.MADV_GUARD_INSTALL || advice === U.MADV_GUARD_REMOVE ? -U.EINVAL : 0),
    };
    this.ops = {
      seekable: false,
      // TTM refuses copy-on-write mappings of buffer objects.
      mmap: (_f, desc) => {
        if (!desc.shared) return -U.EINVAL;
        fileMmap(this.mapping, desc);
        desc.ops = this.vmOps;
        return 0;
      },
      ioctl: (f, cmd, arg, io) => this.ioctl(cmd, arg, io, f),
      // Closing the device file destroys its BOs (unmapping them from every process).
      release: (f) => {
        for (const bo of [...this.bos.values()]) if (bo.owner === f) this.destroy(bo, -1);
      },
    };
  }

  private boAt(idx: number): Bo | undefined {
    for (const bo of this.bos.values()) if (idx >= bo.offset && idx < bo.offset + bo.pages) return bo;
    return undefined;
  }

  ioctl(cmd: number, arg: number, io: UserIo, owner: unknown = null): number {
    if (cmd === U.VBUF_CREATE) {
      const b = io.copyFrom(arg, 16);
      if (typeof b === 'number') return b;
      const dv = new DataView(b.buffer);
      const pages = dv.getUint32(0, true);
      if (pages === 0 || pages > 1 << 20) return -U.EINVAL;
      const r = this.create(pages, io.cpu);
      if (typeof r === 'number') return r;
      r.owner = owner;
      dv.setUint32(4, r.handle, true);
      dv.setBigUint64(8, BigInt(r.offset * 4096), true);
      return io.copyTo(arg, b);
    }
    if (cmd === U.VBUF_HARVEST) {
      const b = io.copyFrom(arg, 24);
      if (typeof b === 'number') return b;
      const dv = new DataView(b.buffer);
      const bo = this.bos.get(dv.getUint32(0, true));
      if (bo === undefined) return -U.ENOENT;
      const bitmap = this.harvest(bo, io.cpu);
      const ptr = Number(dv.getBigUint64(8, true));
      const c = io.copyTo(ptr, bitmap);
      if (c < 0) return c;
      dv.setUint32(4, bo.method, true);
      dv.setUint32(16, bitmap.reduce((n, x) => n + popcount(x), 0), true);
      dv.setUint32(20, bo.switches, true);
      const c2 = io.copyTo(arg, b);
      return c2 < 0 ? c2 : this.lastScanned;
    }
    if (cmd === U.VBUF_DESTROY) {
      const b = io.copyFrom(arg, 4);
      if (typeof b === 'number') return b;
      const bo = this.bos.get(new DataView(b.buffer).getUint32(0, true));
      if (bo === undefined) return -U.ENOENT;
      this.destroy(bo, io.cpu);
      return 0;
    }
    return -U.ENOTTY;
  }

  /** A BO of `pages` zeroed pages; for MKWRITE, vmw_bo_dirty_add's wp + clean. */
  create(pages: number, cpu: number): Bo | number {
    const offset = this.nextOffset;
    for (let i = 0; i < pages; i++) {
      if (cachePage(this.k, this.mapping, offset + i) < 0) {
        for (let j = 0; j < i; j++) {
          this.k.pages.putPage(this.mapping.pages.erase(offset + j));
        }
        return -U.ENOMEM;
      }
    }
    this.nextOffset += pages;
    this.mapping.size = this.nextOffset * 4096;
    const bo = new Bo(this.nextHandle++, offset, pages);
    this.bos.set(bo.handle, bo);
    if (bo.method === METHOD_MKWRITE) {
      wpSharedMappingRange(this.k, this.mapping, offset, pages, cpu);
      this.cleanRecord(bo, offset, pages, cpu);
    }
    return bo;
  }

  private cleanRecord(bo: Bo, first: number, nr: number, cpu: number): number {
    const range = { start: bo.start, end: bo.end };
    const n = cleanRecordSharedMappingRange(this.k, this.mapping, first, nr, bo.offset, bo.bitmap, range, cpu);
    bo.start = range.start;
    bo.end = range.end;
    return n;
  }

  /** vmw_bo_dirty_scan, with its method switches; the PTEs it cleaned or write-protected. */
  scan(bo: Bo, cpu: number): number {
    if (bo.method === METHOD_PAGETABLE) {
      const marked = this.cleanRecord(bo, bo.offset, bo.pages, cpu);
      bo.changeCount = marked === 0 ? bo.changeCount + 1 : 0;
      if (bo.changeCount > CHANGE_TRIGGERS) {
        bo.changeCount = 0;
        bo.method = METHOD_MKWRITE;
        bo.switches++;
        wpSharedMappingRange(this.k, this.mapping, bo.offset, bo.pages, cpu);
        this.cleanRecord(bo, bo.offset, bo.pages, cpu);
      }
      return marked;
    }
    if (bo.end <= bo.start) return 0;
    const marked = wpSharedMappingRange(this.k, this.mapping, bo.offset + bo.start, bo.end - bo.start, cpu);
    bo.changeCount = Math.floor((100 * marked) / bo.pages) > PERCENTAGE ? bo.changeCount + 1 : 0;
    if (bo.changeCount > CHANGE_TRIGGERS) {
      bo.method = METHOD_PAGETABLE;
      bo.switches++;
      cleanRecordSharedMappingRange(this.k, this.mapping, bo.offset, bo.pages, bo.offset, bo.bitmap, { start: 0, end: bo.pages }, cpu);
      // The whole previous span is marked dirty: conservative, as vmwgfx does.
      bo.bitmap.fill(0);
      for (let i = bo.start; i < bo.end; i++) bo.bitmap[i >> 3] |= 1 << (i & 7);
      bo.changeCount = 0;
    }
    return marked;
  }

  /** PTEs the last harvest's scan cleaned or write-protected (the ioctl's return value). */
  lastScanned = 0;

  /** Scan, then hand the bitmap over and clear it (vmw_bo_dirty_transfer_to_res). */
  harvest(bo: Bo, cpu: number): Uint8Array {
    this.lastScanned = this.scan(bo, cpu);
    const out = bo.bitmap.slice();
    bo.bitmap.fill(0);
    bo.start = bo.pages;
    bo.end = 0;
    return out;
  }

  /** Unmap the BO from every process (PAGETABLE: record D bits first) and free its pages. */
  destroy(bo: Bo, cpu: number): void {
    if (bo.method === METHOD_PAGETABLE) {
      wpSharedMappingRange(this.k, this.mapping, bo.offset, bo.pages, cpu);
      this.cleanRecord(bo, bo.offset, bo.pages, cpu);
    }
    unmapMappingRange(this.k, this.mapping, bo.offset, bo.offset + bo.pages, true, cpu);
    for (let i = 0; i < bo.pages; i++) {
      const pfn = this.mapping.pages.erase(bo.offset + i);
      if (pfn !== -1) this.k.pages.putPage(pfn);
    }
    this.bos.delete(bo.handle);
  }
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}
