// Files without a filesystem of their own (fs/anon_inodes.c): a reference page's file,
// "anon_inode:[refpage]", which refpage_create returns (mm/refpage.ts has the page).

import type { Kernel } from '../kernel.ts';
import { type Kmm, type Mm, type RefPage, refpageAlloc, refpageMmap } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { File, type FileOps } from './file.ts';
import { installFd } from './open.ts';

/** The open file of a reference page: only mmap and release (read(2) and the rest are EINVAL). */
export class RefPageFile extends File {
  readonly rp: RefPage;

  constructor(rp: RefPage) {
    super(REFPAGE_FOPS, U.O_RDONLY);
    this.rp = rp;
  }
}

const REFPAGE_FOPS: FileOps = {
  seekable: false,
  mmap: (f, desc) => refpageMmap((f as RefPageFile).rp, desc),
  release: (f) => (f as RefPageFile).rp.put(),
  dname: () => 'anon_inode:[refpage]',
};

/** refpage_create up to the descriptor: the O_RDONLY file of a new reference page, or -errno. */
export function refpageCreate(k: Kmm, mm: Mm, content: number, size: number, flags: number, cpu: number): RefPageFile | number {
  const rp = refpageAlloc(k, mm, content, size, flags, cpu);
  return typeof rp === 'number' ? rp : new RefPageFile(rp);
}

/** refpage_create(2) (v5): a reference page behind an O_RDONLY, close-on-exec descriptor. */
export function sysRefpageCreate(kn: Kernel, t: Thread, content: number, size: number, flags: number): number {
  const f = refpageCreate(kn.k, t.proc.mm, content, size, flags, t.cpu);
  return typeof f === 'number' ? f : installFd(t, f, true);
}
