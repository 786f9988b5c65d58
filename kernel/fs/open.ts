// Opening, closing and sizing files (fs/open.c): openat and open, close, ftruncate and
// fallocate. Their generic checks are here; what a file does is its FileOps'.

import type { Kernel } from '../kernel.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { type File, fput } from './file.ts';
import { pathArg } from './namei.ts';
import { procOpen } from './proc/base.ts';
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

/** openat(2): /proc paths open in procfs, the rest in the VFS. */
export function sysOpenat(kn: Kernel, t: Thread, dirfd: number, pathPtr: number, flags: number, mode: number): number {
  if (!Number.isInteger(flags)) return -U.EINVAL;
  const parts = pathArg(kn, t, dirfd, pathPtr);
  if (typeof parts === 'number') return parts;
  // O_PATH keeps only O_DIRECTORY and O_NOFOLLOW (build_open_flags): no access mode, no
  // O_CREAT; the descriptor is for fstat, fcntl, dup and close.
  const open = (flags & U.O_PATH) !== 0 ? flags & (U.O_PATH | U.O_DIRECTORY | U.O_NOFOLLOW) : flags & ~U.O_CLOEXEC;
  const f = parts[0] === 'proc'
    ? procOpen(kn, t.proc, `/${parts.join('/')}`, open)
    : kn.vfs.open(parts, open, Number.isInteger(mode) ? mode : 0, t.cpu, t.proc.pid);
  if (typeof f === 'number') return f;
  if (f.path === null && f instanceof InodeFile && f.inode.isDir) f.path = `/${parts.join('/')}`;
  return installFd(t, f, (flags & U.O_CLOEXEC) !== 0);
}

export const sysOpen = (kn: Kernel, t: Thread, pathPtr: number, flags: number, mode: number): number => sysOpenat(kn, t, U.AT_FDCWD, pathPtr, flags, mode);

export const sysClose = (_kn: Kernel, t: Thread, fd: number): number => t.proc.fds.close(fd);

/** ftruncate(2): files open for writing whose filesystem sizes them (tmpfs, hugetlbfs, msharefs). */
export function sysFtruncate(_kn: Kernel, t: Thread, fd: number, len: number): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -U.EBADF;
  if (!Number.isInteger(len) || len < 0) return -U.EINVAL;
  if (f.ops.truncate === undefined || !f.writable) return -U.EINVAL;
  return f.ops.truncate(f, len, t.cpu);
}

/** fallocate(2): mode 0 and KEEP_SIZE allocate, PUNCH_HOLE|KEEP_SIZE frees. */
export function sysFallocate(_kn: Kernel, t: Thread, fd: number, mode: number, off: number, len: number): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -U.EBADF;
  if (![mode, off, len].every(Number.isInteger) || off < 0 || len <= 0) return -U.EINVAL;
  if ((mode & ~(U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE)) !== 0) return -U.EOPNOTSUPP;
  if ((mode & U.FALLOC_FL_PUNCH_HOLE) !== 0 && (mode & U.FALLOC_FL_KEEP_SIZE) === 0) return -U.EOPNOTSUPP;
  if (!f.writable) return -U.EBADF;
  if (f.ops.fallocate === undefined) return -U.ENODEV;
  return f.ops.fallocate(f, mode, off, len, t.cpu);
}
