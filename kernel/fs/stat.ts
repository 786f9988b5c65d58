// fstat(2) (fs/stat.c): struct stat as x86-64 lays it out, from the file's getattr; and
// readlink(2) and readlinkat(2), which read /proc's links (proc/fd.ts).

import type { Kernel } from '../kernel.ts';
import { copyToUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import type { File, Kstat } from './file.ts';
import { pathArgFull, walkLinks } from './namei.ts';
import { procOpen } from './proc/base.ts';
import { ProcLinkFile, procLinkAt } from './proc/fd.ts';

/** sizeof(struct stat) on x86-64. */
const STAT_SIZE = 144;

/** fstat(2): 144 bytes at buf, or -errno. */
export function sysFstat(kn: Kernel, t: Thread, fd: number, buf: number): number {
  const f = t.proc.fds.get(fd);
  if (f === null) return -U.EBADF;
  const s = f.ops.getattr?.(f) ?? defaultStat(f);
  const st = new Uint8Array(STAT_SIZE);
  const dv = new DataView(st.buffer);
  dv.setBigUint64(8, BigInt(s.ino), true); // st_ino
  dv.setBigUint64(16, BigInt(s.nlink), true); // st_nlink
  dv.setUint32(24, s.mode, true); // st_mode
  dv.setBigInt64(48, BigInt(s.size), true); // st_size
  dv.setBigInt64(56, 4096n, true); // st_blksize
  dv.setBigInt64(64, BigInt(s.blocks), true); // st_blocks
  return copyToUser(kn.k, t.proc.mm, buf, st, t.cpu);
}

/**
 * A file without getattr (a /proc file, a reference page's): a directory if it has a path,
 * a read-only regular file if it cannot be written or sized, else a character device.
 */
function defaultStat(f: File): Kstat {
  let mode = U.S_IFCHR | 0o620;
  if (f.path !== null) mode = U.S_IFDIR | 0o555;
  else if (f.ops.size === undefined && f.ops.write === undefined) mode = U.S_IFREG | 0o444;
  return { mode, ino: 0, nlink: 1, size: 0, blocks: 0 };
}

/**
 * readlinkat(2) (do_readlinkat; readlink(2) is readlinkat at AT_FDCWD): the text of the
 * link the path names, its last component not followed (unless the path ends in "/"),
 * truncated to bufsiz bytes, no NUL added: the bytes copied, or EINVAL (bufsiz <= 0, not a
 * link), ENOENT (no such file; "" unless dirfd is an O_PATH descriptor of a link, which
 * is then read), ENOTDIR, EBADF (dirfd), EFAULT (path or buffer).
 */
export function sysReadlinkat(kn: Kernel, t: Thread, dirfd: number, pathPtr: number, buf: number, bufsiz: number): number {
  const size = Number.isInteger(bufsiz) ? bufsiz | 0 : 0; // an int
  if (size <= 0) return -U.EINVAL;
  const arg = pathArgFull(kn, t, dirfd, pathPtr);
  if (arg === -U.ENOENT) return readlinkEmpty(kn, t, dirfd, buf, size);
  if (typeof arg === 'number') return arg;
  const w = walkLinks(kn, t, arg.parts, arg.slash);
  if (typeof w === 'number') return w;
  if (w.link !== null && !arg.slash) return copyLink(kn, t, w.link.text, buf, size);
  // A trailing slash followed the link: it must have led to a directory, which is no link.
  if (w.link !== null) return w.link.target === null ? -U.ENOTDIR : -U.EINVAL;
  const found = w.parts[0] === 'proc' ? procExists(kn, t, w.parts) : vfsExists(kn, w.parts);
  if (found < 0) return found;
  return arg.slash && found === 0 ? -U.ENOTDIR : -U.EINVAL;
}

export const sysReadlink = (kn: Kernel, t: Thread, pathPtr: number, buf: number, bufsiz: number): number => sysReadlinkat(kn, t, U.AT_FDCWD, pathPtr, buf, bufsiz);

/** readlinkat(dirfd, ""): the link an O_PATH descriptor holds (LOOKUP_EMPTY), else ENOENT. */
function readlinkEmpty(kn: Kernel, t: Thread, dirfd: number, buf: number, size: number): number {
  if (dirfd === U.AT_FDCWD) return -U.ENOENT;
  const d = t.proc.fds.get(dirfd);
  if (d === null) return -U.EBADF;
  if (!(d instanceof ProcLinkFile)) return -U.ENOENT;
  const link = procLinkAt(kn, t.proc, d.parts);
  if (typeof link === 'number') return link;
  return link === null ? -U.ENOENT : copyLink(kn, t, link.text, buf, size);
}

/** readlink_copy: at most size bytes of the text, without a NUL. */
function copyLink(kn: Kernel, t: Thread, text: string, buf: number, size: number): number {
  const bytes = new TextEncoder().encode(text).subarray(0, size);
  const r = copyToUser(kn.k, t.proc.mm, buf, bytes, t.cpu);
  return r < 0 ? r : bytes.length;
}

/** A /proc path that is no link: 1 for a directory, 0 for a file, or -errno. */
function procExists(kn: Kernel, t: Thread, parts: string[]): number {
  const f = procOpen(kn, t.proc, `/${parts.join('/')}`, U.O_RDONLY);
  return typeof f === 'number' ? f : f.path !== null ? 1 : 0;
}

/** A VFS path: 1 for a directory, 0 for anything else, or -errno. */
function vfsExists(kn: Kernel, parts: string[]): number {
  const inode = kn.vfs.lookup(parts);
  return typeof inode === 'number' ? inode : inode.isDir ? 1 : 0;
}
