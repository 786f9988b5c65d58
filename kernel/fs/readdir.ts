// getdents64(2) (fs/readdir.c): a directory's entries as struct linux_dirent64 records, from
// the file position on, as many as fit in the buffer; the position moves past the last one
// given. The entries are the directory's iterate (VFS directories, /proc's).
//
//   struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
//
// d_off is the position of the next entry (the end position for the last); d_reclen is the
// record's size, 19 bytes of header and the NUL-terminated name, rounded up to 8.

import type { Kernel } from '../kernel.ts';
import { copyToUser } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import * as U from '../uapi.ts';
import type { Dirent, DirList } from './file.ts';

/** The header of struct linux_dirent64 (d_ino, d_off, d_reclen, d_type). */
const DIRENT64_HEADER = 19;

/** Encode entries of `list` from position `pos` into at most `count` bytes: the bytes and the position after them. */
export function encodeDirents(list: DirList, pos: number, count: number): { bytes: Uint8Array; pos: number; left: boolean } {
  const rest = list.entries.filter((e) => e.pos >= pos);
  const names = rest.map((e) => new TextEncoder().encode(e.name));
  const out = new Uint8Array(Math.min(count, rest.reduce((n, _e, i) => n + reclen(names[i]), 0)));
  const dv = new DataView(out.buffer);
  let used = 0;
  let at = pos;
  let i = 0;
  for (; i < rest.length; i++) {
    const len = reclen(names[i]);
    if (used + len > count) break;
    const next = i + 1 < rest.length ? rest[i + 1].pos : list.end;
    writeDirent(dv, out, used, rest[i], next, names[i], len);
    used += len;
    at = next;
  }
  if (i === rest.length) at = list.end;
  return { bytes: out.subarray(0, used), pos: at, left: i < rest.length };
}

function reclen(name: Uint8Array): number {
  return (DIRENT64_HEADER + name.length + 1 + 7) & ~7;
}

function writeDirent(dv: DataView, out: Uint8Array, at: number, e: Dirent, next: number, name: Uint8Array, len: number): void {
  dv.setBigUint64(at, BigInt(e.ino), true);
  dv.setBigInt64(at + 8, BigInt(next), true);
  dv.setUint16(at + 16, len, true);
  dv.setUint8(at + 18, e.type);
  out.set(name, at + DIRENT64_HEADER); // the NUL and padding are the array's zeros
}

/**
 * getdents64(2): the bytes written at dirp, 0 at the end of the directory, or -errno:
 * EBADF (not open, or O_PATH), ENOTDIR (not a directory), EINVAL (the buffer holds not even
 * the next entry), EFAULT (the buffer).
 */
export function sysGetdents64(kn: Kernel, t: Thread, fd: number, dirp: number, count: number): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -U.EBADF;
  if (f.ops.iterate === undefined) return -U.ENOTDIR;
  const size = Number.isInteger(count) ? count >>> 0 : 0; // an unsigned int
  if (!Number.isInteger(dirp) || dirp < 0 || dirp + size > U.TASK_SIZE) return -U.EFAULT;
  const r = encodeDirents(f.ops.iterate(f), f.pos, size);
  if (r.bytes.length === 0) {
    if (r.left) return -U.EINVAL;
    f.pos = r.pos;
    return 0;
  }
  const c = copyToUser(kn.k, t.proc.mm, dirp, r.bytes, t.cpu);
  if (c < 0) return c;
  f.pos = r.pos;
  return r.bytes.length;
}
