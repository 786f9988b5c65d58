// The symbolic links of /proc (fs/proc/self.c, base.c's proc_exe_link, proc_cwd_link and
// proc_root_link, fd.c's proc_fd_link): what each links to, and what following one opens.
//
//   /proc/self       -> "PID" of the caller
//   /proc/PID/exe    -> the module the process was spawned from (its path on the host)
//   /proc/PID/cwd    -> "/" (every process's working directory)
//   /proc/PID/root   -> "/"
//   /proc/PID/fd/N   -> what descriptor N names (fileLink: d_path, or d_dname's
//                       "anon_inode:[...]", "pipe:[INO]")
//
// These are the only symbolic links ptlab has (the VFS has none). Following /proc/self, cwd
// and root continues the walk at their text; following fd/N reopens the file it names, as
// Linux's proc_fd_link makes the walk land on the file's own dentry (a new open file
// description of the same inode, with the flags given to open); following exe opens
// nothing, as the module is not a file of ptlab's VFS.

import * as U from '../../uapi.ts';
import { type Dirent, type DirList, File, type FileOps } from '../file.ts';
import { InodeFile, type Vfs } from '../vfs.ts';
import type { ProcRoot, ProcTask } from './base.ts';

/** A link of /proc: parts[at] is its name; text is what readlink gives; mode its lstat mode. */
export interface ProcLink {
  readonly at: number;
  readonly text: string;
  readonly mode: number;
  /** fd/N: the open file it names; exe: null, and following it opens nothing. */
  readonly file: File | null;
  /** Where the walk continues when it is followed through (/proc/self, cwd, root; fd/N of a directory), or null. */
  readonly target: string | null;
}

const LINK_ALL = U.S_IFLNK | 0o777;

/** A descriptor's name in /proc/PID/fd: a decimal number without leading zeros (name_to_int). */
const FD_NAME = /^(0|[1-9][0-9]*)$/;

/** What /proc/PID/fd/N shows for an open file: its dname, or a VFS inode's d_path. */
export function fileLink(f: File): string {
  if (f.ops.dname !== undefined) return f.ops.dname(f);
  return f instanceof InodeFile ? f.inode.path : 'anon_inode:[unknown]';
}

/** A directory a followed link lands in, or null for anything else. */
function dirPath(f: File): string | null {
  if (f instanceof InodeFile) return f.inode.isDir ? f.inode.path : null;
  return f.path;
}

/**
 * The first link among the prefixes of `parts` (a path's components, from the root), as
 * `caller` sees it: a ProcLink; null if no prefix is a link; -ENOENT if it names a
 * descriptor that is not open or a zombie's exe, cwd or root (which have none).
 */
export function procLinkAt(root: ProcRoot, caller: ProcTask, parts: readonly string[]): ProcLink | null | number {
  if (parts[0] !== 'proc' || parts.length < 2) return null;
  if (parts[1] === 'self') return { at: 1, text: String(caller.pid), mode: LINK_ALL, file: null, target: `/proc/${caller.pid}` };
  const t = /^[1-9][0-9]*$/.test(parts[1]) ? root.taskByPid(Number(parts[1])) : undefined;
  if (t === undefined || parts.length < 3) return null;
  const name = parts[2];
  if (name === 'exe' || name === 'cwd' || name === 'root') {
    if (t.state === 'zombie') return -U.ENOENT;
    const text = name === 'exe' ? t.path : '/';
    return { at: 2, text, mode: LINK_ALL, file: null, target: name === 'exe' ? null : '/' };
  }
  if (name !== 'fd' || parts.length < 4) return null;
  const f = FD_NAME.test(parts[3]) ? t.fds.get(Number(parts[3])) : null;
  if (f === null) return -U.ENOENT;
  // proc_fd_instantiate: r-x for a file open for reading, -wx for writing.
  const mode = U.S_IFLNK | (f.readable && (f.flags & U.O_PATH) === 0 ? 0o500 : 0) | (f.writable && (f.flags & U.O_PATH) === 0 ? 0o300 : 0);
  return { at: 3, text: fileLink(f), mode, file: f, target: dirPath(f) };
}

/**
 * The open file of a link itself (open with O_PATH|O_NOFOLLOW): fstat shows the link,
 * readlinkat(fd, "") reads it, /proc/PID/fd/N shows the link's own path.
 */
export class ProcLinkFile extends File {
  /** The link's path, its components from the root with "self" resolved. */
  readonly parts: readonly string[];

  constructor(parts: readonly string[], link: ProcLink) {
    super(linkFileOps(`/${parts.join('/')}`, link.mode), U.O_PATH);
    this.parts = parts;
  }
}

function linkFileOps(path: string, mode: number): FileOps {
  return { seekable: false, dname: () => path, getattr: () => ({ mode, ino: 0, nlink: 1, size: 0, blocks: 0 }) };
}

/**
 * Reopen f (the follow of /proc/PID/fd/N): a new open file description of the same file
 * with `flags` (do_open's checks, O_TRUNC, position 0), or -errno: ENXIO for a file that
 * cannot be reopened (an anonymous inode's) unless O_PATH asks only for a name.
 */
export function reopenFile(vfs: Vfs, f: File, flags: number, cpu: number): File | number {
  if (f instanceof InodeFile) {
    const g = vfs.openExisting(f.inode, flags, cpu);
    if (typeof g !== 'number' && f.inode.isDir) g.path = f.inode.path;
    return g;
  }
  if ((flags & U.O_PATH) !== 0) return pathOnly(f, flags);
  return f.ops.reopen?.(f, flags) ?? -U.ENXIO;
}

/**
 * An O_PATH descriptor of a file outside the VFS (do_o_path: no open, so an anonymous
 * inode's works too): it names the file (fstat, /proc/PID/fd/N) and does nothing else.
 */
function pathOnly(f: File, flags: number): File {
  const name = fileLink(f);
  const ops: FileOps = { seekable: false, dname: () => name };
  const getattr = f.ops.getattr;
  return new File(getattr === undefined ? ops : { ...ops, getattr: () => getattr(f) }, flags);
}

/**
 * open(2) of a path that ended at a link (`parts`, the link's components, with "self"
 * resolved): `followed` says the walk was to follow it (no O_NOFOLLOW, or a trailing
 * slash, `dirOnly`). Not followed, the link itself with O_PATH, else ELOOP; followed, fd/N
 * reopens its file and exe opens nothing (ENOENT: the module is outside the VFS).
 */
export function openLink(vfs: Vfs, parts: readonly string[], link: ProcLink, flags: number, followed: boolean, dirOnly: boolean, cpu: number): File | number {
  if ((flags & (U.O_CREAT | U.O_EXCL)) === (U.O_CREAT | U.O_EXCL)) return -U.EEXIST;
  if (!followed) return (flags & U.O_PATH) !== 0 ? new ProcLinkFile(parts, link) : -U.ELOOP;
  if (dirOnly && link.target === null) return -U.ENOTDIR;
  if (link.file === null) return -U.ENOENT;
  return reopenFile(vfs, link.file, flags, cpu);
}

/**
 * The listing of /proc/PID/fd (proc_readfd_common): ".", "..", then each open descriptor
 * N, a link, at position N + 2; the end is max_fds + 2. Inode numbers are ptlab's own.
 */
export function procFdList(t: ProcTask, ino: number): DirList {
  const entries: Dirent[] = [{ name: '.', ino, type: U.DT_DIR, pos: 0 }, { name: '..', ino: ino - 1, type: U.DT_DIR, pos: 1 }];
  for (let fd = 0; fd < t.fds.size; fd++) if (t.fds.get(fd) !== null) entries.push({ name: String(fd), ino: ino + 1 + fd, type: U.DT_LNK, pos: fd + 2 });
  return { entries, end: t.fds.maxFds + 2 };
}
