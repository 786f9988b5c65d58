// Open files and per-process descriptor tables (struct file, struct files_struct).
//
// A File is an open file description: its operations (f_op), access mode and position.
// Descriptors are indexes into a process's FdTable; several descriptors (and later several
// processes) may share one File. Files are the console (console.ts), /proc's generated
// text files (proc/), the VFS's inodes (vfs.ts) and a reference page's (mm/refpage.ts).

import { KernelBug } from '../bug.ts';
import type { Mm, VmaDesc } from '../mm/index.ts';
import { EBADF, EMFILE, O_ACCMODE, O_PATH, O_RDONLY, O_WRONLY } from '../uapi.ts';

export interface FileOps {
  /** Up to len bytes at pos (an empty array at end of file), or -errno. */
  read?(f: File, len: number, pos: number): Uint8Array | number;
  /** Write data at pos; bytes written or -errno. */
  write?(f: File, data: Uint8Array, pos: number): number;
  /**
   * The write copies what it can (generic_perform_write): a source that runs into a page the
   * process may not read writes the bytes before it. Without it the whole source must be
   * readable (the /proc and sysfs writers copy it at once: EFAULT).
   */
  readonly shortWrite?: boolean;
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
  /** ftruncate(2) of a file open for writing: 0 or -errno. Without it, EINVAL. */
  truncate?(f: File, len: number, cpu: number): number;
  /** fallocate(2) once the generic checks passed: 0 or -errno. Without it, ENODEV. */
  fallocate?(f: File, mode: number, off: number, len: number, cpu: number): number;
  /** What fstat(2) reports (inode_operations->getattr). */
  getattr?(f: File): Kstat;
  /** ioctl(2); without it, ENOTTY. `io` reads and writes the caller's memory. */
  ioctl?(f: File, cmd: number, arg: number, io: UserIo): number;
  /** The last reference to the open file went away. */
  release?(f: File): void;
}

/** The parts of struct stat a file reports: type and mode bits, inode, links, size, 512-byte blocks. */
export interface Kstat {
  mode: number;
  ino: number;
  nlink: number;
  size: number;
  blocks: number;
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

/** A process's descriptor table: the lowest free descriptor is used first. */
export class FdTable {
  private readonly files: (File | null)[] = [];
  private readonly cloexec: boolean[] = [];
  /** Processes using the table (files_struct's count): more than one after clone(CLONE_FILES). */
  users = 1;

  get(fd: number): File | null {
    if (!Number.isInteger(fd) || fd < 0 || fd >= this.files.length) return null;
    return this.files[fd];
  }

  /**
   * The file at fd for I/O (fdget): an O_PATH descriptor names a file but opens nothing, so
   * read, write, lseek, ftruncate, fallocate, ioctl and mmap see none there (EBADF); fstat,
   * fcntl, dup and close take it (fdget_raw, get).
   */
  getIo(fd: number): File | null {
    const f = this.get(fd);
    return f !== null && (f.flags & O_PATH) !== 0 ? null : f;
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

  /**
   * fork's dup_fd: every descriptor of `parent`, at the same number with its close-on-exec
   * flag, sharing the open file description.
   */
  dup(parent: FdTable): void {
    for (let fd = 0; fd < parent.files.length; fd++) {
      const f = parent.files[fd];
      if (f === null) continue;
      f.refs++;
      this.installAt(fd, f, parent.cloexec[fd]);
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
