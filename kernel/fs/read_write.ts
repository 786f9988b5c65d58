// read(2), write(2), pread64(2), pwrite64(2) and lseek(2) (fs/read_write.c): the checks
// vfs_read and vfs_write make, then the file's own read or write, moving the file
// position for the calls that use it. Data crosses through guest memory with
// copy_from_user and copy_to_user.

import type { Kernel } from '../kernel.ts';
import { copyFromUserPartial, copyToUserPartial } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import { EBADF, EFAULT, EINVAL, ESPIPE, O_APPEND, SEEK_CUR, SEEK_END, SEEK_SET, TASK_SIZE } from '../uapi.ts';
import type { File } from './file.ts';

/** Most bytes one read moves (MAX_RW_COUNT is INT_MAX rounded down to a page). */
const MAX_RW_COUNT = 0x7fff_f000;
/** Most bytes one write takes: a short write, which write(2) allows, bounds the kernel's buffer. */
const MAX_WRITE = 1 << 20;

/** read(2) and pread(2) (pos given): the checks vfs_read makes, then the file's read. */
export function fileRead(f: File, len: number, pos: number | null): Uint8Array | number {
  if (!f.readable) return -EBADF;
  if (f.ops.read === undefined) return -EINVAL;
  if (pos !== null && !f.ops.seekable) return -ESPIPE;
  const at = pos ?? f.pos;
  const r = f.ops.read(f, len, at);
  if (typeof r !== 'number' && pos === null && f.ops.seekable) f.pos = at + r.length;
  return r;
}

/** write(2) and pwrite(2). */
export function fileWrite(f: File, data: Uint8Array, pos: number | null): number {
  if (!f.writable) return -EBADF;
  if (f.ops.write === undefined) return -EINVAL;
  if (pos !== null && !f.ops.seekable) return -ESPIPE;
  let at = pos ?? f.pos;
  if (pos === null && (f.flags & O_APPEND) !== 0 && f.ops.size !== undefined) at = Math.max(0, f.ops.size(f));
  const r = f.ops.write(f, data, at);
  if (r > 0 && pos === null && f.ops.seekable) f.pos = at + r;
  return r;
}

/** lseek(2) (generic_file_llseek's rules: no negative result, SEEK_END needs a size). */
export function fileSeek(f: File, off: number, whence: number): number {
  if (!f.ops.seekable) return -ESPIPE;
  let base: number;
  if (whence === SEEK_SET) base = 0;
  else if (whence === SEEK_CUR) base = f.pos;
  else if (whence === SEEK_END) {
    if (f.ops.size === undefined) return -EINVAL;
    base = f.ops.size(f);
    if (base < 0) return base;
  } else return -EINVAL;
  const to = base + off;
  if (!Number.isSafeInteger(to) || to < 0) return -EINVAL;
  f.pos = to;
  return to;
}


/** read(2), and pread64(2) when pos is not null. */
function doRead(kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number | null): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -EBADF;
  if (!Number.isInteger(len) || len < 0 || (pos !== null && (!Number.isInteger(pos) || pos < 0))) return -EINVAL;
  if (!Number.isInteger(buf) || buf < 0 || buf + len > TASK_SIZE) return -EFAULT;
  const r = fileRead(f, Math.min(len, MAX_RW_COUNT), pos);
  if (typeof r === 'number') return r;
  // A copy cut short by a page the caller cannot write (unmapped, past the end of a mapped
  // file) returns what was copied, EFAULT if nothing was, and the position moves by that
  // much (copy_page_to_iter stops at the fault, filemap_read returns the bytes copied).
  const c = copyToUserPartial(kn.k, t.proc.mm, buf, r, t.cpu);
  if (c < 0) return c;
  if (c < r.length && pos === null && f.ops.seekable) f.pos -= r.length - c;
  return c === 0 && r.length > 0 ? -EFAULT : c;
}

/** write(2), and pwrite64(2) when pos is not null. */
function doWrite(kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number | null): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -EBADF;
  if (!Number.isInteger(len) || len < 0 || (pos !== null && (!Number.isInteger(pos) || pos < 0))) return -EINVAL;
  // generic_perform_write writes what it could copy before a page the caller cannot read,
  // and is EFAULT only if that is nothing.
  const bytes = copyFromUserPartial(kn.k, t.proc.mm, buf, Math.min(len, MAX_WRITE), t.cpu);
  if (typeof bytes === 'number') return bytes;
  if (bytes.length === 0 && len > 0) return -EFAULT;
  return fileWrite(f, bytes, pos);
}

export const sysRead = (kn: Kernel, t: Thread, fd: number, buf: number, len: number): number => doRead(kn, t, fd, buf, len, null);
export const sysPread64 = (kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number): number => doRead(kn, t, fd, buf, len, pos);
export const sysWrite = (kn: Kernel, t: Thread, fd: number, buf: number, len: number): number => doWrite(kn, t, fd, buf, len, null);
export const sysPwrite64 = (kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number): number => doWrite(kn, t, fd, buf, len, pos);

/** lseek(2). */
export function sysLseek(_kn: Kernel, t: Thread, fd: number, off: number, whence: number): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -EBADF;
  return Number.isInteger(off) && Number.isInteger(whence) ? fileSeek(f, off, whence) : -EINVAL;
}
