// Reference pages (the v5 "mm: introduce reference pages" patch, never merged;
// ../shared/reference/refpage.md): refpage_create(content, size, flags) copies `size` bytes
// of pattern into a kernel-owned page, repeated to fill it, and returns an O_RDONLY,
// close-on-exec descriptor (the file is fs/anon_inodes.ts's). A MAP_PRIVATE mapping of it
// is anonymous memory whose clean pages are the reference page instead of the zero page:
// a read fault maps the reference page read-only through a special PTE (no refcount, no
// mapcount, not in RSS, exactly as the zero page), a write fault fills a new private page
// from it (memset when the pattern is one byte), and a write to a PTE that maps it copies
// it. The page itself is held once by the open file and once by each VMA that maps it, so
// no count depends on the number of PTEs.

import { KernelBug } from '../bug.ts';
import * as U from '../uapi.ts';
import { type Kmm } from './kmm.ts';
import { type Mm } from './mm.ts';
import type { MappedFile, VmaDesc, VmOperations } from './mm_types.ts';
import { afterFlushes } from './mmu_gather.ts';
import { allocPages, GFP_KERNEL, PG_SPECIAL } from './page_alloc.ts';
import { copyFromUser } from './uaccess.ts';

/** Where /proc/PID/maps says a refpage mapping comes from: the anonymous inode. */
export const ANON_INODE_DEV = '00:0f';
export const ANON_INODE_INO = 1057;

export class RefPage implements MappedFile {
  /** What /proc/PID/maps shows: the anonymous inode's file "[refpage]". */
  readonly name = 'anon_inode:[refpage]';
  readonly dev = ANON_INODE_DEV;
  readonly ino = ANON_INODE_INO;
  readonly k: Kmm;
  /** The reference page's frame (PG_SPECIAL). */
  readonly pfn: number;
  /** The pattern's length in bytes (a power of two up to a page); 1 fills with memset. */
  readonly size: number;
  /** The open file plus the VMAs that map the page. */
  private users = 1;

  constructor(k: Kmm, pfn: number, pattern: Uint8Array) {
    this.k = k;
    this.pfn = pfn;
    this.size = pattern.length;
    const bytes = k.mem.u8;
    for (let at = pfn * 4096; at < (pfn + 1) * 4096; at += pattern.length) bytes.set(pattern, at);
    k.pages.flags[pfn] |= PG_SPECIAL;
  }

  /** A VMA now maps the reference page (vm_file's reference). */
  get(): void {
    this.users++;
  }

  /** The file or a VMA let go; the last one frees the page. */
  put(): void {
    if (this.users <= 0) throw new KernelBug('refpage: put without a user');
    if (--this.users > 0) return;
    const k = this.k;
    k.pages.flags[this.pfn] &= ~PG_SPECIAL;
    // Its PTEs are gone, but a CPU that has not yet acknowledged their shootdown may still
    // reach the frame: free it only after every flush still outstanding.
    afterFlushes(k, () => k.pages.putPage(this.pfn));
  }

  /** arch_copy_refpage: fill a new private page with the reference content. */
  fill(pfn: number): void {
    if (this.size === 1) {
      const word = this.k.mem.u8[this.pfn * 4096] * 0x01010101;
      this.k.mem.i32.fill(word | 0, pfn * 1024, (pfn + 1) * 1024);
      this.k.work.zeroed++; // a page filled with one byte costs what zeroing it does
    } else {
      this.k.mem.copyFrame(pfn, this.pfn);
      this.k.work.copied++;
    }
  }
}

/**
 * refpage_create(content, size, flags) up to the page, with v5's checks in order: flags
 * (EINVAL); size a power of two up to a page and content aligned to it (EINVAL); content
 * readable, faulted in if need be (EFAULT); a frame (ENOMEM). The reference page (held once,
 * for the file the caller makes of it: fs/anon_inodes.ts), or -errno.
 */
export function refpageAlloc(k: Kmm, mm: Mm, content: number, size: number, flags: number, cpu: number): RefPage | number {
  if (flags !== 0) return -U.EINVAL;
  if (!Number.isInteger(size) || size <= 0 || size > 4096 || (size & (size - 1)) !== 0) return -U.EINVAL;
  if (!Number.isInteger(content) || content < 0 || content % size !== 0) return -U.EINVAL;
  const pattern = copyFromUser(k, mm, content, size, cpu);
  if (typeof pattern === 'number') return -U.EFAULT;
  const pfn = allocPages(k, 0, GFP_KERNEL);
  if (pfn < 0) return -U.ENOMEM;
  return new RefPage(k, pfn, pattern);
}

/**
 * The VMAs of a reference page's file: anonymous memory (v5 made them so, with
 * vma_set_anonymous) whose clean pages are the reference page; each VMA holds the page.
 */
export const refpageVmOps: VmOperations = {
  name: 'refpage',
  refpage: (vma) => vma.file as RefPage,
  open: (vma) => (vma.file as RefPage).get(),
  close: (_k, vma) => (vma.file as RefPage).put(),
};

/**
 * mmap of the file: MAP_PRIVATE only (v5 forced even a shared mapping anonymous, leaving it
 * broken; ptlab refuses it), at the file offset given.
 */
export function refpageMmap(rp: RefPage, desc: VmaDesc): number {
  if (desc.shared) return -U.EINVAL;
  desc.ops = refpageVmOps;
  desc.file = rp;
  desc.pgoff = desc.off / 4096;
  return 0;
}
