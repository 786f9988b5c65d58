// Opening, closing and sizing files (fs/open.c): openat and open, close, ftruncate and
// fallocate. Their generic checks are here; what a file does is its FileOps'.

import type { Kernel } from '../kernel.ts';
import type { MaybeSliced } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { type File, fput } from './file.ts';
import { pathArgFull, walkLinks } from './namei.ts';
import { procOpen } from './proc/base.ts';
import { openLink } from './proc/fd.ts';
import { InodeFile } from './vfs.ts';

/**
 * A new open file in the caller's descriptor table (fd_install), close-on-exec if asked:
 * the descriptor, or -EMFILE at RLIMIT_NOFILE (the file is dropped then).
 */
export function installFd(t: Thread, f: File, cloexec: boolean): number {
  const fd = t.proc.fds.install(f, cloexec, t.proc.mm.rlimits[U.RLIMIT_NOFILE][0]);
  if (fd < 0) fput(f);
  return fd;
}

/** Flags that act at open and are not kept in the open file (do_dentry_open). */
const OPEN_TIME_FLAGS = U.O_CREAT | U.O_EXCL | U.O_NOCTTY | U.O_TRUNC;

/**
 * openat(2): the path's links followed (the last one unless O_NOFOLLOW, or O_CREAT|O_EXCL,
 * which never follow it; a trailing slash always does); then /proc paths open in procfs,
 * the rest in the VFS, and /proc/PID/fd/N reopens the file it names.
 */
export function sysOpenat(kn: Kernel, t: Thread, dirfd: number, pathPtr: number, flags: number, mode: number): number {
  if (!Number.isInteger(flags)) return -U.EINVAL;
  const arg = pathArgFull(kn, t, dirfd, pathPtr);
  if (typeof arg === 'number') return arg;
  const excl = (flags & (U.O_CREAT | U.O_EXCL)) === (U.O_CREAT | U.O_EXCL);
  const follow = arg.slash || ((flags & U.O_NOFOLLOW) === 0 && !excl);
  const w = walkLinks(kn, t, arg.parts, follow);
  if (typeof w === 'number') return w;
  const parts = w.parts;
  // O_PATH keeps only O_DIRECTORY and O_NOFOLLOW (build_open_flags): no access mode, no
  // O_CREAT; the descriptor is for fstat, fcntl, dup and close.
  const open = (flags & U.O_PATH) !== 0 ? flags & (U.O_PATH | U.O_DIRECTORY | U.O_NOFOLLOW) : flags & ~U.O_CLOEXEC;
  let f: File | number;
  if (w.link !== null) f = openLink(kn.vfs, parts, w.link, open, follow, arg.slash, t.cpu);
  else if (parts[0] === 'proc') f = procOpen(kn, t.proc, `/${parts.join('/')}`, open);
  else f = kn.vfs.open(parts, open, Number.isInteger(mode) ? mode : 0, t.cpu, t.proc.pid);
  if (typeof f === 'number') return f;
  if (f.path === null && f instanceof InodeFile && f.inode.isDir) f.path = f.inode.path;
  // What F_GETFL shows after: open(2) forces O_LARGEFILE on 64-bit (force_o_largefile), and
  // the open-time flags go (do_dentry_open); O_PATH keeps its own few.
  if ((flags & U.O_PATH) === 0) f.flags = (f.flags | U.O_LARGEFILE) & ~OPEN_TIME_FLAGS;
  return installFd(t, f, (flags & U.O_CLOEXEC) !== 0);
}

export const sysOpen = (kn: Kernel, t: Thread, pathPtr: number, flags: number, mode: number): number => sysOpenat(kn, t, U.AT_FDCWD, pathPtr, flags, mode);

export const sysClose = (_kn: Kernel, t: Thread, fd: number): number => t.proc.fds.close(fd);

/** ftruncate(2): files open for writing whose filesystem sizes them (tmpfs, hugetlbfs, msharefs). */
export function sysFtruncate(_kn: Kernel, t: Thread, fd: number, len: number): MaybeSliced {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -U.EBADF;
  if (!Number.isInteger(len) || len < 0) return -U.EINVAL;
  if (f.ops.truncate === undefined || !f.writable) return -U.EINVAL;
  return f.ops.truncate(f, len, t.cpu);
}

/** fallocate(2): mode 0 and KEEP_SIZE allocate, PUNCH_HOLE|KEEP_SIZE frees. */
export function sysFallocate(_kn: Kernel, t: Thread, fd: number, mode: number, off: number, len: number): MaybeSliced {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -U.EBADF;
  if (![mode, off, len].every(Number.isInteger) || off < 0 || len <= 0) return -U.EINVAL;
  if ((mode & ~(U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE)) !== 0) return -U.EOPNOTSUPP;
  if ((mode & U.FALLOC_FL_PUNCH_HOLE) !== 0 && (mode & U.FALLOC_FL_KEEP_SIZE) === 0) return -U.EOPNOTSUPP;
  if (!f.writable) return -U.EBADF;
  if (f.ops.fallocate === undefined) return -U.ENODEV;
  return f.ops.fallocate(f, mode, off, len, t.cpu);
}
