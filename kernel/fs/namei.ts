// Paths from system calls (fs/namei.c): the components of a path argument, relative
// ones against a directory descriptor; following the links in them (/proc's, the only
// ones); mkdir(at) and unlink(at).

import type { Kernel } from '../kernel.ts';
import { pathFromUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { type ProcLink, procLinkAt } from './proc/fd.ts';
import { pathParts } from './vfs.ts';

/** Links one walk may follow (MAXSYMLINKS). */
const MAXSYMLINKS = 40;

/** A path argument: its components from the root, and whether it ended in "/" (then the last must be a directory). */
export interface PathArg {
  readonly parts: string[];
  readonly slash: boolean;
}

/** A path argument, relative paths against dirfd (AT_FDCWD: "/"); or -errno (ENOENT for ""). */
export function pathArgFull(kn: Kernel, t: Thread, dirfd: number, pathPtr: number): PathArg | number {
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
  const parts = pathParts(path, base);
  return typeof parts === 'number' ? parts : { parts, slash: path.endsWith('/') };
}

/** The components of a path argument, relative paths against dirfd (AT_FDCWD: "/"); or -errno. */
export function pathArg(kn: Kernel, t: Thread, dirfd: number, pathPtr: number): string[] | number {
  const p = pathArgFull(kn, t, dirfd, pathPtr);
  return typeof p === 'number' ? p : p.parts;
}

/** Where a walk ended: the path with every link before its last component followed, and the link it ended at, if any. */
export interface Walked {
  readonly parts: string[];
  readonly link: ProcLink | null;
}

/**
 * Follow the links of a path (link_path_walk and trailing_symlink; the links are /proc's):
 * every link before the last component, and the last too if `follow`, continuing at its
 * text. A followed /proc/PID/fd/N that names a file stops the walk there (it is reopened,
 * not looked up by name); so does a last link not followed. -ENOTDIR for a path through a
 * link to something not a directory, -ELOOP after 40 links (MAXSYMLINKS).
 */
export function walkLinks(kn: Kernel, t: Thread, start: string[], follow: boolean): Walked | number {
  let parts = start;
  for (let n = 0; n <= MAXSYMLINKS; n++) {
    const link = procLinkAt(kn, t.proc, parts);
    if (typeof link === 'number') return link;
    if (link === null) return { parts, link };
    const rest = parts.slice(link.at + 1);
    if (rest.length === 0 && (!follow || link.file !== null)) return { parts, link };
    if (link.target === null) return rest.length === 0 ? { parts, link } : -U.ENOTDIR;
    const next = pathParts([link.target, ...rest].join('/'));
    if (typeof next === 'number') return next;
    parts = next;
  }
  return -U.ELOOP;
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
