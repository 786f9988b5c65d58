// memfd_create(2) (mm/memfd.c): an unlinked tmpfs file named "memfd:NAME", or with
// MFD_HUGETLB a hugetlbfs one of the page size the size bits ask for.

import type { Kernel } from '../kernel.ts';
import { pathFromUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import { hugetlbfsUnlinked } from './hugetlbfs.ts';
import { installFd } from './open.ts';

/** MFD_NAME_MAX_LEN (249) and the NUL. */
const NAME_MAX = 250;
/** Where MFD_HUGETLB's page size bits start (MFD_HUGE_SHIFT, as MAP_HUGE_SHIFT). */
const MFD_HUGE_SHIFT = 26;

export function sysMemfdCreate(kn: Kernel, t: Thread, namePtr: number, flags: number): number {
  if (!Number.isInteger(flags)) return -U.EINVAL;
  const sizeBits = (flags & U.MFD_HUGETLB) !== 0 ? flags & (0x3f << MFD_HUGE_SHIFT) : 0;
  if (((flags & ~sizeBits) & ~(U.MFD_CLOEXEC | U.MFD_ALLOW_SEALING | U.MFD_HUGETLB | U.MFD_NOEXEC_SEAL | U.MFD_EXEC)) !== 0) return -U.EINVAL;
  if ((flags & U.MFD_NOEXEC_SEAL) !== 0 && (flags & U.MFD_EXEC) !== 0) return -U.EINVAL;
  const log = sizeBits >>> MFD_HUGE_SHIFT;
  if (log !== 0 && log !== 21 && log !== 30) return -U.EINVAL;
  const name = pathFromUser(kn.k, t.proc.mm, namePtr, NAME_MAX, t.cpu);
  if (name === -U.ENAMETOOLONG) return -U.EINVAL;
  const text = name === -U.ENOENT ? '' : name;
  if (typeof text === 'number') return text;
  const inode = (flags & U.MFD_HUGETLB) !== 0 ? hugetlbfsUnlinked(kn.vfs, `memfd:${text}`, log) : kn.vfs.createUnlinked(`memfd:${text}`);
  return installFd(t, kn.vfs.openInode(inode, U.O_RDWR | U.O_LARGEFILE), (flags & U.MFD_CLOEXEC) !== 0);
}
