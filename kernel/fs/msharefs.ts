// msharefs (the mshare v3 series' filesystem at /sys/fs/mshare): every regular file is a
// region (mm/mshare.ts), created by open(O_CREAT) and owned by its creator; it is sized once
// by ftruncate or fallocate, populated with ioctls, and mapped whole. mshare_info tells the
// alignment. The region goes when its inode has no link, no open file and no mapping.

import { MSHARE_ALIGN, MshareRegion, regionMmap, regionUnmappedArea } from '../mm/index.ts';
import * as U from '../uapi.ts';
import type { File, FileOps, Kstat } from './file.ts';
import type { Inode, InodeFile, Vfs } from './vfs.ts';

/** A new region file at `path`, owned by process `pid`; -ENOMEM if there is no frame for it. */
export function msharefsCreate(vfs: Vfs, path: string, mode: number, pid: number): Inode | number {
  const region = MshareRegion.create(vfs.k, pid);
  if (typeof region === 'number') return region;
  const inode = vfs.newInode(U.S_IFREG | (mode & 0o7777));
  inode.region = region;
  region.path = path;
  region.ino = inode.ino;
  region.onUnused = () => vfs.evictIfUnused(inode);
  vfs.regions.add(region);
  return inode;
}

/**
 * An open region file: a control file (no read or write); ftruncate or fallocate(0, 0, len)
 * sets the size once; the ioctls create and remove mappings; mmap maps the region whole.
 */
export function msharefsFileOps(vfs: Vfs, release: (f: File) => void): FileOps {
  const regionOf = (f: File) => (f as InodeFile).inode.region!;
  return {
    seekable: true,
    getUnmappedArea: (f, mm, addr, len, flags) => regionUnmappedArea(regionOf(f), mm, addr, len, flags),
    mmap: (f, desc) => regionMmap(regionOf(f), desc),
    truncate: (f, len) => regionOf(f).setSize(len),
    // msharefs_fallocate: only mode 0 from offset 0, which sets the size.
    fallocate: (f, mode, off, len) => (mode !== 0 ? -U.EOPNOTSUPP : off !== 0 ? -U.EINVAL : regionOf(f).setSize(len)),
    getattr: (f) => (f as InodeFile).inode.stat(regionOf(f).size),
    ioctl: (f, cmd, arg, io) => regionOf(f).ioctl(cmd, arg, io, (fd) => {
      const g = io.files?.get(fd) as InodeFile | null | undefined;
      return g?.inode?.region != null;
    }),
    release: (f) => {
      release(f);
      vfs.evictIfUnused((f as InodeFile).inode);
    },
  };
}

/** /sys/fs/mshare/mshare_info: the alignment (and size granule) of regions, read-only. */
export function mshareInfoOps(release: (f: File) => void, getattr: (f: File) => Kstat): FileOps {
  const info = new TextEncoder().encode(`${MSHARE_ALIGN}\n`);
  return { seekable: true, read: (_f, len, pos) => info.subarray(Math.min(pos, info.length), Math.min(pos + len, info.length)), getattr, release };
}
