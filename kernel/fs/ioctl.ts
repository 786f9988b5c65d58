// ioctl(2) (fs/ioctl.c): the file's own ioctl, given the caller's memory to copy its
// structures in and out; ENOTTY for files without one.

import type { Kernel } from '../kernel.ts';
import { copyFromUser, copyToUser, type MaybeSliced } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { lockedThen } from './file.ts';

export function sysIoctl(kn: Kernel, t: Thread, fd: number, cmd: number, arg: number): MaybeSliced {
  const p = t.proc;
  const f = p.fds.getIo(fd);
  if (f === null) return -U.EBADF;
  if (f.ops.ioctl === undefined || !Number.isInteger(cmd) || !Number.isInteger(arg)) return -U.ENOTTY;
  const ioctl = f.ops.ioctl;
  return lockedThen(kn, t, f, () => ioctl(f, cmd >>> 0, arg, {
    cpu: t.cpu,
    files: p.fds,
    copyFrom: (va, len) => copyFromUser(kn.k, p.mm, va, len, t.cpu),
    copyTo: (va, bytes) => copyToUser(kn.k, p.mm, va, bytes, t.cpu),
  }));
}
