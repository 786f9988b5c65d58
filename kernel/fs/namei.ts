// Paths from system calls (fs/namei.c): the components of a path argument, relative
// ones against a directory descriptor, and mkdir(at) and unlink(at) on them.

import type { Kernel } from '../kernel.ts';
import { pathFromUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { pathParts } from './vfs.ts';

/** The components of a path argument, relative paths against dirfd (AT_FDCWD: "/"); or -errno. */
export function pathArg(kn: Kernel, t: Thread, dirfd: number, pathPtr: number): string[] | number {
  if (!Number.isInteger(dirfd)) return -U.EINVAL;
  const path = pathFromUser(kn.k, t.proc.mm, pathPtr, U.PATH_MAX, t.cpu);
  if (typeof path === 'number') return path;
  let base = '/';
  if (!path.startsWith('/') && dirfd !== U.AT_FDCWD) {
    const d = t.proc.fds.get(dirfd);
    if (d === null) return -U.EBADF;
    if (d.path === null) return -U.ENOTDIR;
    base = d.path;
  }
  return pathParts(path, base);
}

/** mkdirat(2) (mkdir(2) is mkdirat at AT_FDCWD). */
export function sysMkdirat(kn: Kernel, t: Thread, dirfd: number, pathPtr: number, mode: number): number {
  const parts = pathArg(kn, t, dirfd, pathPtr);
  if (typeof parts === 'number') return parts;
  return kn.vfs.mkdir(parts, Number.isInteger(mode) ? mode : 0);
}

export const sysMkdir = (kn: Kernel, t: Thread, pathPtr: number, mode: number): number => sysMkdirat(kn, t, U.AT_FDCWD, pathPtr, mode);

/** unlinkat(2): a file, or with AT_REMOVEDIR a directory (unlink(2) is unlinkat at AT_FDCWD). */
export function sysUnlinkat(kn: Kernel, t: Thread, dirfd: number, pathPtr: number, flags: number): number {
  if (!Number.isInteger(flags) || (flags & ~U.AT_REMOVEDIR) !== 0) return -U.EINVAL;
  const parts = pathArg(kn, t, dirfd, pathPtr);
  if (typeof parts === 'number') return parts;
  if (parts[0] === 'proc' && parts.length > 1) return -U.EPERM;
  return kn.vfs.unlink(parts, (flags & U.AT_REMOVEDIR) !== 0);
}

export const sysUnlink = (kn: Kernel, t: Thread, pathPtr: number): number => sysUnlinkat(kn, t, U.AT_FDCWD, pathPtr, 0);
