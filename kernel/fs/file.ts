// Open files and per-process descriptor tables (struct file, struct files_struct).
//
// A File is an open file description: its operations (f_op), access mode and position.
// Descriptors are indexes into a process's FdTable; several descriptors (and later several
// processes) may share one File. Files are the console (console.ts), /proc's generated
// text files (proc/), the VFS's inodes (vfs.ts), a reference page's (mm/refpage.ts) and
// the two ends of a pipe (pipe.ts).

import { KernelBug } from '../bug.ts';
import type { Kernel } from '../kernel.ts';
import { joinMm, type Kmm, leaveMm, type MaybeSliced, type Mm, mmReadBlocked, mmReadLock, type SealedFile, setMmHold, type Sliced, type VmaDesc } from '../mm/index.ts';
import type { Thread } from '../task/index.ts';
import { EBADF, EMFILE, O_ACCMODE, O_PATH, O_RDONLY, O_WRONLY } from '../uapi.ts';

export interface FileOps {
  /** Up to len bytes at pos (an empty array at end of file), or -errno; or that as work in slices (mm/slice.ts: /proc's walks). */
  read?(f: File, len: number, pos: number): Uint8Array | number | Sliced<Uint8Array | number>;
  /** Write data at pos; bytes written or -errno. */
  write?(f: File, data: Uint8Array, pos: number): number;
  /**
   * read(2) of a stream that copies to the caller's memory itself and may block (pipe_read,
   * a read_iter): len > 0 bytes at most to buf; the count, -errno, or undefined when the
   * caller blocked (the file answers it later, or it died meanwhile).
   */
  readUser?(f: File, kn: Kernel, t: Thread, buf: number, len: number): number | undefined;
  /** write(2) of such a stream (pipe_write): as readUser, from buf. */
  writeUser?(f: File, kn: Kernel, t: Thread, buf: number, len: number): number | undefined;
  /** fcntl commands of its own (pipe_fcntl's F_GETPIPE_SZ, F_SETPIPE_SZ): a result or -errno. */
  fcntl?(f: File, t: Thread, cmd: number, arg: number): number;
  /** F_SETFL may set O_DIRECT (FMODE_CAN_ODIRECT; a pipe, where it means packet mode). */
  readonly directIo?: boolean;
  /** It has an fasync operation, so F_SETFL keeps O_ASYNC (FASYNC). */
  readonly fasync?: boolean;
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
   * Opening /proc/PID/fd/N of a file that is not a VFS inode's (the follow of proc_fd_link):
   * a new open file description of the same file with `flags`, or -errno. Without it, ENXIO
   * (as an anonymous inode's). VFS inodes reopen through Vfs.openExisting.
   */
  reopen?(f: File, flags: number): File | number;
  /** A directory's entries, in the order getdents64 lists them (iterate_shared). Without it, ENOTDIR. */
  iterate?(f: File): DirList;
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
  /**
   * A tmpfs or hugetlbfs file: what holds its inode's memfd seals (memfd_file_seals_ptr).
   * Other files take no seals (F_ADD_SEALS and F_GET_SEALS give EINVAL).
   */
  seals?(f: File): SealedFile;
  /** A hugetlbfs file's page size: mmap lengths are rounded up to it. */
  hugePageSize?(f: File): number;
  /** ftruncate(2) of a file open for writing: 0 or -errno, or that as work in slices (mm/slice.ts). Without it, EINVAL. */
  truncate?(f: File, len: number, cpu: number): MaybeSliced;
  /** fallocate(2) once the generic checks passed: 0 or -errno, or that as work in slices. Without it, ENODEV. */
  fallocate?(f: File, mode: number, off: number, len: number, cpu: number): MaybeSliced;
  /** What fstat(2) reports (inode_operations->getattr). */
  getattr?(f: File): Kstat;
  /** ioctl(2); without it, ENOTTY. `io` reads and writes the caller's memory. */
  ioctl?(f: File, cmd: number, arg: number, io: UserIo): MaybeSliced;
  /**
   * The mm whose mmap_lock its read, write and ioctl take (another process's memory files
   * in /proc): they wait while a call in slices holds it for write (lockedThen).
   */
  mmLock?(f: File): Mm | null;
  /** The last reference to the open file went away. */
  release?(f: File): void;
  /** What /proc/PID/fd/N links to (d_path; d_dname for pipes and anonymous inodes). */
  dname?(f: File): string;
}

/**
 * A directory entry as getdents64 reports it: name, inode number, type (DT_DIR, DT_REG,
 * DT_LNK, DT_CHR), and its position (the file position at which a listing reaches it).
 */
export interface Dirent {
  readonly name: string;
  readonly ino: number;
  readonly type: number;
  readonly pos: number;
}

/** A directory's listing: entries in increasing position, and the position after the last. */
export interface DirList {
  readonly entries: readonly Dirent[];
  readonly end: number;
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
  /**
   * The open(2) flags that stay with the description (access mode, O_APPEND, ...); fcntl's
   * F_SETFL changes O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME and O_ASYNC.
   */
  flags: number;
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
  /** One more than the highest descriptor ever installed: the table never shrinks (max_fds). */
  private highWater = 0;

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
    this.highWater = Math.max(this.highWater, fd + 1);
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

  /** One more than the highest descriptor in use (0 for none). */
  get size(): number {
    return this.files.length;
  }

  /**
   * The table's size as Linux grows it (max_fds, /proc/PID/status's FDSize): 64, then the
   * next power of two above the highest descriptor ever used; it does not shrink on close.
   */
  get maxFds(): number {
    return Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(1, this.highWater))));
  }
}

/** Drop a reference to an open file description. */
export function fput(f: File): void {
  if (--f.refs === 0) f.ops.release?.(f);
  if (f.refs < 0) throw new KernelBug('fput: reference count below zero');
}

/**
 * op under mmap_read_lock of the mm f's operations take (FileOps.mmLock: another process's
 * memory files in /proc): while a call in slices holds that mm for write, or one that takes
 * it for write is queued (Mm.writerWaiting), t's request waits
 * in slices; an op that runs in slices holds it for read meanwhile (unless another call
 * already does: it runs beside that one), so the other process's calls that take it for
 * write wait for the walk, as they would for show_smap.
 */
export function lockedThen(kn: Kernel, t: Thread, f: File, op: () => MaybeSliced): MaybeSliced {
  const mm = f.ops.mmLock?.(f) ?? null;
  if (mm === null || mm === t.proc.mm) return op(); // its own mm: the request waited for it already
  if (!mmReadBlocked(mm, t.cpu)) return heldForRead(kn.k, mm, t.cpu, op());
  return (function* waitThen(): Sliced {
    yield* mmReadLock(kn.k, mm, t.cpu);
    const r = heldForRead(kn.k, mm, t.cpu, op());
    return typeof r === 'number' ? r : yield* r;
  })();
}

/** r, holding mm for read on cpu until it is done if it is work in slices (beside a holder's read hold if there is one). */
function heldForRead(k: Kmm, mm: Mm, cpu: number, r: MaybeSliced): MaybeSliced {
  if (typeof r === 'number') return r;
  if (joinMm(mm, cpu)) setMmHold(k, mm, cpu, true);
  return (function* held(): Sliced {
    try {
      return yield* r;
    } finally {
      leaveMm(k, mm, cpu); // done, or ended at a slice boundary
    }
  })();
}
