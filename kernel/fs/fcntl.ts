// Descriptors (fs/fcntl.c, and dup from fs/file.c): dup, dup2, dup3 and fcntl's
// F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL and F_SETFL, and the file's own
// commands (a pipe's F_GETPIPE_SZ and F_SETPIPE_SZ); F_ADD_SEALS and F_GET_SEALS are memfd.ts's.

import type { Kernel } from '../kernel.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import type { File } from './file.ts';
import { memfdFcntl } from './memfd.ts';

/** The flags F_SETFL may change (SETFL_MASK); O_ASYNC only on files with an fasync operation. */
const SETFL_MASK = U.O_APPEND | U.O_NONBLOCK | U.O_DIRECT | U.O_NOATIME | U.O_ASYNC;

/** dup, dup2, dup3 and F_DUPFD(_CLOEXEC): oldfd's file at newfd (null: the lowest free >= min). */
function dupFd(t: Thread, oldfd: number, newfd: number | null, flags: number, min = 0): number {
  const fds = t.proc.fds;
  const f = fds.get(oldfd);
  if (f === null) return -U.EBADF;
  const limit = t.proc.mm.rlimits[U.RLIMIT_NOFILE][0];
  const cloexec = (flags & U.O_CLOEXEC) !== 0;
  if (newfd === null) {
    const fd = fds.install(f, cloexec, limit, min);
    if (fd >= 0) f.refs++;
    return fd;
  }
  if (!Number.isInteger(newfd) || newfd < 0 || newfd >= limit) return -U.EBADF;
  f.refs++;
  fds.installAt(newfd, f, cloexec);
  return newfd;
}

export const sysDup = (_kn: Kernel, t: Thread, fd: number): number => dupFd(t, fd, null, 0);

/** dup2(2): the same descriptor twice is a check that it is open. */
export function sysDup2(_kn: Kernel, t: Thread, oldfd: number, newfd: number): number {
  if (oldfd === newfd) return t.proc.fds.get(oldfd) === null ? -U.EBADF : newfd;
  return dupFd(t, oldfd, newfd, 0);
}

/** dup3(2): O_CLOEXEC only, and never the same descriptor twice. */
export function sysDup3(_kn: Kernel, t: Thread, oldfd: number, newfd: number, flags: number): number {
  if (!Number.isInteger(flags) || (flags & ~U.O_CLOEXEC) !== 0 || oldfd === newfd) return -U.EINVAL;
  return dupFd(t, oldfd, newfd, flags);
}

/** The commands an O_PATH descriptor takes (check_fcntl_cmd); the rest are EBADF there. */
const O_PATH_CMDS = new Set([U.F_DUPFD, U.F_DUPFD_CLOEXEC, U.F_GETFD, U.F_SETFD, U.F_GETFL]);

/**
 * setfl: the SETFL_MASK bits of arg replace the file's; O_DIRECT only where the file
 * supports it (EINVAL). O_NOATIME's owner check always passes (every file and process is
 * root's), and nothing ptlab does reads O_NOATIME or O_ASYNC.
 */
function setfl(f: File, arg: number): number {
  if ((arg & U.O_DIRECT) !== 0 && f.ops.directIo !== true) return -U.EINVAL;
  const mask = f.ops.fasync === true ? SETFL_MASK : SETFL_MASK & ~U.O_ASYNC;
  f.flags = (arg & mask) | (f.flags & ~mask);
  return 0;
}

/** fcntl(2): on an O_PATH descriptor only the descriptor commands and F_GETFL (EBADF). */
export function sysFcntl(_kn: Kernel, t: Thread, fd: number, cmd: number, arg: number): number {
  const f = t.proc.fds.get(fd);
  if (f === null) return -U.EBADF;
  if ((f.flags & U.O_PATH) !== 0 && !O_PATH_CMDS.has(cmd)) return -U.EBADF;
  switch (cmd) {
    case U.F_DUPFD:
    case U.F_DUPFD_CLOEXEC:
      if (!Number.isInteger(arg) || arg < 0 || arg >= t.proc.mm.rlimits[U.RLIMIT_NOFILE][0]) return -U.EINVAL;
      return dupFd(t, fd, null, cmd === U.F_DUPFD_CLOEXEC ? U.O_CLOEXEC : 0, arg);
    case U.F_GETFD: return t.proc.fds.getCloexec(fd) ? U.FD_CLOEXEC : 0;
    case U.F_SETFD:
      t.proc.fds.setCloexec(fd, (arg & U.FD_CLOEXEC) !== 0);
      return 0;
    case U.F_GETFL: return f.flags;
    case U.F_SETFL: return setfl(f, Number.isInteger(arg) ? arg : 0);
    case U.F_GETPIPE_SZ:
    case U.F_SETPIPE_SZ:
      return f.ops.fcntl === undefined ? -U.EBADF : f.ops.fcntl(f, t, cmd, arg);
    case U.F_ADD_SEALS:
    case U.F_GET_SEALS: return memfdFcntl(f, cmd, arg);
    default: return -U.EINVAL;
  }
}
