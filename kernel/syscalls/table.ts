// The system call table (arch/x86/entry/syscalls/syscall_64.tbl, xv6's syscall.c): one row
// per call, {number, name, handler}. A handler decodes and checks its own arguments (six
// float64 slots of the control block, so 48-bit addresses fit) and returns the raw result,
// an address, a count or -errno, or undefined when it blocked, ended or killed the caller
// and answers itself (or never). Adding a system call is one row and one function.
//
// Numbers and names are the ABI's (uapi.ts's SYS_* and SYSCALL_NAMES, which userland
// shares); a test checks the two agree. Numbers not in the table return -ENOSYS.

import {
  sysClose, sysDup, sysDup2, sysDup3, sysFallocate, sysFcntl, sysFstat, sysFtruncate, sysGetdents64, sysIoctl, sysLseek,
  sysMemfdCreate, sysMkdir, sysMkdirat, sysOpen, sysOpenat, sysPipe, sysPipe2, sysPread64, sysPwrite64, sysRead, sysReadlink,
  sysReadlinkat, sysRefpageCreate, sysUnlink, sysUnlinkat, sysWrite,
} from '../fs/index.ts';
import type { Kernel } from '../kernel.ts';
import {
  type MaybeSliced, type Sliced, sysBrkSliced, sysMadviseSliced, sysMincore, sysMlockallSliced, sysMlockSliced, sysMmapSliced, sysMprotectSliced,
  sysMremapSliced, sysMseal, sysMsyncSliced, sysMunmapSliced, VM_LOCKED, VM_LOCKONFAULT,
} from '../mm/index.ts';
import {
  sysCapget, sysCapset, sysClone, sysExit, sysExitGroup, sysGetpid, sysGetppid, sysGetrlimit, sysGettid, sysKill,
  sysPrctl, sysPrlimit, sysReport, sysSchedYield, sysSetrlimit, sysSigaction, sysSpawn, sysThreadJoin, sysTkill, sysWait4, type Thread,
} from '../task/index.ts';
import * as U from '../uapi.ts';

/**
 * A system call: the kernel, the calling thread (Linux's `current`) and the six arguments.
 * A long one may return its work as slices (mm/slice.ts) instead of the result.
 */
export type SyscallHandler = (kn: Kernel, t: Thread, a0: number, a1: number, a2: number, a3: number, a4: number, a5: number) => MaybeSliced | Sliced<number | undefined> | undefined;

export interface Syscall {
  readonly nr: number;
  readonly name: string;
  readonly handler: SyscallHandler;
  /**
   * It takes no mmap_lock: it is served while another thread's sliced call holds the
   * caller's mm (the others of that mm wait for it; kernel.ts).
   */
  readonly noMm?: true;
  /**
   * It takes mmap_lock for write (it changes the caller's VMAs), so it waits for a sibling's
   * call in slices even one that holds the lock for read (a populate); calls without it
   * take the lock for read or not at all and are served between that call's slices.
   */
  readonly mmWrite?: true;
}

/** The memory-management calls take the kernel's memory, the caller's mm, and its CPU (for shootdowns). */
const mlock2: SyscallHandler = (kn, t, addr, len, flags) => {
  if (!Number.isInteger(flags) || (flags & ~U.MLOCK_ONFAULT) !== 0) return -U.EINVAL;
  return sysMlockSliced(kn.k, t.proc.mm, addr, len, VM_LOCKED | (flags !== 0 ? VM_LOCKONFAULT : 0), t.cpu);
};

export const SYSCALLS: readonly Syscall[] = [
  // fs/read_write.c, fs/open.c, fs/stat.c, fs/ioctl.c, fs/fcntl.c, fs/file.c, fs/namei.c, fs/readdir.c
  { nr: U.SYS_read, name: 'read', handler: sysRead },
  { nr: U.SYS_write, name: 'write', handler: sysWrite },
  { nr: U.SYS_open, name: 'open', handler: sysOpen },
  { nr: U.SYS_close, name: 'close', handler: sysClose },
  { nr: U.SYS_fstat, name: 'fstat', handler: sysFstat },
  { nr: U.SYS_lseek, name: 'lseek', handler: sysLseek },
  { nr: U.SYS_ioctl, name: 'ioctl', handler: sysIoctl, mmWrite: true },
  { nr: U.SYS_pread64, name: 'pread64', handler: sysPread64 },
  { nr: U.SYS_pwrite64, name: 'pwrite64', handler: sysPwrite64 },
  { nr: U.SYS_dup, name: 'dup', handler: sysDup },
  { nr: U.SYS_dup2, name: 'dup2', handler: sysDup2 },
  { nr: U.SYS_fcntl, name: 'fcntl', handler: sysFcntl },
  { nr: U.SYS_ftruncate, name: 'ftruncate', handler: sysFtruncate },
  { nr: U.SYS_mkdir, name: 'mkdir', handler: sysMkdir },
  { nr: U.SYS_unlink, name: 'unlink', handler: sysUnlink },
  { nr: U.SYS_readlink, name: 'readlink', handler: sysReadlink },
  { nr: U.SYS_openat, name: 'openat', handler: sysOpenat },
  { nr: U.SYS_mkdirat, name: 'mkdirat', handler: sysMkdirat },
  { nr: U.SYS_unlinkat, name: 'unlinkat', handler: sysUnlinkat },
  { nr: U.SYS_readlinkat, name: 'readlinkat', handler: sysReadlinkat },
  { nr: U.SYS_getdents64, name: 'getdents64', handler: sysGetdents64 },
  { nr: U.SYS_fallocate, name: 'fallocate', handler: sysFallocate },
  { nr: U.SYS_dup3, name: 'dup3', handler: sysDup3 },
  { nr: U.SYS_memfd_create, name: 'memfd_create', handler: sysMemfdCreate },
  // fs/pipe.c
  { nr: U.SYS_pipe, name: 'pipe', handler: sysPipe },
  { nr: U.SYS_pipe2, name: 'pipe2', handler: sysPipe2 },
  // mm/
  { nr: U.SYS_mmap, name: 'mmap', handler: (kn, t, addr, len, prot, flags, fd, off) => sysMmapSliced(kn.k, t.proc.mm, addr, len, prot, flags, fd, off, t.cpu, t.proc.fds), mmWrite: true },
  { nr: U.SYS_mprotect, name: 'mprotect', handler: (kn, t, addr, len, prot) => sysMprotectSliced(kn.k, t.proc.mm, addr, len, prot, t.cpu), mmWrite: true },
  { nr: U.SYS_munmap, name: 'munmap', handler: (kn, t, addr, len) => sysMunmapSliced(kn.k, t.proc.mm, addr, len, t.cpu), mmWrite: true },
  { nr: U.SYS_brk, name: 'brk', handler: (kn, t, addr) => sysBrkSliced(kn.k, t.proc.mm, addr, t.cpu), mmWrite: true },
  { nr: U.SYS_mremap, name: 'mremap', handler: (kn, t, old, oldLen, newLen, flags, to) => sysMremapSliced(kn.k, t.proc.mm, old, oldLen, newLen, flags, to, t.cpu), mmWrite: true },
  { nr: U.SYS_msync, name: 'msync', handler: (kn, t, addr, len, flags) => sysMsyncSliced(kn.k, t.proc.mm, addr, len, flags) },
  { nr: U.SYS_mincore, name: 'mincore', handler: (kn, t, addr, len, vec) => sysMincore(kn.k, t.proc.mm, addr, len, vec, t.cpu) },
  { nr: U.SYS_madvise, name: 'madvise', handler: (kn, t, addr, len, advice) => sysMadviseSliced(kn.k, t.proc.mm, addr, len, advice, t.cpu), mmWrite: true },
  { nr: U.SYS_mlock, name: 'mlock', handler: (kn, t, addr, len) => sysMlockSliced(kn.k, t.proc.mm, addr, len, VM_LOCKED, t.cpu), mmWrite: true },
  { nr: U.SYS_munlock, name: 'munlock', handler: (kn, t, addr, len) => sysMlockSliced(kn.k, t.proc.mm, addr, len, 0, t.cpu), mmWrite: true },
  { nr: U.SYS_mlockall, name: 'mlockall', handler: (kn, t, flags) => (flags === 0 ? -U.EINVAL : sysMlockallSliced(kn.k, t.proc.mm, flags, t.cpu)), mmWrite: true },
  { nr: U.SYS_munlockall, name: 'munlockall', handler: (kn, t) => sysMlockallSliced(kn.k, t.proc.mm, 0, t.cpu), mmWrite: true },
  { nr: U.SYS_mlock2, name: 'mlock2', handler: mlock2, mmWrite: true },
  { nr: U.SYS_refpage_create, name: 'refpage_create', handler: sysRefpageCreate },
  { nr: U.SYS_mseal, name: 'mseal', handler: (kn, t, addr, len, flags) => sysMseal(kn.k, t.proc.mm, addr, len, flags), mmWrite: true },
  // kernel/: processes, threads, signals, credentials, limits
  { nr: U.SYS_rt_sigaction, name: 'rt_sigaction', handler: sysSigaction },
  { nr: U.SYS_sched_yield, name: 'sched_yield', handler: sysSchedYield, noMm: true },
  { nr: U.SYS_getpid, name: 'getpid', handler: sysGetpid, noMm: true },
  { nr: U.SYS_clone, name: 'clone', handler: sysClone, mmWrite: true },
  // They name no function for the child to run (ptlab's clone does): see the README.
  { nr: U.SYS_fork, name: 'fork', handler: () => -U.ENOSYS },
  { nr: U.SYS_vfork, name: 'vfork', handler: () => -U.ENOSYS },
  { nr: U.SYS_exit, name: 'exit', handler: sysExit, noMm: true },
  { nr: U.SYS_wait4, name: 'wait4', handler: sysWait4 },
  { nr: U.SYS_kill, name: 'kill', handler: sysKill, noMm: true },
  { nr: U.SYS_getrlimit, name: 'getrlimit', handler: sysGetrlimit },
  { nr: U.SYS_getppid, name: 'getppid', handler: sysGetppid, noMm: true },
  { nr: U.SYS_capget, name: 'capget', handler: sysCapget },
  { nr: U.SYS_capset, name: 'capset', handler: sysCapset },
  { nr: U.SYS_setrlimit, name: 'setrlimit', handler: sysSetrlimit },
  { nr: U.SYS_gettid, name: 'gettid', handler: sysGettid, noMm: true },
  { nr: U.SYS_tkill, name: 'tkill', handler: sysTkill, noMm: true },
  { nr: U.SYS_exit_group, name: 'exit_group', handler: sysExitGroup, noMm: true },
  { nr: U.SYS_prlimit64, name: 'prlimit64', handler: sysPrlimit },
  { nr: U.SYS_prctl, name: 'prctl', handler: sysPrctl, mmWrite: true },
  // ptlab's own
  { nr: U.SYS_ptlab_spawn, name: 'ptlab_spawn', handler: sysSpawn },
  { nr: U.SYS_ptlab_thread_join, name: 'ptlab_thread_join', handler: sysThreadJoin },
  { nr: U.SYS_ptlab_report, name: 'ptlab_report', handler: sysReport },
];

/** The table indexed by number (undefined: ENOSYS), for the dispatcher. */
export function syscallsByNumber(): (Syscall | undefined)[] {
  const byNr: (Syscall | undefined)[] = [];
  for (const s of SYSCALLS) byNr[s.nr] = s;
  return byNr;
}
