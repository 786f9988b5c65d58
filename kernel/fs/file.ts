// Open files and per-process descriptor tables (struct file, struct files_struct).
//
// A File is an open file description: its operations, access mode and position. Descriptors
// are indexes into a process's FdTable; several descriptors (and later several processes)
// may share one File. The files so far are the console (fds 0 to 2) and /proc's generated
// text files (procfs.ts); the VFS of regular files builds on the same two types.

import type { HugetlbMapping } from '../mm/hugetlb.ts';
import type { Mm } from '../mm/mm.ts';
import type { VmaDesc } from '../mm/mm_types.ts';
import { EBADF, EINVAL, EMFILE, ESPIPE, O_ACCMODE, O_APPEND, O_RDONLY, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET } from '../uapi.ts';
import { KernelBug } from '../bug.ts';

export interface FileOps {
  /** Up to len bytes at pos (an empty array at end of file), or -errno. */
  read?(f: File, len: number, pos: number): Uint8Array | number;
  /** Write data at pos; bytes written or -errno. */
  write?(f: File, data: Uint8Array, pos: number): number;
  /** The position SEEK_END counts from, or -errno if the file cannot seek from its end. */
  size?(f: File): number;
  /** False for files without a position (pipes, terminals): lseek and pread give ESPIPE. */
  readonly seekable: boolean;
  /**
   * mmap of this file (f_op->mmap_prepare): complete `desc` (the VMA's operations, page
   * cache, file, flags, page offset) after mmap's generic checks; 0 or -errno. Files
   * without it cannot be mapped (ENODEV).
   */
  mmap?(f: File, desc: VmaDesc): number;
  /**
   * Where a mapping of this file goes (f_op->get_unmapped_area), MAP_FIXED included: an
   * address or -errno (msharefs places its regions at 512 GiB boundaries).
   */
  getUnmappedArea?(f: File, mm: Mm, addr: number, len: number, flags: number): number;
  /** A hugetlbfs file's page size: mmap lengths are rounded up to it. */
  hugePageSize?(f: File): number;
  /** A hugetlbfs file: its pages (ftruncate and fstat of them, see kernel/mm/hugetlb.ts). */
  hugetlb?(f: File): HugetlbMapping;
  /** ioctl(2); without it, ENOTTY. `io` reads and writes the caller's memory. */
  ioctl?(f: File, cmd: number, arg: number, io: UserIo): number;
  /** The last reference to the open file went away. */
  release?(f: File): void;
}

/** The caller's memory and CPU, for operations that copy structures in and out. */
export interface UserIo {
  readonly cpu: number;
  /** The caller's descriptor table (for calls that take descriptors inside structures). */
  readonly files?: FdTable;
  copyFrom(va: number, len: number): Uint8Array | number;
  copyTo(va: number, bytes: Uint8Array): number;
}

export class File {
  readonly ops: FileOps;
  /** The open(2) flags that stay with the description (access mode, O_APPEND, ...). */
  readonly flags: number;
  pos = 0;
  /** Descriptors referring to this description. */
  refs = 1;
  /** For a directory: its path, which openat resolves relative paths against. */
  path: string | null = null;

  constructor(ops: FileOps, flags: number) {
    this.ops = ops;
    this.flags = flags;
  }

  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }

  get writable(): boolean {
    return (this.flags & O_ACCMODE) !== O_RDONLY;
  }
}

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

/** A process's descriptor table: the lowest free descriptor is used first. */
export class FdTable {
  private readonly files: (File | null)[] = [];
  private readonly cloexec: boolean[] = [];

  get(fd: number): File | null {
    if (!Number.isInteger(fd) || fd < 0 || fd >= this.files.length) return null;
    return this.files[fd];
  }

  /** Install f at the lowest free descriptor >= min and below `limit` (RLIMIT_NOFILE); fd or -EMFILE. */
  install(f: File, cloexec: boolean, limit: number, min = 0): number {
    let fd = min;
    while (fd < this.files.length && this.files[fd] !== null && this.files[fd] !== undefined) fd++;
    if (fd >= limit) return -EMFILE;
    this.installAt(fd, f, cloexec);
    return fd;
  }

  /** Put f at descriptor fd, closing what was there (dup2). */
  installAt(fd: number, f: File, cloexec: boolean): void {
    while (this.files.length < fd) {
      this.files.push(null);
      this.cloexec.push(false);
    }
    const old = this.files[fd] ?? null;
    this.files[fd] = f;
    this.cloexec[fd] = cloexec;
    if (old !== null) fput(old);
  }

  getCloexec(fd: number): boolean {
    return this.cloexec[fd] === true;
  }

  setCloexec(fd: number, on: boolean): void {
    this.cloexec[fd] = on;
  }

  close(fd: number): number {
    const f = this.get(fd);
    if (f === null) return -EBADF;
    this.files[fd] = null;
    while (this.files.length > 0 && this.files[this.files.length - 1] === null) {
      this.files.pop();
      this.cloexec.pop();
    }
    fput(f);
    return 0;
  }

  /**
   * The descriptors a spawned child starts with (posix_spawn: fork, then exec): every one of
   * the parent's at `from` and above without close-on-exec, at the same numbers.
   */
  inherit(parent: FdTable, from: number): void {
    for (let fd = from; fd < parent.files.length; fd++) {
      const f = parent.files[fd];
      if (f === null || parent.cloexec[fd]) continue;
      f.refs++;
      this.installAt(fd, f, false);
    }
  }

  /** Close everything (exit). */
  closeAll(): void {
    for (let fd = this.files.length - 1; fd >= 0; fd--) if (this.files[fd] !== null) this.close(fd);
  }

  /** Descriptors in use (for /proc/PID/status FDSize and tests). */
  get size(): number {
    return this.files.length;
  }
}

/** Drop a reference to an open file description. */
export function fput(f: File): void {
  if (--f.refs === 0) f.ops.release?.(f);
  if (f.refs < 0) throw new KernelBug('fput: reference count below zero');
}
