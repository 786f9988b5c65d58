// fstat(2) (fs/stat.c): struct stat as x86-64 lays it out, from the file's getattr.

import type { Kernel } from '../kernel.ts';
import { copyToUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import type { File, Kstat } from './file.ts';

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
