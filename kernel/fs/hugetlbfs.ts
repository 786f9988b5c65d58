// hugetlbfs (fs/hugetlbfs): files of huge pages, at /dev/hugepages (2 MiB pages, as
// distributions mount it) and unnamed for memfd_create(MFD_HUGETLB). No read(2) or
// write(2): they are mapped (the pages and reservations are mm/hugetlb.ts's), sized with
// ftruncate in whole huge pages, and take memfd seals as tmpfs files do.

import { checkSealsResize, hugetlbfsMmap, HugetlbMapping } from '../mm/index.ts';
import * as U from '../uapi.ts';
import type { FileOps } from './file.ts';
import type { Inode, Vfs } from './vfs.ts';

/** A new empty file at `path` of the mount's page size, its link holding its pages. */
export function hugetlbfsCreate(vfs: Vfs, path: string, mode: number): Inode {
  const inode = vfs.newInode(U.S_IFREG | (mode & 0o7777));
  const m = new HugetlbMapping(vfs.k.hugetlb.hstates[0], true);
  m.size = 0;
  m.users = 1; // the link
  m.name = path;
  inode.hugetlb = m;
  return inode;
}

/** A file with no name (memfd_create with MFD_HUGETLB) of pages of the pool of `log` (21 or 30). */
export function hugetlbfsUnlinked(vfs: Vfs, name: string, log: number, mode: number): Inode {
  const m = new HugetlbMapping(vfs.k.hugetlb.hstate(log)!, true);
  m.size = 0;
  m.name = `/${name} (deleted)`;
  const inode = vfs.newInode(U.S_IFREG | mode);
  inode.nlink = 0;
  inode.path = m.name;
  inode.hugetlb = m;
  return inode;
}

/** An open hugetlbfs file (it holds the pages): mmap maps them; size is set by ftruncate. */
export function hugetlbfsFileOps(vfs: Vfs, inode: Inode): FileOps {
  const m = inode.hugetlb!;
  m.users++;
  return {
    seekable: true,
    size: () => m.size,
    hugePageSize: () => m.h.size,
    mmap: (_f, desc) => hugetlbfsMmap(m, desc),
    // hugetlbfs_setattr: a whole number of pages first, then the seals.
    truncate: (_f, len) => (len % m.h.size !== 0 ? -U.EINVAL : checkSealsResize(m.seals, m.size, len) || m.truncate(vfs.k, len)),
    seals: () => m,
    getattr: () => inode.stat(m.size, m.pages!.size * (m.h.size / 512)),
    release: () => {
      inode.opens--;
      m.release(vfs.k);
    },
  };
}
