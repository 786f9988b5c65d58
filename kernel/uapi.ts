// The user-kernel ABI: Linux x86-64 syscall numbers, errno values, mmap/mprotect/madvise/
// mremap flags, signal numbers and si_codes, wait-status encoding. Imported by the kernel and
// by userland, so both sides use the same numbers (Linux keeps these in include/uapi).
//
// Sources: arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/errno-base.h,
// errno.h, mman-common.h, signal.h, siginfo.h; ../shared/reference/vma-syscalls.md section 0.
//
// ptlab-only calls (there is no execve of a file here: a process runs a TypeScript module)
// are numbered from 1024, above every Linux number.

// --- syscall numbers ------------------------------------------------------------------------
export const SYS_read = 0;
export const SYS_write = 1;
export const SYS_close = 3;
export const SYS_open = 2;
export const SYS_lseek = 8;
export const SYS_pread64 = 17;
export const SYS_openat = 257;
export const SYS_fstat = 5;
export const SYS_ioctl = 16;
export const SYS_pwrite64 = 18;
export const SYS_msync = 26;
export const SYS_dup = 32;
export const SYS_dup2 = 33;
export const SYS_fcntl = 72;
export const SYS_ftruncate = 77;
export const SYS_mkdir = 83;
export const SYS_unlink = 87;
export const SYS_mkdirat = 258;
export const SYS_unlinkat = 263;
export const SYS_fallocate = 285;
export const SYS_dup3 = 292;
export const SYS_memfd_create = 319;
export const SYS_readlink = 89;
export const SYS_readlinkat = 267;
export const SYS_getdents64 = 217;
export const SYS_pipe = 22;
export const SYS_pipe2 = 293;
/** refpage_create(content, size, flags): the v5 patch's number (mainline later gave 448 to process_mrelease, which ptlab does not have). */
export const SYS_refpage_create = 448;
export const SYS_mmap = 9;
export const SYS_mprotect = 10;
export const SYS_munmap = 11;
export const SYS_brk = 12;
export const SYS_rt_sigaction = 13;
export const SYS_sched_yield = 24;
export const SYS_mremap = 25;
export const SYS_mincore = 27;
export const SYS_madvise = 28;
export const SYS_getpid = 39;
export const SYS_clone = 56;
/** fork and vfork name no function for the child to run: ENOSYS (use clone; see the README). */
export const SYS_fork = 57;
export const SYS_vfork = 58;
export const SYS_exit = 60;
export const SYS_wait4 = 61;
export const SYS_kill = 62;
export const SYS_getppid = 110;
export const SYS_gettid = 186;
export const SYS_tkill = 200;
export const SYS_exit_group = 231;
export const SYS_mseal = 462;
export const SYS_getrlimit = 97;
export const SYS_setrlimit = 160;
export const SYS_prlimit64 = 302;
export const SYS_capget = 125;
export const SYS_capset = 126;
export const SYS_mlock = 149;
export const SYS_munlock = 150;
export const SYS_mlockall = 151;
export const SYS_munlockall = 152;
export const SYS_mlock2 = 325;
export const SYS_prctl = 157;
/** ptlab: start a TypeScript module as a new process (like posix_spawn). */
export const SYS_ptlab_spawn = 1024;
/** ptlab: wait for a thread of this process to exit and collect its exit value. */
export const SYS_ptlab_thread_join = 1025;
/** ptlab: record a named number as this process's result (ptlab stat's `values`, a sweep's record). */
export const SYS_ptlab_report = 1026;
/** Bytes of a ptlab_report name, the NUL included. */
export const REPORT_NAME_MAX = 256;

export const SYSCALL_NAMES: Readonly<Record<number, string>> = {
  [SYS_read]: 'read', [SYS_write]: 'write', [SYS_close]: 'close', [SYS_open]: 'open', [SYS_lseek]: 'lseek', [SYS_pread64]: 'pread64', [SYS_openat]: 'openat', [SYS_fstat]: 'fstat', [SYS_ioctl]: 'ioctl', [SYS_pwrite64]: 'pwrite64', [SYS_msync]: 'msync',
  [SYS_dup]: 'dup', [SYS_dup2]: 'dup2', [SYS_fcntl]: 'fcntl', [SYS_ftruncate]: 'ftruncate', [SYS_mkdir]: 'mkdir',
  [SYS_unlink]: 'unlink', [SYS_mkdirat]: 'mkdirat', [SYS_unlinkat]: 'unlinkat', [SYS_fallocate]: 'fallocate',
  [SYS_dup3]: 'dup3', [SYS_memfd_create]: 'memfd_create', [SYS_pipe]: 'pipe', [SYS_pipe2]: 'pipe2', [SYS_refpage_create]: 'refpage_create', [SYS_mmap]: 'mmap',
  [SYS_mprotect]: 'mprotect', [SYS_munmap]: 'munmap', [SYS_brk]: 'brk',
  [SYS_rt_sigaction]: 'rt_sigaction', [SYS_sched_yield]: 'sched_yield', [SYS_mremap]: 'mremap',
  [SYS_mincore]: 'mincore', [SYS_madvise]: 'madvise', [SYS_getpid]: 'getpid', [SYS_clone]: 'clone', [SYS_fork]: 'fork', [SYS_vfork]: 'vfork', [SYS_exit]: 'exit',
  [SYS_wait4]: 'wait4', [SYS_kill]: 'kill', [SYS_getppid]: 'getppid', [SYS_gettid]: 'gettid',
  [SYS_tkill]: 'tkill', [SYS_exit_group]: 'exit_group', [SYS_mseal]: 'mseal', [SYS_getrlimit]: 'getrlimit', [SYS_setrlimit]: 'setrlimit', [SYS_prlimit64]: 'prlimit64', [SYS_capget]: 'capget', [SYS_capset]: 'capset', [SYS_mlock]: 'mlock', [SYS_munlock]: 'munlock', [SYS_mlockall]: 'mlockall', [SYS_munlockall]: 'munlockall', [SYS_mlock2]: 'mlock2', [SYS_ptlab_spawn]: 'ptlab_spawn',
  [SYS_ptlab_thread_join]: 'ptlab_thread_join', [SYS_ptlab_report]: 'ptlab_report', [SYS_prctl]: 'prctl',
  [SYS_readlink]: 'readlink', [SYS_readlinkat]: 'readlinkat', [SYS_getdents64]: 'getdents64',
};

// --- errno ------------------------------------------------------------------------------------
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EDEADLK = 35;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ENOTDIR = 20;
export const ENOTTY = 25;
export const ETXTBSY = 26;
export const EFBIG = 27;
export const EROFS = 30;
export const EXDEV = 18;
export const ENOTEMPTY = 39;
export const EISDIR = 21;
export const ESPIPE = 29;
export const ELOOP = 40;
export const EPIPE = 32;
export const ENOPKG = 65;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;

export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM', [ENOENT]: 'ENOENT', [ESRCH]: 'ESRCH', [EINTR]: 'EINTR', [EIO]: 'EIO',
  [E2BIG]: 'E2BIG', [EBADF]: 'EBADF', [ECHILD]: 'ECHILD', [EAGAIN]: 'EAGAIN', [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES', [EFAULT]: 'EFAULT', [EBUSY]: 'EBUSY', [EEXIST]: 'EEXIST', [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL', [ENFILE]: 'ENFILE', [EMFILE]: 'EMFILE', [ENOSPC]: 'ENOSPC', [ERANGE]: 'ERANGE',
  [EDEADLK]: 'EDEADLK', [ENAMETOOLONG]: 'ENAMETOOLONG', [ENOSYS]: 'ENOSYS', [ENOTDIR]: 'ENOTDIR', [ENOTTY]: 'ENOTTY', [ETXTBSY]: 'ETXTBSY', [EFBIG]: 'EFBIG', [EROFS]: 'EROFS', [EXDEV]: 'EXDEV', [ENOTEMPTY]: 'ENOTEMPTY', [EISDIR]: 'EISDIR', [ESPIPE]: 'ESPIPE', [EPIPE]: 'EPIPE', [ENOPKG]: 'ENOPKG',
  [EOVERFLOW]: 'EOVERFLOW', [EOPNOTSUPP]: 'EOPNOTSUPP',
  [ENXIO]: 'ENXIO', [ELOOP]: 'ELOOP',
};

/** Largest errno: raw results in [-MAX_ERRNO, -1] are errors (IS_ERR_VALUE). */
export const MAX_ERRNO = 4095;

// --- capabilities (linux/capability.h) ---------------------------------------------------------
export const _LINUX_CAPABILITY_VERSION_1 = 0x19980330;
export const _LINUX_CAPABILITY_VERSION_2 = 0x20071026;
export const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;
export const CAP_IPC_LOCK = 14;
export const CAP_SYS_ADMIN = 21;
export const CAP_SYS_RESOURCE = 24;
/** CAP_LAST_CAP on 6.18 (CAP_CHECKPOINT_RESTORE). */
export const CAP_LAST_CAP = 40;

// --- the OOM killer (linux/oom.h) ----------------------------------------------------------------
/** /proc/PID/oom_score_adj: -1000 exempts the process from the OOM killer, 1000 makes it the first choice. */
export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;
/** /proc/PID/oom_adj (legacy): -17 exempts; otherwise -16 to 15, scaled to oom_score_adj. */
export const OOM_DISABLE = -17;
export const OOM_ADJUST_MIN = -16;
export const OOM_ADJUST_MAX = 15;

// --- files ------------------------------------------------------------------------------------
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_ACCMODE = 3;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
/** Signal-driven I/O (FASYNC): F_SETFL keeps it on files with an fasync operation (pipes). */
export const O_ASYNC = 0o20000;
/** Direct I/O; on a pipe's write end, packet mode (each write one packet, each read at most one). */
export const O_DIRECT = 0o40000;
export const O_NOATIME = 0o1000000;
/** pipe2: a notification pipe (CONFIG_WATCH_QUEUE, which ptlab, like the host, lacks: ENOPKG). */
export const O_NOTIFICATION_PIPE = O_EXCL;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const O_LARGEFILE = 0o100000;
export const AT_FDCWD = -100;
export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const PATH_MAX = 4096;
export const NAME_MAX = 255;
export const AT_REMOVEDIR = 0x200;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFLNK = 0o120000;
/** getdents64's d_type values. */
export const DT_CHR = 2;
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;
export const S_IFIFO = 0o010000;
export const F_DUPFD = 0;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 0x01;
export const F_SEAL_SHRINK = 0x02;
export const F_SEAL_GROW = 0x04;
export const F_SEAL_WRITE = 0x08;
export const F_SEAL_FUTURE_WRITE = 0x10;
export const F_SEAL_EXEC = 0x20;
/** A pipe's capacity in bytes: set (rounded up to a power-of-two number of pages) and get. */
export const F_SETPIPE_SZ = 1031;
export const F_GETPIPE_SZ = 1032;
/** ioctl: bytes waiting to be read (an int). */
export const FIONREAD = 0x541b;
/** ioctl: a terminal's struct termios (36 bytes; ENOTTY on anything else: isatty(3)). */
export const TCGETS = 0x5401;
/** Writes to a pipe of at most this many bytes are atomic (never interleaved with others). */
export const PIPE_BUF = 4096;
export const FD_CLOEXEC = 1;
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const MFD_HUGETLB = 0x4;
export const MFD_NOEXEC_SEAL = 0x8;
export const MFD_EXEC = 0x10;
export const MS_ASYNC = 1;
export const MS_INVALIDATE = 2;
export const MS_SYNC = 4;
/** Largest file size (MAX_LFS_FILESIZE on 64-bit). */
export const MAX_LFS_FILESIZE = 2 ** 63 - 1;

// --- memory -----------------------------------------------------------------------------------
export const PAGE_SIZE = 4096;
/** Top of user space with 4-level paging: (1 << 47) - PAGE_SIZE. */
export const TASK_SIZE = 0x7fff_ffff_f000;
/** vm.mmap_min_addr default. */
export const MMAP_MIN_ADDR = 4096;
/** vm.max_map_count default. */
export const DEFAULT_MAX_MAP_COUNT = 65530;

export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const PROT_SEM = 0x8;
export const PROT_GROWSDOWN = 0x0100_0000;
export const PROT_GROWSUP = 0x0200_0000;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_32BIT = 0x40;
export const MAP_GROWSDOWN = 0x100;
export const MAP_DENYWRITE = 0x800;
export const MAP_EXECUTABLE = 0x1000;
export const MAP_LOCKED = 0x2000;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_NONBLOCK = 0x10000;
export const MAP_STACK = 0x20000;
export const MAP_HUGETLB = 0x40000;
export const MAP_SYNC = 0x80000;
export const MAP_UNINITIALIZED = 0x4000000;
/** Map type (6.11+): anonymous memory the kernel may drop under pressure. */
export const MAP_DROPPABLE = 0x08;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_HUGE_SHIFT = 26;
export const MAP_HUGE_MASK = 0x3f;
export const MAP_FAILED = -1;

export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_WIPEONFORK = 18;
export const MADV_KEEPONFORK = 19;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_DONTNEED_LOCKED = 24;
export const MADV_COLLAPSE = 25;
export const MADV_HWPOISON = 100;
export const MADV_SOFT_OFFLINE = 101;
export const MADV_GUARD_INSTALL = 102;
export const MADV_GUARD_REMOVE = 103;

export const MLOCK_ONFAULT = 1;
export const MCL_CURRENT = 1;
export const MCL_FUTURE = 2;
export const MCL_ONFAULT = 4;

export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

// --- resource limits --------------------------------------------------------------------------
export const RLIMIT_CPU = 0;
export const RLIMIT_FSIZE = 1;
export const RLIMIT_DATA = 2;
export const RLIMIT_STACK = 3;
export const RLIMIT_CORE = 4;
export const RLIMIT_RSS = 5;
export const RLIMIT_NPROC = 6;
export const RLIMIT_NOFILE = 7;
export const RLIMIT_MEMLOCK = 8;
export const RLIMIT_AS = 9;
export const RLIM_NLIMITS = 16;
/** RLIM_INFINITY (2^64 - 1 in struct rlimit) is Infinity in ptlab's numbers. */
export const RLIM_INFINITY = Infinity;

// --- clone ------------------------------------------------------------------------------------
/** The low byte of clone's flags: the signal the parent gets when the child exits. */
export const CSIGNAL = 0xff;
export const CLONE_VM = 0x100;
export const CLONE_FS = 0x200;
export const CLONE_FILES = 0x400;
export const CLONE_SIGHAND = 0x800;
export const CLONE_PIDFD = 0x1000;
export const CLONE_PTRACE = 0x2000;
export const CLONE_VFORK = 0x4000;
export const CLONE_PARENT = 0x8000;
export const CLONE_THREAD = 0x10000;
export const CLONE_NEWNS = 0x20000;
export const CLONE_SYSVSEM = 0x40000;
export const CLONE_SETTLS = 0x80000;
export const CLONE_PARENT_SETTID = 0x100000;
export const CLONE_CHILD_CLEARTID = 0x200000;
export const CLONE_DETACHED = 0x400000;
export const CLONE_UNTRACED = 0x800000;
export const CLONE_CHILD_SETTID = 0x1000000;
export const CLONE_NEWCGROUP = 0x2000000;
export const CLONE_NEWUTS = 0x4000000;
export const CLONE_NEWIPC = 0x8000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_IO = 0x80000000;
/** What a pthread_create passes. */
export const CLONE_THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
/** What glibc's fork passes (less the tid pointers), and vfork's flags. */
export const FORK_FLAGS = 17; // SIGCHLD
export const VFORK_FLAGS = CLONE_VM | CLONE_VFORK | 17;

// --- signals ----------------------------------------------------------------------------------
export const SIGHUP = 1;
export const SIGINT = 2;
export const SIGQUIT = 3;
export const SIGILL = 4;
export const SIGTRAP = 5;
export const SIGABRT = 6;
export const SIGBUS = 7;
export const SIGFPE = 8;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGSEGV = 11;
export const SIGUSR2 = 12;
export const SIGPIPE = 13;
export const SIGALRM = 14;
export const SIGTERM = 15;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGSYS = 31;
export const NSIG = 64;

export const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  [SIGHUP]: 'SIGHUP', [SIGINT]: 'SIGINT', [SIGQUIT]: 'SIGQUIT', [SIGILL]: 'SIGILL',
  [SIGTRAP]: 'SIGTRAP', [SIGABRT]: 'SIGABRT', [SIGBUS]: 'SIGBUS', [SIGFPE]: 'SIGFPE',
  [SIGKILL]: 'SIGKILL', [SIGUSR1]: 'SIGUSR1', [SIGSEGV]: 'SIGSEGV', [SIGUSR2]: 'SIGUSR2',
  [SIGPIPE]: 'SIGPIPE', [SIGALRM]: 'SIGALRM', [SIGTERM]: 'SIGTERM', [SIGCHLD]: 'SIGCHLD',
  [SIGCONT]: 'SIGCONT', [SIGSTOP]: 'SIGSTOP', [SIGSYS]: 'SIGSYS',
};

/** What strsignal(3) prints, for the CLI's one-line report. */
export const SIGNAL_DESCRIPTIONS: Readonly<Record<number, string>> = {
  [SIGABRT]: 'Aborted', [SIGBUS]: 'Bus error', [SIGKILL]: 'Killed', [SIGSEGV]: 'Segmentation fault',
  [SIGTERM]: 'Terminated', [SIGINT]: 'Interrupt', [SIGFPE]: 'Floating point exception',
  [SIGILL]: 'Illegal instruction', [SIGSYS]: 'Bad system call',
};

/** sigaction handler values. */
export const SIG_DFL = 0;
export const SIG_IGN = 1;

/** si_code values for SIGSEGV and SIGBUS. */
export const SEGV_MAPERR = 1;
export const SEGV_ACCERR = 2;
export const BUS_ADRALN = 1;
export const BUS_ADRERR = 2;
/** si_code for kill(2). */
export const SI_USER = 0;

// --- wait -------------------------------------------------------------------------------------
export const WNOHANG = 1;
/** wait status of a normal exit (WIFEXITED, WEXITSTATUS). */
export function wExitStatus(code: number): number {
  return (code & 0xff) << 8;
}
/** wait status of a death by signal (WIFSIGNALED, WTERMSIG). */
export function wSignalStatus(sig: number): number {
  return sig & 0x7f;
}
export function WIFEXITED(status: number): boolean {
  return (status & 0x7f) === 0;
}
export function WEXITSTATUS(status: number): number {
  return (status >> 8) & 0xff;
}
export function WIFSIGNALED(status: number): boolean {
  return (status & 0x7f) !== 0 && (status & 0x7f) !== 0x7f;
}
export function WTERMSIG(status: number): number {
  return status & 0x7f;
}

// ioctl numbers: _IOC(dir, type, nr, size), dir 1 write, 2 read, 3 both.
const ioc = (dir: number, type: number, nr: number, size: number): number => ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
/** msharefs: _IOW('x', 0, struct mshare_create) and _IOW('x', 1, struct mshare_unmap). */
export const MSHAREFS_CREATE_MAPPING = ioc(1, 0x78, 0, 40);
export const MSHAREFS_UNMAP = ioc(1, 0x78, 1, 16);
/** An mshare region's size is a multiple of this, and it is mapped at a multiple: 512 GiB, one PML4 entry's span. */
export const MSHARE_ALIGN = 2 ** 39;
/** /proc/PID/pagemap: _IOWR('f', 16, struct pm_scan_arg), its flags and page categories (Linux 6.7). */
export const PAGEMAP_SCAN = ioc(3, 0x66, 16, 96);
export const PM_SCAN_WP_MATCHING = 1;
export const PM_SCAN_CHECK_WPASYNC = 2;
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
export const PAGE_IS_GUARD = 1 << 8;
/** /dev/vbuf: create, harvest and destroy a buffer object. */
export const VBUF_CREATE = ioc(3, 0x56, 1, 16);
export const VBUF_HARVEST = ioc(3, 0x56, 2, 24);
export const VBUF_DESTROY = ioc(1, 0x56, 3, 4);

/** The largest swap area ptlab takes: its slot offsets stay below 2^23 - 1 (see mm/swapfile.ts isSwapPte). */
export const MAX_SWAP_BYTES = 16 * 2 ** 30;

// prctl(2) options (include/uapi/linux/prctl.h): ptlab has PR_SET_VMA and PR_SET_NAME/PR_GET_NAME.
export const PR_SET_NAME = 15;
export const PR_GET_NAME = 16;
/** Thread names (comm) are TASK_COMM_LEN bytes with the NUL. */
export const TASK_COMM_LEN = 16;
export const PR_SET_VMA = 0x53564d41;
/** prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name): name anonymous memory. */
export const PR_SET_VMA_ANON_NAME = 0;
/** The longest anonymous VMA name, with its NUL (include/linux/mm_types.h). */
export const ANON_VMA_NAME_MAX_LEN = 80;
