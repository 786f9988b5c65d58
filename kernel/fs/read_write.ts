// read(2), write(2), pread64(2), pwrite64(2) and lseek(2) (fs/read_write.c): the checks
// vfs_read and vfs_write make, then the file's own read or write, moving the file
// position for the calls that use it. Data crosses through guest memory with
// copy_from_user and copy_to_user.

import type { Kernel } from '../kernel.ts';
import { copyFromUserPartial, copyToUserPartial, type MaybeSliced, type Sliced } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import { EBADF, EFAULT, EINVAL, ESPIPE, O_APPEND, SEEK_CUR, SEEK_END, SEEK_SET, TASK_SIZE } from '../uapi.ts';
import { type File, lockedThen } from './file.ts';

/** Most bytes one read moves (MAX_RW_COUNT is INT_MAX rounded down to a page). */
const MAX_RW_COUNT = 0x7fff_f000;
/** Most bytes one write takes: a short write, which write(2) allows, bounds the kernel's buffer. */
const MAX_WRITE = 1 << 20;

/** write(2) and pwrite(2) once doWrite's checks passed: the file's write at its place. */
function fileWrite(f: File, data: Uint8Array, pos: number | null): number {
  if (f.ops.write === undefined) return -EINVAL;
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


/**
 * read(2), and pread64(2) when pos is not null. A copy that meets an unwritable page part
 * way gives the bytes copied before it, and the position moves by those (copy_to_user's
 * short count); none copied is EFAULT. Streams that copy themselves (pipes) may block.
 */
function doRead(kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number | null): MaybeSliced | undefined {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -EBADF;
  if (!Number.isInteger(len) || len < 0 || (pos !== null && (!Number.isInteger(pos) || pos < 0))) return -EINVAL;
  // ksys_pread64's FMODE_PREAD, then vfs_read's checks: FMODE_READ, access_ok.
  if (pos !== null && !f.ops.seekable) return -ESPIPE;
  if (!f.readable) return -EBADF;
  if (!Number.isInteger(buf) || buf < 0 || buf + len > TASK_SIZE) return -EFAULT;
  if (f.ops.readUser !== undefined) return len === 0 ? 0 : f.ops.readUser(f, kn, t, buf, Math.min(len, MAX_RW_COUNT));
  if (f.ops.read === undefined) return -EINVAL;
  return lockedThen(kn, t, f, () => readAt(kn, t, f, buf, len, pos));
}

/** doRead once its checks passed: the file's read at its place, copied out. */
function readAt(kn: Kernel, t: Thread, f: File, buf: number, len: number, pos: number | null): MaybeSliced {
  const at = pos ?? f.pos;
  const r = f.ops.read!(f, Math.min(len, MAX_RW_COUNT), at);
  if (typeof r === 'number') return r;
  return r instanceof Uint8Array ? copyRead(kn, t, f, buf, r, at, pos) : copyReadSliced(kn, t, f, buf, r, at, pos);
}

/** The bytes a read gave, to the caller's buf; the position moves by those copied (read(2) only). */
function copyRead(kn: Kernel, t: Thread, f: File, buf: number, r: Uint8Array, at: number, pos: number | null): number {
  const c = copyToUserPartial(kn.k, t.proc.mm, buf, r, t.cpu);
  if (pos === null && f.ops.seekable) f.pos = at + c;
  return c === 0 && r.length > 0 ? -EFAULT : c;
}

/** A read whose bytes come from work in slices (a /proc walk): copyRead once they are there. */
function* copyReadSliced(kn: Kernel, t: Thread, f: File, buf: number, work: Sliced<Uint8Array | number>, at: number, pos: number | null): Sliced {
  const r = yield* work;
  return typeof r === 'number' ? r : copyRead(kn, t, f, buf, r, at, pos);
}

/**
 * write(2), and pwrite64(2) when pos is not null: the readable part of the buffer is
 * written (copy_from_user's short count); none readable is EFAULT.
 */
function doWrite(kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number | null): MaybeSliced | undefined {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -EBADF;
  if (!Number.isInteger(len) || len < 0 || (pos !== null && (!Number.isInteger(pos) || pos < 0))) return -EINVAL;
  if (pos !== null && !f.ops.seekable) return -ESPIPE;
  if (!f.writable) return -EBADF;
  if (!Number.isInteger(buf) || buf < 0 || buf + len > TASK_SIZE) return -EFAULT;
  if (f.ops.writeUser !== undefined) return len === 0 ? 0 : f.ops.writeUser(f, kn, t, buf, Math.min(len, MAX_RW_COUNT));
  // A source cut short by a page the process may not read (a hole, a guard page): a file
  // that copies what it can writes what comes before it; EFAULT if nothing, or for files
  // whose write copies the whole source at once (/proc and sysfs: copy_from_iter_full).
  const want = Math.min(len, MAX_WRITE);
  const bytes = copyFromUserPartial(kn.k, t.proc.mm, buf, want, t.cpu);
  if (bytes.length < want && (bytes.length === 0 || f.ops.shortWrite !== true)) return -EFAULT;
  return lockedThen(kn, t, f, () => fileWrite(f, bytes, pos));
}

export const sysRead = (kn: Kernel, t: Thread, fd: number, buf: number, len: number): MaybeSliced | undefined => doRead(kn, t, fd, buf, len, null);
export const sysPread64 = (kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number): MaybeSliced | undefined => doRead(kn, t, fd, buf, len, pos);
export const sysWrite = (kn: Kernel, t: Thread, fd: number, buf: number, len: number): MaybeSliced | undefined => doWrite(kn, t, fd, buf, len, null);
export const sysPwrite64 = (kn: Kernel, t: Thread, fd: number, buf: number, len: number, pos: number): MaybeSliced | undefined => doWrite(kn, t, fd, buf, len, pos);

/** lseek(2). */
export function sysLseek(_kn: Kernel, t: Thread, fd: number, off: number, whence: number): number {
  const f = t.proc.fds.getIo(fd);
  if (f === null) return -EBADF;
  return Number.isInteger(off) && Number.isInteger(whence) ? fileSeek(f, off, whence) : -EINVAL;
}
