// memfd_create(2) (mm/memfd.c): an unlinked tmpfs file named "memfd:NAME", or with
// MFD_HUGETLB a hugetlbfs one of the page size the size bits ask for; and fcntl's
// F_ADD_SEALS and F_GET_SEALS (memfd_fcntl), whose rules are mm/seals.ts's.
//
// A memfd starts with F_SEAL_SEAL (no seal can be added) unless MFD_ALLOW_SEALING lifts it;
// MFD_NOEXEC_SEAL makes it mode 0666 with F_SEAL_EXEC (and sealable); MFD_EXEC, or neither
// under vm.memfd_noexec 0, keeps mode 0777.

import type { Kernel } from '../kernel.ts';
import { addSeals, F_ALL_SEALS, pathFromUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import type { File } from './file.ts';
import { hugetlbfsUnlinked } from './hugetlbfs.ts';
import { installFd } from './open.ts';

/** MFD_NAME_MAX_LEN (249) and the NUL. */
const NAME_MAX = 250;
/** Where MFD_HUGETLB's page size bits start (MFD_HUGE_SHIFT, as MAP_HUGE_SHIFT). */
const MFD_HUGE_SHIFT = 26;

/**
 * sanitize_flags with check_sysctl_memfd_noexec: the flags with MFD_EXEC or MFD_NOEXEC_SEAL
 * made explicit, or -EINVAL (unknown bits, both at once, a size without MFD_HUGETLB) or
 * -EACCES (an executable memfd under vm.memfd_noexec 2).
 */
function sanitizeFlags(kn: Kernel, flags: number): number {
  if (!Number.isInteger(flags)) return -U.EINVAL;
  const sizeBits = (flags & U.MFD_HUGETLB) !== 0 ? flags & (0x3f << MFD_HUGE_SHIFT) : 0;
  if (((flags & ~sizeBits) & ~(U.MFD_CLOEXEC | U.MFD_ALLOW_SEALING | U.MFD_HUGETLB | U.MFD_NOEXEC_SEAL | U.MFD_EXEC)) !== 0) return -U.EINVAL;
  if ((flags & U.MFD_NOEXEC_SEAL) !== 0 && (flags & U.MFD_EXEC) !== 0) return -U.EINVAL;
  const scope = kn.k.vm.memfdNoexec;
  let f = flags;
  if ((f & (U.MFD_EXEC | U.MFD_NOEXEC_SEAL)) === 0) f |= scope >= 1 ? U.MFD_NOEXEC_SEAL : U.MFD_EXEC;
  if ((f & U.MFD_NOEXEC_SEAL) === 0 && scope >= 2) return -U.EACCES;
  return f >>> 0; // unsigned int: the size bits may include bit 31
}

export function sysMemfdCreate(kn: Kernel, t: Thread, namePtr: number, flagsArg: number): number {
  const flags = sanitizeFlags(kn, flagsArg);
  if (flags < 0) return flags;
  const log = (flags & U.MFD_HUGETLB) !== 0 ? (flags >>> MFD_HUGE_SHIFT) & 0x3f : 0;
  const name = pathFromUser(kn.k, t.proc.mm, namePtr, NAME_MAX, t.cpu);
  if (name === -U.ENAMETOOLONG) return -U.EINVAL;
  const text = name === -U.ENOENT ? '' : name;
  if (typeof text === 'number') return text;
  if (log !== 0 && log !== 21 && log !== 30) return -U.ENODEV; // hugetlb_file_setup: no such pool
  const noexec = (flags & U.MFD_NOEXEC_SEAL) !== 0;
  const mode = noexec ? 0o666 : 0o777;
  const inode = (flags & U.MFD_HUGETLB) !== 0 ? hugetlbfsUnlinked(kn.vfs, `memfd:${text}`, log, mode) : kn.vfs.createUnlinked(`memfd:${text}`, mode);
  const f = kn.vfs.openInode(inode, U.O_RDWR | U.O_LARGEFILE);
  const sealed = f.ops.seals!(f);
  if (noexec) sealed.seals = U.F_SEAL_EXEC;
  else if ((flags & U.MFD_ALLOW_SEALING) !== 0) sealed.seals &= ~U.F_SEAL_SEAL;
  return installFd(t, f, (flags & U.MFD_CLOEXEC) !== 0);
}

/**
 * fcntl's F_ADD_SEALS and F_GET_SEALS (memfd_fcntl; the argument is the low 32 bits of the
 * register). F_GET_SEALS: the seals of a tmpfs or hugetlbfs file. F_ADD_SEALS: EPERM on a
 * descriptor not open for writing, EINVAL for an unknown bit or a file that takes no seals,
 * then addSeals' rules. Other files: EINVAL.
 */
export function memfdFcntl(f: File, cmd: number, arg: number): number {
  const sealed = f.ops.seals?.(f);
  if (cmd === U.F_GET_SEALS) return sealed === undefined ? -U.EINVAL : sealed.seals;
  const seals = Number.isInteger(arg) ? arg >>> 0 : -1;
  if (!f.writable) return -U.EPERM;
  if (seals < 0 || (seals & ~F_ALL_SEALS) !== 0 || sealed === undefined) return -U.EINVAL;
  return addSeals(sealed, seals, f.ops.getattr?.(f).mode ?? 0);
}
