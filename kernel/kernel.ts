// The kernel: processes, threads, the syscall table and the page-fault entry. It runs on
// the kernel thread (main.ts) but is plain code over physical memory and the control block,
// so tests can drive it without threads.
//
// One request at a time (a big kernel lock): a CPU posts a syscall or a trap in its slot of
// the control block and rings the doorbell; serveCpu answers it, or defers the answer for a
// blocking call (wait4, thread join) by leaving the slot posted until reply().
//
// Process lifetime: a process dies (exit_group, a fatal signal, its worker failing) by
// asking the host to terminate every worker of its threads; when the host reports each
// worker gone, its CPU is released, and when the last is gone the mm is torn down (every
// frame and page table freed) and the process becomes a zombie until its parent reaps it
// with wait4 (or at once, with no parent).

import {
  type ControlBlock, CPU_ARGS, CPU_OFFLINE, CPU_REQ, CPU_RET, CPU_SLEEPING, CPU_STATE, CPU_SYSNO,
  cpuF64Base, cpuI32Base, K_PGFAULT, K_SYSCALLS, type MessageRing, type PhysMem, readCpuCounters,
  cpuRequestPosted, REQ_DONE, REQ_EXIT, REQ_SIGNAL, REQ_TRAP, storeAndWake,
} from '../machine/index.ts';
import { FAULT_DONE, FAULT_OOM, FAULT_SEGV_ACCERR, FAULT_SIGBUS, handleMmFault } from './mm/fault.ts';
import { pagefaultOutOfMemory } from './mm/oom_kill.ts';
import type { ToHost, ToKernel } from './messages.ts';
import { mmAlloc, type Mm } from './mm/mm.ts';
import { PageAllocator } from './mm/page_alloc.ts';
import { sysMadvise } from './mm/madvise.ts';
import { sysMremap } from './mm/mremap.ts';
import { sysBrk, sysMmap } from './mm/mmap.ts';
import { VM_LOCKED, VM_LOCKONFAULT } from './mm/mm_types.ts';
import { copyFromUser, copyToUser, jsonFromUser, pathFromUser } from './mm/uaccess.ts';
import { FdTable, File, type FileOps, fileRead, fileSeek, fileWrite, fput } from './fs/file.ts';
import { InodeFile, pathParts, Vfs } from './fs/vfs.ts';
import { cachePage } from './mm/filemap.ts';
import { validateMm } from './mm/validate.ts';
import { refpageCreate } from './mm/refpage.ts';
import { HugetlbMapping } from './mm/hugetlb.ts';
import { procOpen, procRead, type ProcRoot, type ProcTask } from './fs/proc/base.ts';
import * as U from './uapi.ts';
import { Kmm, type OomHook } from './mm/kmm.ts';
import { releaseDeferred } from './mm/mmu_gather.ts';
import { punchHole, truncate } from './mm/filemap.ts';
import { exitMmap, sysMunmap } from './mm/munmap.ts';
import { sysMincore, sysMsync } from './mm/msync.ts';
import { sysMlock, sysMlockall } from './mm/mlock.ts';
import { sysMprotect } from './mm/mprotect.ts';
import { sysMseal } from './mm/mseal.ts';

export interface KernelOptions {
  /** Most processes alive (zombies included) at once. */
  maxProcs?: number;
  /** Run validateMm on the caller's mm after every syscall and fault (tests, debugging). */
  validate?: boolean;
  /** Map the zero page on anonymous read faults (default true; see Kmm.zeroPage). */
  zeroPage?: boolean;
  /** Soft-dirty tracking (default true; see Kmm.softDirty). */
  softDirty?: boolean;
  /** mshare host-mm flushes: every CPU (default, as the series) or attached processes' only. */
  mshareFlush?: 'all' | 'attached';
  /**
   * /proc/PID files (maps, smaps, smaps_rollup, status) to read as each process ends, after
   * its last thread stopped and before its memory is freed; sent with its exit.
   */
  procAtExit?: string[];
}

type Disposition = typeof U.SIG_DFL | typeof U.SIG_IGN | 2;
/** rt_sigaction (ptlab ABI): arg1 = new disposition (0 default, 1 ignore, 2 handler, -1 query). */
export const SIG_HANDLER = 2;

export class Process implements ProcTask {
  readonly pid: number;
  ppid: number;
  readonly path: string;
  readonly mm: Mm;
  readonly threads = new Map<number, Thread>();
  /** Exit values of threads that ended and were not joined yet. */
  readonly deadThreads = new Map<number, number>();
  readonly children = new Set<number>();
  state: 'live' | 'dying' | 'zombie' = 'live';
  status = 0;
  report = '';
  readonly signals = new Map<number, Disposition>();
  readonly counters: Record<string, number> = {};
  threadsEver = 0;
  hiwaterRss = 0;
  readonly fds = new FdTable();
  /** Credentials' capability sets: a process starts as root with all of them. */
  readonly caps = { effective: ALL_CAPS, permitted: ALL_CAPS, inheritable: 0n };

  constructor(pid: number, ppid: number, path: string, mm: Mm) {
    this.pid = pid;
    this.ppid = ppid;
    this.path = path;
    this.mm = mm;
  }

  get fdTableSize(): number {
    return this.fds.size;
  }

  capable(cap: number): boolean {
    return (this.caps.effective & (1n << BigInt(cap))) !== 0n;
  }
}

const ALL_CAPS = (1n << BigInt(U.CAP_LAST_CAP + 1)) - 1n;

export class Thread {
  readonly tid: number;
  readonly proc: Process;
  readonly cpu: number;
  /** The CPU's request is held open: blocked in wait4 or a join. */
  blocked: null | { kind: 'wait'; pid: number; statusPtr: number; options: number } | { kind: 'join'; tid: number } = null;
  dying = false;
  exitValue = 0;
  readonly joiners: Thread[] = [];

  constructor(tid: number, proc: Process, cpu: number) {
    this.tid = tid;
    this.proc = proc;
    this.cpu = cpu;
  }
}

export class Kernel implements ProcRoot, OomHook {
  readonly k: Kmm;
  readonly cb: ControlBlock;
  readonly toHost: MessageRing;
  readonly procs = new Map<number, Process>();
  /** The thread on each CPU, or null if the CPU is free. */
  readonly cpuThread: (Thread | null)[];
  readonly maxProcs: number;
  private readonly validate: boolean;
  private readonly procAtExit: string[];
  private nextPid = 1;
  private readonly active: number[] = [];
  private readonly freeCpus: number[];
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** Free frames right after boot (for leak checks). */
  readonly bootFreeFrames: number;
  readonly vfs: Vfs;

  constructor(mem: PhysMem, cb: ControlBlock, toHost: MessageRing, options: KernelOptions = {}) {
    this.k = new Kmm(mem, cb);
    this.cb = cb;
    this.toHost = toHost;
    this.i32 = cb.i32;
    this.f64 = cb.f64;
    this.cpuThread = new Array<Thread | null>(cb.nrCpus).fill(null);
    this.freeCpus = Array.from({ length: cb.nrCpus }, (_, i) => cb.nrCpus - 1 - i);
    this.maxProcs = options.maxProcs ?? 1024;
    this.validate = options.validate ?? false;
    this.procAtExit = options.procAtExit ?? [];
    this.k.vm.zeroPage = options.zeroPage ?? true;
    this.k.vm.softDirty = options.softDirty ?? true;
    this.k.mshare.flushPolicy = options.mshareFlush ?? 'all';
    this.bootFreeFrames = this.k.pages.nrFree;
    this.k.oom = this;
    this.vfs = new Vfs(this.k);
  }

  private send(m: ToHost): void {
    this.toHost.send(m);
  }

  private kcount(slot: number): void {
    this.f64[this.cb.kernelCounterIndex(slot)] += 1;
  }

  task(pid: number): Process | undefined {
    return this.procs.get(pid);
  }

  *tasks(): Iterable<Process> {
    for (const p of this.procs.values()) if (p.state !== 'zombie') yield p;
  }

  // --- host messages ----------------------------------------------------------------------

  hostMessage(m: ToKernel): void {
    switch (m.t) {
      case 'spawn': {
        const r = this.spawn(0, m.path, m.argv);
        this.send({ t: 'spawned', tag: m.tag, pid: r });
        break;
      }
      case 'exited':
        this.cpuExited(m.cpu, m.error ?? null);
        break;
      case 'start-failed': {
        // The program could not be loaded: the process ends as a shell's "command not
        // found" does, with status 127.
        const th = this.cpuThread[m.cpu];
        if (th !== null) this.die(th.proc, U.wExitStatus(127), `cannot load ${th.proc.path}: ${m.error}`);
        this.cpuExited(m.cpu, m.error);
        break;
      }
      case 'meminfo':
        this.send({
          t: 'meminfo', tag: m.tag, nrFree: this.k.pages.nrFree, bootFree: this.bootFreeFrames,
          nrFrames: this.k.pages.nrFrames, procs: this.procs.size, metadataBytesPerFrame: PageAllocator.METADATA_BYTES_PER_FRAME,
        });
        break;
      case 'sysrq-crash':
        throw new Error('sysrq: trigger a crash');
      case 'halt':
        break;
    }
  }

  // --- CPU requests -------------------------------------------------------------------------

  /** Serve the request posted on `cpu`, if any and not already held. Returns true if served. */
  serveCpu(cpu: number): boolean {
    if (!cpuRequestPosted(this.i32, cpu)) return false;
    const t = this.cpuThread[cpu];
    if (t === null) return false;
    if (t.blocked !== null) return false;
    if (t.dying) {
      this.replyExit(cpu);
      return true;
    }
    if (Atomics.load(this.i32, cpuI32Base(cpu) + CPU_REQ) === REQ_TRAP) this.trap(t);
    else this.syscall(t);
    if (this.validate && t.proc.state !== 'zombie') validateMm(this.k, t.proc.mm);
    return true;
  }

  /** True if some CPU has a request posted that serveCpu would take. */
  hasWork(): boolean {
    const i32 = this.i32;
    for (const cpu of this.active) {
      if (cpuRequestPosted(i32, cpu) && this.cpuThread[cpu]?.blocked === null) return true;
    }
    return false;
  }

  /** Housekeeping between requests: release frames whose shootdowns completed late. */
  tick(): void {
    releaseDeferred(this.k);
  }

  /** CPUs with a thread (the ones to scan for requests); do not modify. */
  activeCpus(): readonly number[] {
    return this.active;
  }

  private reply(cpu: number, ret: number): void {
    const base = cpuI32Base(cpu);
    this.f64[cpuF64Base(cpu) + CPU_RET] = ret;
    storeAndWake(this.i32, base + CPU_REQ, REQ_DONE, base + CPU_SLEEPING);
  }

  private replyExit(cpu: number): void {
    const base = cpuI32Base(cpu);
    storeAndWake(this.i32, base + CPU_REQ, REQ_EXIT, base + CPU_SLEEPING);
  }

  private replySignal(cpu: number, signo: number, code: number, addr: number): void {
    const base = cpuI32Base(cpu);
    const fb = cpuF64Base(cpu);
    this.i32[base + CPU_SYSNO] = signo;
    this.f64[fb + CPU_ARGS] = code;
    this.f64[fb + CPU_RET] = addr;
    storeAndWake(this.i32, base + CPU_REQ, REQ_SIGNAL, base + CPU_SLEEPING);
  }

  private trap(t: Thread): void {
    const cpu = t.cpu;
    const va = this.f64[cpuF64Base(cpu) + CPU_ARGS];
    const code = this.i32[cpuI32Base(cpu) + CPU_SYSNO];
    this.kcount(K_PGFAULT);
    const r = handleMmFault(this.k, t.proc.mm, va, code, cpu);
    if (r === FAULT_DONE) {
      this.reply(cpu, 0);
      return;
    }
    if (r === FAULT_OOM) {
      pagefaultOutOfMemory(this.k, t.proc.mm, cpu, va);
      if (t.proc.state === 'live') this.reply(cpu, 0); // another process was chosen: retry
      return;
    }
    const hex = Number.isFinite(va) ? `0x${va.toString(16)}` : String(va);
    if (r === FAULT_SIGBUS) {
      if (t.proc.signals.get(U.SIGBUS) === SIG_HANDLER) this.replySignal(cpu, U.SIGBUS, U.BUS_ADRERR, va);
      else this.kill(t.proc, U.SIGBUS, `Bus error at ${hex} (BUS_ADRERR)`);
      return;
    }
    const siCode = r === FAULT_SEGV_ACCERR ? U.SEGV_ACCERR : U.SEGV_MAPERR;
    if (t.proc.signals.get(U.SIGSEGV) === SIG_HANDLER) {
      this.replySignal(cpu, U.SIGSEGV, siCode, va);
      return;
    }
    this.kill(t.proc, U.SIGSEGV, `Segmentation fault at ${hex} (${siCode === U.SEGV_ACCERR ? 'SEGV_ACCERR' : 'SEGV_MAPERR'})`);
  }

  private syscall(t: Thread): void {
    const cpu = t.cpu;
    const fb = cpuF64Base(cpu) + CPU_ARGS;
    const a = this.f64;
    const nr = this.i32[cpuI32Base(cpu) + CPU_SYSNO];
    this.kcount(K_SYSCALLS);
    const r = this.dispatch(t, nr, a[fb], a[fb + 1], a[fb + 2], a[fb + 3], a[fb + 4], a[fb + 5]);
    // undefined: the call blocked, exited or killed the caller, and answered (or will) itself.
    if (r !== undefined) this.reply(cpu, r);
  }

  private dispatch(t: Thread, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number, a5: number): number | undefined {
    const p = t.proc;
    const k = this.k;
    switch (nr) {
      case U.SYS_getpid: return p.pid;
      case U.SYS_gettid: return t.tid;
      case U.SYS_getppid: return p.ppid;
      case U.SYS_sched_yield: return 0;
      case U.SYS_mmap: return sysMmap(k, p.mm, a0, a1, a2, a3, a4, a5, t.cpu, p.fds);
      case U.SYS_munmap: return sysMunmap(k, p.mm, a0, a1, t.cpu);
      case U.SYS_mprotect: return sysMprotect(k, p.mm, a0, a1, a2, t.cpu);
      case U.SYS_madvise: return sysMadvise(k, p.mm, a0, a1, a2, t.cpu);
      case U.SYS_mremap: return sysMremap(k, p.mm, a0, a1, a2, a3, a4, t.cpu);
      case U.SYS_brk: return sysBrk(k, p.mm, a0, t.cpu);
      case U.SYS_mseal: return sysMseal(k, p.mm, a0, a1, a2);
      case U.SYS_mlock: return sysMlock(k, p.mm, a0, a1, VM_LOCKED, t.cpu);
      case U.SYS_mlock2:
        if (!Number.isInteger(a2) || (a2 & ~U.MLOCK_ONFAULT) !== 0) return -U.EINVAL;
        return sysMlock(k, p.mm, a0, a1, VM_LOCKED | (a2 !== 0 ? VM_LOCKONFAULT : 0), t.cpu);
      case U.SYS_munlock: return sysMlock(k, p.mm, a0, a1, 0, t.cpu);
      case U.SYS_mlockall: return a0 === 0 ? -U.EINVAL : sysMlockall(k, p.mm, a0, t.cpu);
      case U.SYS_munlockall: return sysMlockall(k, p.mm, 0, t.cpu);
      case U.SYS_getrlimit: return this.prlimit(t, 0, a0, 0, a1);
      case U.SYS_setrlimit: return this.prlimit(t, 0, a0, a1, 0);
      case U.SYS_prlimit64: return this.prlimit(t, a0, a1, a2, a3);
      case U.SYS_capget: return this.sysCapget(t, a0, a1);
      case U.SYS_capset: return this.sysCapset(t, a0, a1);
      case U.SYS_mincore: return sysMincore(k, p.mm, a0, a1, a2, t.cpu);
      case U.SYS_write: return this.sysWrite(t, a0, a1, a2);
      case U.SYS_read: return this.sysRead(t, a0, a1, a2, null);
      case U.SYS_pread64: return this.sysRead(t, a0, a1, a2, a3);
      case U.SYS_open: return this.sysOpenat(t, U.AT_FDCWD, a0, a1, a2);
      case U.SYS_openat: return this.sysOpenat(t, a0, a1, a2, a3);
      case U.SYS_pwrite64: return this.sysWrite(t, a0, a1, a2, a3);
      case U.SYS_mkdir: return this.sysMkdirat(t, U.AT_FDCWD, a0, a1);
      case U.SYS_mkdirat: return this.sysMkdirat(t, a0, a1, a2);
      case U.SYS_unlink: return this.sysUnlinkat(t, U.AT_FDCWD, a0, 0);
      case U.SYS_unlinkat: return this.sysUnlinkat(t, a0, a1, a2);
      case U.SYS_memfd_create: return this.sysMemfdCreate(t, a0, a1);
      case U.SYS_refpage_create: return this.sysRefpageCreate(t, a0, a1, a2);
      case U.SYS_ftruncate: return this.sysFtruncate(t, a0, a1);
      case U.SYS_fallocate: return this.sysFallocate(t, a0, a1, a2, a3);
      case U.SYS_fstat: return this.sysFstat(t, a0, a1);
      case U.SYS_dup: return this.sysDup(t, a0, null, 0);
      case U.SYS_dup2:
        if (a0 === a1) return p.fds.get(a0) === null ? -U.EBADF : a1;
        return this.sysDup(t, a0, a1, 0);
      case U.SYS_dup3:
        if (!Number.isInteger(a2) || (a2 & ~U.O_CLOEXEC) !== 0 || a0 === a1) return -U.EINVAL;
        return this.sysDup(t, a0, a1, a2);
      case U.SYS_fcntl: return this.sysFcntl(t, a0, a1, a2);
      case U.SYS_ioctl: {
        const f = p.fds.get(a0);
        if (f === null) return -U.EBADF;
        if (f.ops.ioctl === undefined || !Number.isInteger(a1) || !Number.isInteger(a2)) return -U.ENOTTY;
        return f.ops.ioctl(f, a1 >>> 0, a2, {
          cpu: t.cpu,
          files: p.fds,
          copyFrom: (va, len) => copyFromUser(k, p.mm, va, len, t.cpu),
          copyTo: (va, bytes) => copyToUser(k, p.mm, va, bytes, t.cpu),
        });
      }
      case U.SYS_msync: return sysMsync(p.mm, a0, a1, a2);
      case U.SYS_close: return p.fds.close(a0);
      case U.SYS_lseek: {
        const f = p.fds.get(a0);
        if (f === null) return -U.EBADF;
        return Number.isInteger(a1) && Number.isInteger(a2) ? fileSeek(f, a1, a2) : -U.EINVAL;
      }
      case U.SYS_rt_sigaction: return this.sysSigaction(p, a0, a1);
      case U.SYS_exit: return this.sysExit(t, a0);
      case U.SYS_exit_group: return this.exitGroup(p, U.wExitStatus(toInt(a0)));
      case U.SYS_kill: return this.sysKill(t, a0, a1);
      case U.SYS_tkill: return this.sysTkill(t, a0, a1);
      case U.SYS_wait4: return this.sysWait4(t, a0, a1, a2, a3);
      case U.SYS_clone: return this.sysClone(t, a0, a1, a2);
      case U.SYS_ptlab_spawn: return this.sysSpawn(t, a0, a1);
      case U.SYS_ptlab_thread_join: return this.sysJoin(t, a0);
      default: return -U.ENOSYS;
    }
  }

  // --- syscalls ----------------------------------------------------------------------------

  /** write(2), and pwrite64(2) when pos is given. */
  private sysWrite(t: Thread, fd: number, buf: number, len: number, pos: number | null = null): number {
    const f = t.proc.fds.get(fd);
    if (f === null) return -U.EBADF;
    if (!Number.isInteger(len) || len < 0 || (pos !== null && (!Number.isInteger(pos) || pos < 0))) return -U.EINVAL;
    // At most 1 MiB per call (a short write, which write(2) allows), so that a huge count
    // cannot make the kernel allocate a huge buffer.
    const bytes = copyFromUser(this.k, t.proc.mm, buf, Math.min(len, 1 << 20), t.cpu);
    if (typeof bytes === 'number') return bytes;
    return fileWrite(f, bytes, pos);
  }

  /** read(2), and pread64(2) when pos is not null. */
  private sysRead(t: Thread, fd: number, buf: number, len: number, pos: number | null): number {
    const f = t.proc.fds.get(fd);
    if (f === null) return -U.EBADF;
    if (!Number.isInteger(len) || len < 0 || (pos !== null && (!Number.isInteger(pos) || pos < 0))) return -U.EINVAL;
    if (!Number.isInteger(buf) || buf < 0 || buf + len > U.TASK_SIZE) return -U.EFAULT;
    const r = fileRead(f, Math.min(len, MAX_RW_COUNT), pos);
    if (typeof r === 'number') return r;
    const c = copyToUser(this.k, t.proc.mm, buf, r, t.cpu);
    return c < 0 ? c : r.length;
  }

  /** The components of a path argument, relative paths against dirfd (AT_FDCWD: "/"). */
  private pathArg(t: Thread, dirfd: number, pathPtr: number): string[] | number {
    if (!Number.isInteger(dirfd)) return -U.EINVAL;
    const path = pathFromUser(this.k, t.proc.mm, pathPtr, U.PATH_MAX, t.cpu);
    if (typeof path === 'number') return path;
    let base = '/';
    if (!path.startsWith('/') && dirfd !== U.AT_FDCWD) {
      const d = t.proc.fds.get(dirfd);
      if (d === null) return -U.EBADF;
      if (d.path === null) return -U.ENOTDIR;
      base = d.path;
    }
    return pathParts(path, base);
  }

  /** openat(2) (open(2) is openat at AT_FDCWD). */
  private sysOpenat(t: Thread, dirfd: number, pathPtr: number, flags: number, mode: number): number {
    if (!Number.isInteger(flags)) return -U.EINVAL;
    const parts = this.pathArg(t, dirfd, pathPtr);
    if (typeof parts === 'number') return parts;
    const f = parts[0] === 'proc'
      ? procOpen(this, t.proc, `/${parts.join('/')}`, flags & ~U.O_CLOEXEC)
      : this.vfs.open(parts, flags & ~U.O_CLOEXEC, Number.isInteger(mode) ? mode : 0, t.cpu, t.proc.pid);
    if (typeof f === 'number') return f;
    if (f.path === null && f instanceof InodeFile && f.inode.isDir) f.path = `/${parts.join('/')}`;
    const fd = t.proc.fds.install(f, (flags & U.O_CLOEXEC) !== 0, t.proc.mm.rlimits[U.RLIMIT_NOFILE][0]);
    if (fd < 0) fput(f);
    return fd;
  }

  private sysMkdirat(t: Thread, dirfd: number, pathPtr: number, mode: number): number {
    const parts = this.pathArg(t, dirfd, pathPtr);
    if (typeof parts === 'number') return parts;
    return this.vfs.mkdir(parts, Number.isInteger(mode) ? mode : 0);
  }

  private sysUnlinkat(t: Thread, dirfd: number, pathPtr: number, flags: number): number {
    if (!Number.isInteger(flags) || (flags & ~U.AT_REMOVEDIR) !== 0) return -U.EINVAL;
    const parts = this.pathArg(t, dirfd, pathPtr);
    if (typeof parts === 'number') return parts;
    if (parts[0] === 'proc' && parts.length > 1) return -U.EPERM;
    return this.vfs.unlink(parts, (flags & U.AT_REMOVEDIR) !== 0);
  }

  /** memfd_create(2): an unlinked tmpfs file named "memfd:NAME". */
  private sysMemfdCreate(t: Thread, namePtr: number, flags: number): number {
    if (!Number.isInteger(flags)) return -U.EINVAL;
    // With MFD_HUGETLB the bits above MFD_HUGE_SHIFT (26) give the page size, as MAP_HUGE_* do.
    const sizeBits = (flags & U.MFD_HUGETLB) !== 0 ? flags & (0x3f << 26) : 0;
    if (((flags & ~sizeBits) & ~(U.MFD_CLOEXEC | U.MFD_ALLOW_SEALING | U.MFD_HUGETLB | U.MFD_NOEXEC_SEAL | U.MFD_EXEC)) !== 0) return -U.EINVAL;
    if ((flags & U.MFD_NOEXEC_SEAL) !== 0 && (flags & U.MFD_EXEC) !== 0) return -U.EINVAL;
    const log = sizeBits >>> 26;
    if (log !== 0 && log !== 21 && log !== 30) return -U.EINVAL;
    const name = pathFromUser(this.k, t.proc.mm, namePtr, 250, t.cpu);
    if (name === -U.ENAMETOOLONG) return -U.EINVAL; // MFD_NAME_MAX_LEN is 249
    const text = name === -U.ENOENT ? '' : name;
    if (typeof text === 'number') return text;
    let f: File;
    if ((flags & U.MFD_HUGETLB) !== 0) {
      // A file on the internal hugetlbfs mount: its pages come from the pool of its size.
      const m = new HugetlbMapping(log === 30 ? this.k.hugetlb.hstates[1] : this.k.hugetlb.hstates[0], true);
      m.size = 0;
      m.name = `/memfd:${text} (deleted)`;
      f = this.vfs.openInode(this.vfs.createHugetlbUnlinked(m), U.O_RDWR | U.O_LARGEFILE);
    } else {
      f = this.vfs.openInode(this.vfs.createUnlinked(`memfd:${text}`), U.O_RDWR | U.O_LARGEFILE);
    }
    const fd = t.proc.fds.install(f, (flags & U.MFD_CLOEXEC) !== 0, t.proc.mm.rlimits[U.RLIMIT_NOFILE][0]);
    if (fd < 0) fput(f);
    return fd;
  }

  /** refpage_create(2) (v5): a reference page behind an O_RDONLY, close-on-exec descriptor. */
  private sysRefpageCreate(t: Thread, content: number, size: number, flags: number): number {
    const f = refpageCreate(this.k, t.proc.mm, content, size, flags, t.cpu);
    if (typeof f === 'number') return f;
    const fd = t.proc.fds.install(f, true, t.proc.mm.rlimits[U.RLIMIT_NOFILE][0]);
    if (fd < 0) fput(f);
    return fd;
  }

  /** ftruncate(2): regular files open for writing. */
  private sysFtruncate(t: Thread, fd: number, len: number): number {
    const f = t.proc.fds.get(fd);
    if (f === null) return -U.EBADF;
    if (!Number.isInteger(len) || len < 0) return -U.EINVAL;
    const huge = f.ops.hugetlb?.(f);
    if (huge !== undefined) return f.writable ? huge.truncate(this.k, len) : -U.EINVAL;
    if (!(f instanceof InodeFile) || !f.inode.isReg || !f.writable) return -U.EINVAL;
    if (len > U.MAX_LFS_FILESIZE) return -U.EFBIG;
    if (f.inode.region !== null) return f.inode.region.setSize(len);
    if (f.inode.mapping === null) return -U.EINVAL; // a sysfs attribute, mshare_info
    truncate(this.k, f.inode.mapping, len, t.cpu);
    return 0;
  }

  /** fallocate(2): mode 0 and KEEP_SIZE allocate, PUNCH_HOLE|KEEP_SIZE frees. */
  private sysFallocate(t: Thread, fd: number, mode: number, off: number, len: number): number {
    const f = t.proc.fds.get(fd);
    if (f === null) return -U.EBADF;
    if (![mode, off, len].every(Number.isInteger) || off < 0 || len <= 0) return -U.EINVAL;
    if ((mode & ~(U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE)) !== 0) return -U.EOPNOTSUPP;
    if ((mode & U.FALLOC_FL_PUNCH_HOLE) !== 0 && (mode & U.FALLOC_FL_KEEP_SIZE) === 0) return -U.EOPNOTSUPP;
    if (!f.writable) return -U.EBADF;
    if (!(f instanceof InodeFile) || !f.inode.isReg) return f instanceof InodeFile && f.inode.isDir ? -U.EISDIR : -U.ENODEV;
    if (f.inode.region !== null) {
      // msharefs_fallocate: only mode 0 from offset 0, which sets the size.
      if (mode !== 0) return -U.EOPNOTSUPP;
      if (off !== 0) return -U.EINVAL;
      return f.inode.region.setSize(len);
    }
    if (off + len > U.MAX_LFS_FILESIZE) return -U.EFBIG;
    const m = f.inode.mapping;
    if (m === null) return -U.ENODEV;
    const first = Math.floor(off / 4096);
    const last = Math.ceil((off + len) / 4096);
    if ((mode & U.FALLOC_FL_PUNCH_HOLE) !== 0) {
      punchHole(this.k, m, off, off + len, t.cpu);
      return 0;
    }
    for (let i = first; i < last; i++) if (cachePage(this.k, m, i) < 0) return -U.ENOSPC;
    if ((mode & U.FALLOC_FL_KEEP_SIZE) === 0 && off + len > m.size) m.size = off + len;
    return 0;
  }

  /** fstat(2): struct stat, 144 bytes. */
  private sysFstat(t: Thread, fd: number, buf: number): number {
    const f = t.proc.fds.get(fd);
    if (f === null) return -U.EBADF;
    const st = new Uint8Array(144);
    const dv = new DataView(st.buffer);
    let mode = U.S_IFCHR | 0o620;
    let ino = 0;
    let nlink = 1;
    let size = 0;
    let blocks = 0;
    if (f instanceof InodeFile) {
      mode = f.inode.mode;
      ino = f.inode.ino;
      nlink = f.inode.nlink;
      const m = f.inode.mapping;
      if (f.inode.region !== null) size = f.inode.region.size;
      const huge = f.inode.hugetlb;
      if (huge !== null) {
        size = huge.size;
        blocks = huge.pages!.size * (huge.h.size / 512);
      }
      if (m !== null) {
        size = m.size;
        blocks = m.pages.size * 8;
      }
    } else if (f.path !== null || f.ops.size === undefined && f.ops.write === undefined) {
      mode = f.path !== null ? U.S_IFDIR | 0o555 : U.S_IFREG | 0o444; // /proc
    }
    dv.setBigUint64(8, BigInt(ino), true);
    dv.setBigUint64(16, BigInt(nlink), true);
    dv.setUint32(24, mode, true);
    dv.setBigInt64(48, BigInt(size), true);
    dv.setBigInt64(56, 4096n, true);
    dv.setBigInt64(64, BigInt(blocks), true);
    return copyToUser(this.k, t.proc.mm, buf, st, t.cpu);
  }

  /** dup, dup2, dup3 and fcntl F_DUPFD(_CLOEXEC). */
  private sysDup(t: Thread, oldfd: number, newfd: number | null, flags: number, min = 0): number {
    const fds = t.proc.fds;
    const f = fds.get(oldfd);
    if (f === null) return -U.EBADF;
    const limit = t.proc.mm.rlimits[U.RLIMIT_NOFILE][0];
    const cloexec = (flags & U.O_CLOEXEC) !== 0;
    if (newfd === null) {
      const fd = fds.install(f, cloexec, limit, min);
      if (fd >= 0) f.refs++;
      return fd;
    }
    if (!Number.isInteger(newfd) || newfd < 0 || newfd >= limit) return -U.EBADF;
    f.refs++;
    fds.installAt(newfd, f, cloexec);
    return newfd;
  }

  private sysFcntl(t: Thread, fd: number, cmd: number, arg: number): number {
    const f = t.proc.fds.get(fd);
    if (f === null) return -U.EBADF;
    switch (cmd) {
      case U.F_DUPFD:
      case U.F_DUPFD_CLOEXEC:
        if (!Number.isInteger(arg) || arg < 0 || arg >= t.proc.mm.rlimits[U.RLIMIT_NOFILE][0]) return -U.EINVAL;
        return this.sysDup(t, fd, null, cmd === U.F_DUPFD_CLOEXEC ? U.O_CLOEXEC : 0, arg);
      case U.F_GETFD: return t.proc.fds.getCloexec(fd) ? U.FD_CLOEXEC : 0;
      case U.F_SETFD:
        t.proc.fds.setCloexec(fd, (arg & U.FD_CLOEXEC) !== 0);
        return 0;
      case U.F_GETFL: return f.flags;
      case U.F_SETFL: return 0; // O_APPEND, O_NONBLOCK and friends: nothing here depends on them yet
      default: return -U.EINVAL;
    }
  }

  /** prlimit64 (getrlimit and setrlimit are its special cases): struct rlimit is two u64. */
  private prlimit(t: Thread, pid: number, resource: number, newPtr: number, oldPtr: number): number {
    if (![pid, resource, newPtr, oldPtr].every(Number.isInteger)) return -U.EINVAL;
    if (resource < 0 || resource >= U.RLIM_NLIMITS) return -U.EINVAL;
    const target = pid === 0 ? t.proc : this.procs.get(pid);
    if (target === undefined || target.state !== 'live') return -U.ESRCH;
    const lim = target.mm.rlimits;
    let next: [number, number] | null = null;
    if (newPtr !== 0) {
      const bytes = copyFromUser(this.k, t.proc.mm, newPtr, 16, t.cpu);
      if (typeof bytes === 'number') return bytes;
      const dv = new DataView(bytes.buffer);
      const read = (at: number) => {
        const v = dv.getBigUint64(at, true);
        return v === 0xffff_ffff_ffff_ffffn ? Infinity : Number(v);
      };
      next = [read(0), read(8)];
      if (next[0] > next[1]) return -U.EINVAL;
      if (next[1] > lim[resource][1] && !t.proc.capable(U.CAP_SYS_RESOURCE)) return -U.EPERM;
    }
    if (oldPtr !== 0) {
      const out = new Uint8Array(16);
      const dv = new DataView(out.buffer);
      const write = (at: number, v: number) => dv.setBigUint64(at, v === Infinity ? 0xffff_ffff_ffff_ffffn : BigInt(v), true);
      write(0, lim[resource][0]);
      write(8, lim[resource][1]);
      const r = copyToUser(this.k, t.proc.mm, oldPtr, out, t.cpu);
      if (r < 0) return r;
    }
    if (next !== null) lim[resource] = next;
    return 0;
  }

  /** capget(2): the header's version is checked (and the preferred one written back if wrong). */
  private sysCapget(t: Thread, hdr: number, data: number): number {
    const v = this.capHeader(t, hdr);
    if (typeof v === 'number') return data === 0 && v === -U.EINVAL ? 0 : v;
    if (data === 0) return 0;
    if (v.pid < 0) return -U.EINVAL;
    const target = v.pid === 0 ? t.proc : this.procs.get(v.pid);
    if (target === undefined || target.state === 'zombie') return -U.ESRCH;
    const words = v.version === U._LINUX_CAPABILITY_VERSION_1 ? 1 : 2;
    const out = new Uint8Array(12 * words);
    const dv = new DataView(out.buffer);
    const { effective, permitted, inheritable } = target.caps;
    for (let i = 0; i < words; i++) {
      const word = (x: bigint) => Number((x >> BigInt(32 * i)) & 0xffff_ffffn);
      dv.setUint32(12 * i, word(effective), true);
      dv.setUint32(12 * i + 4, word(permitted), true);
      dv.setUint32(12 * i + 8, word(inheritable), true);
    }
    return copyToUser(this.k, t.proc.mm, data, out, t.cpu);
  }

  /** capset(2): only on itself, and no set may grow beyond what it had (cap_capset). */
  private sysCapset(t: Thread, hdr: number, data: number): number {
    const v = this.capHeader(t, hdr);
    if (typeof v === 'number') return v;
    if (v.pid !== 0 && v.pid !== t.proc.pid) return -U.EPERM;
    const words = v.version === U._LINUX_CAPABILITY_VERSION_1 ? 1 : 2;
    const bytes = copyFromUser(this.k, t.proc.mm, data, 12 * words, t.cpu);
    if (typeof bytes === 'number') return bytes;
    const dv = new DataView(bytes.buffer);
    const set = (field: number) => {
      let x = 0n;
      for (let i = 0; i < words; i++) x |= BigInt(dv.getUint32(12 * i + field, true)) << BigInt(32 * i);
      return x & ALL_CAPS;
    };
    const [effective, permitted, inheritable] = [set(0), set(4), set(8)];
    const old = t.proc.caps;
    if ((permitted & ~old.permitted) !== 0n || (effective & ~permitted) !== 0n) return -U.EPERM;
    if ((inheritable & ~(old.inheritable | old.permitted)) !== 0n) return -U.EPERM;
    Object.assign(t.proc.caps, { effective, permitted, inheritable });
    t.proc.mm.capIpcLock = t.proc.capable(U.CAP_IPC_LOCK);
    return 0;
  }

  /** The capability header: {version, pid}, or -errno (EINVAL writes the preferred version). */
  private capHeader(t: Thread, hdr: number): { version: number; pid: number } | number {
    const bytes = copyFromUser(this.k, t.proc.mm, hdr, 8, t.cpu);
    if (typeof bytes === 'number') return bytes;
    const dv = new DataView(bytes.buffer);
    const version = dv.getUint32(0, true);
    if (version !== U._LINUX_CAPABILITY_VERSION_1 && version !== U._LINUX_CAPABILITY_VERSION_2 && version !== U._LINUX_CAPABILITY_VERSION_3) {
      const fix = new Uint8Array(4);
      new DataView(fix.buffer).setUint32(0, U._LINUX_CAPABILITY_VERSION_3, true);
      const r = copyToUser(this.k, t.proc.mm, hdr, fix, t.cpu);
      return r < 0 ? r : -U.EINVAL;
    }
    return { version, pid: dv.getInt32(4, true) };
  }

  private sysSigaction(p: Process, sig: number, disp: number): number {
    if (!Number.isInteger(sig) || sig < 1 || sig > U.NSIG) return -U.EINVAL;
    if (!Number.isInteger(disp) || disp < -1 || disp > SIG_HANDLER) return -U.EINVAL;
    if ((sig === U.SIGKILL || sig === U.SIGSTOP) && disp !== -1) return -U.EINVAL;
    // Handlers run synchronously on the faulting thread; asynchronous signals can only be
    // defaulted or ignored for now.
    if (disp === SIG_HANDLER && sig !== U.SIGSEGV && sig !== U.SIGBUS) return -U.EINVAL;
    const old = p.signals.get(sig) ?? U.SIG_DFL;
    if (disp !== -1) p.signals.set(sig, disp as Disposition);
    return old;
  }

  private sysExit(t: Thread, code: number): undefined {
    const p = t.proc;
    const live = [...p.threads.values()].filter((x) => !x.dying);
    if (live.length <= 1) {
      this.exitGroup(p, U.wExitStatus(toInt(code)));
      return undefined;
    }
    t.exitValue = toInt(code);
    this.endThread(t);
    return undefined;
  }

  private sysKill(t: Thread, pid: number, sig: number): number | undefined {
    if (!Number.isInteger(pid) || !Number.isInteger(sig)) return -U.EINVAL;
    if (sig < 0 || sig > U.NSIG) return -U.EINVAL;
    // pid 0 and -1 (process group, everyone) are refused rather than killing the machine.
    if (pid <= 0) return -U.EPERM;
    const target = this.procs.get(pid);
    if (target === undefined || target.state !== 'live') return -U.ESRCH;
    if (sig === 0) return 0;
    const self = target === t.proc;
    this.signal(target, sig);
    return self && target.state !== 'live' ? undefined : 0;
  }

  private sysTkill(t: Thread, tid: number, sig: number): number | undefined {
    if (!Number.isInteger(tid) || !Number.isInteger(sig) || sig < 0 || sig > U.NSIG) return -U.EINVAL;
    for (const p of this.procs.values()) {
      const th = p.threads.get(tid);
      if (th === undefined || th.dying) continue;
      if (sig === 0) return 0;
      this.signal(p, sig);
      return p === t.proc && p.state !== 'live' ? undefined : 0;
    }
    return -U.ESRCH;
  }

  /** Deliver an asynchronous signal to a process (default actions only; see sigaction). */
  private signal(p: Process, sig: number): void {
    const disp = p.signals.get(sig) ?? U.SIG_DFL;
    if (sig !== U.SIGKILL && disp === U.SIG_IGN) return;
    if (sig === U.SIGCHLD || sig === U.SIGCONT || sig === 28 /* SIGWINCH */ || sig === 23 /* SIGURG */) return; // default: ignore
    if (sig === U.SIGSTOP || sig === 20 || sig === 21 || sig === 22) return; // job control: no stopped state yet
    this.kill(p, sig, U.SIGNAL_DESCRIPTIONS[sig] ?? `Killed by signal ${sig}`);
  }

  private sysWait4(t: Thread, pid: number, statusPtr: number, options: number, rusage: number): number | undefined {
    if (![pid, statusPtr, options, rusage].every(Number.isInteger)) return -U.EINVAL;
    if ((options & ~U.WNOHANG) !== 0) return -U.EINVAL;
    const p = t.proc;
    const candidates = [...p.children].filter((c) => pid === -1 || c === pid);
    if (candidates.length === 0 || (pid < -1 || pid === 0)) return -U.ECHILD;
    for (const c of candidates) {
      const child = this.procs.get(c);
      if (child !== undefined && child.state === 'zombie') return this.reap(t, child, statusPtr);
    }
    if ((options & U.WNOHANG) !== 0) return 0;
    t.blocked = { kind: 'wait', pid, statusPtr, options };
    return undefined;
  }

  /** Collect a zombie for waiter t: write the status, free the pid. */
  private reap(t: Thread, child: Process, statusPtr: number): number {
    if (statusPtr !== 0) {
      const st = new Uint8Array(4);
      new DataView(st.buffer).setInt32(0, child.status, true);
      const r = copyToUser(this.k, t.proc.mm, statusPtr, st, t.cpu);
      if (r < 0) return r;
    }
    t.proc.children.delete(child.pid);
    this.procs.delete(child.pid);
    return child.pid;
  }

  private sysClone(t: Thread, flags: number, descPtr: number, descLen: number): number {
    if (!Number.isInteger(flags)) return -U.EINVAL;
    if ((flags & U.CLONE_THREAD_FLAGS) !== U.CLONE_THREAD_FLAGS) return -U.EINVAL; // fork comes later
    const desc = jsonFromUser(this.k, t.proc.mm, descPtr, descLen, t.cpu);
    if (typeof desc === 'number') return desc;
    if (typeof desc.path !== 'string' || typeof desc.exportName !== 'string') return -U.EINVAL;
    const p = t.proc;
    const cpu = this.freeCpus.pop();
    if (cpu === undefined) return -U.EAGAIN;
    const tid = this.nextPid++;
    const th = new Thread(tid, p, cpu);
    this.attach(p, th);
    this.send({ t: 'start', cpu, pid: p.pid, tid, cr3: p.mm.pml4, path: desc.path, exportName: desc.exportName, argv: [], arg: desc.arg ?? null });
    return tid;
  }

  private sysSpawn(t: Thread, descPtr: number, descLen: number): number {
    const desc = jsonFromUser(this.k, t.proc.mm, descPtr, descLen, t.cpu);
    if (typeof desc === 'number') return desc;
    if (typeof desc.path !== 'string' || !Array.isArray(desc.argv) || !desc.argv.every((x) => typeof x === 'string')) return -U.EINVAL;
    return this.spawn(t.proc.pid, desc.path, desc.argv as string[]);
  }

  private sysJoin(t: Thread, tid: number): number | undefined {
    if (!Number.isInteger(tid)) return -U.EINVAL;
    const p = t.proc;
    if (tid === t.tid) return -U.EDEADLK;
    const dead = p.deadThreads.get(tid);
    if (dead !== undefined) {
      p.deadThreads.delete(tid);
      return dead;
    }
    const target = p.threads.get(tid);
    if (target === undefined) return -U.ESRCH;
    if (target.joiners.length > 0) return -U.EINVAL;
    target.joiners.push(t);
    t.blocked = { kind: 'join', tid };
    return undefined;
  }

  // --- processes ----------------------------------------------------------------------------

  /** Create a process running `path` with `argv`; returns its pid or -errno. */
  spawn(ppid: number, path: string, argv: string[]): number {
    let live = 0;
    for (const p of this.procs.values()) if (p.state !== 'zombie' || p.ppid !== 0) live++;
    if (live >= this.maxProcs) return -U.EAGAIN;
    const cpu = this.freeCpus.pop();
    if (cpu === undefined) return -U.EAGAIN;
    const mm = mmAlloc(this.k);
    if (typeof mm === 'number') {
      this.freeCpus.push(cpu);
      return mm;
    }
    const pid = this.nextPid++;
    const p = new Process(pid, ppid, path, mm);
    // A child keeps its parent's capabilities (as if dropped from the bounding set too).
    const parent = this.procs.get(ppid);
    // Resource limits are inherited, as across fork and exec.
    if (parent !== undefined) {
      Object.assign(p.caps, parent.caps);
      mm.capIpcLock = p.capable(U.CAP_IPC_LOCK);
      parent.mm.rlimits.forEach((r, i) => { mm.rlimits[i] = [r[0], r[1]]; });
    }
    this.procs.set(pid, p);
    this.procs.get(ppid)?.children.add(pid);
    // Standard streams are the child's own console (its output is labelled with its pid);
    // other descriptors without close-on-exec are inherited, as across fork and exec.
    for (const fd of [0, 1, 2]) p.fds.install(this.console(pid, fd), false, Infinity);
    if (parent !== undefined) p.fds.inherit(parent.fds, 3);
    const th = new Thread(pid, p, cpu);
    this.attach(p, th);
    this.send({ t: 'start', cpu, pid, tid: pid, cr3: mm.pml4, path, exportName: 'default', argv, arg: null });
    return pid;
  }

  /** The process's standard input (always at end of file), output or error stream. */
  private console(pid: number, fd: number): File {
    const ops: FileOps = {
      seekable: false,
      read: () => new Uint8Array(0),
      write: (_f, data) => {
        for (let at = 0; at < data.length; at += 1 << 16) {
          this.send({ t: 'out', pid, fd, data: data.subarray(at, Math.min(data.length, at + (1 << 16))) });
        }
        return data.length;
      },
    };
    return new File(ops, fd === 0 ? U.O_RDONLY : U.O_WRONLY);
  }

  private attach(p: Process, th: Thread): void {
    p.threads.set(th.tid, th);
    p.threadsEver++;
    p.mm.cpus.add(th.cpu);
    this.cpuThread[th.cpu] = th;
    this.active.push(th.cpu);
  }

  /** exit_group: the whole process ends with wait status `status`. */
  private exitGroup(p: Process, status: number): undefined {
    this.die(p, status, '');
    return undefined;
  }

  /**
   * The OOM killer's choice (OomHook): ptlab has no reclaim yet, so the victim is the
   * process whose fault found no frame.
   */
  outOfMemory(mm: Mm, cpu: number, va: number): void {
    const p = this.cpuThread[cpu]?.proc;
    if (p === undefined || p.mm !== mm) return;
    this.kill(p, U.SIGKILL, `Out of memory: killed process ${p.pid} at page fault 0x${va.toString(16)}`);
  }

  /** Kill p by signal sig (default action: terminate). */
  kill(p: Process, sig: number, report: string): void {
    this.die(p, U.wSignalStatus(sig), report);
  }

  private die(p: Process, status: number, report: string): void {
    if (p.state !== 'live') return;
    p.state = 'dying';
    p.status = status;
    p.report = report;
    for (const th of p.threads.values()) this.endThread(th);
  }

  /** Stop one thread: release anyone blocked on it, ask the host to stop its worker. */
  private endThread(th: Thread): void {
    if (th.dying) return;
    th.dying = true;
    th.blocked = null;
    if (cpuRequestPosted(this.i32, th.cpu)) this.replyExit(th.cpu);
    this.send({ t: 'terminate', cpu: th.cpu });
  }

  /** The host reports the worker on `cpu` gone. */
  private cpuExited(cpu: number, error: string | null): void {
    const th = this.cpuThread[cpu];
    if (th === null) return;
    const p = th.proc;
    if (!th.dying) {
      // The worker ended without the kernel asking: the guest crashed it.
      this.kill(p, U.SIGKILL, `Killed: its thread ${th.tid} ended unexpectedly${error ? `: ${error}` : ''}`);
    }
    const c = readCpuCounters(this.cb, cpu);
    for (const [name, v] of Object.entries(c)) p.counters[name] = (p.counters[name] ?? 0) + v;
    this.cpuThread[cpu] = null;
    this.active.splice(this.active.indexOf(cpu), 1);
    Atomics.store(this.i32, cpuI32Base(cpu) + CPU_STATE, CPU_OFFLINE);
    releaseDeferred(this.k); // what waited for this CPU's acknowledgement can go
    this.freeCpus.push(cpu);
    p.threads.delete(th.tid);
    p.mm.cpus.delete(cpu);
    if (p.state === 'live') {
      p.deadThreads.set(th.tid, th.exitValue);
      for (const j of th.joiners) {
        if (j.dying) continue;
        j.blocked = null;
        p.deadThreads.delete(th.tid);
        this.reply(j.cpu, th.exitValue);
      }
      return;
    }
    if (p.threads.size === 0) this.becomeZombie(p);
  }

  private becomeZombie(p: Process): void {
    p.hiwaterRss = p.mm.hiwaterRss;
    const proc: Record<string, string> = {};
    for (const name of this.procAtExit) proc[name] = procRead(this, p, name);
    p.fds.closeAll();
    // exit_mshare: the regions this process owns are unmapped whole.
    for (const r of this.vfs.regions) if (r.ownerPid === p.pid) r.ownerExit(-1);
    exitMmap(this.k, p.mm);
    p.state = 'zombie';
    this.send({
      t: 'procexit', pid: p.pid, ppid: p.ppid, path: p.path, status: p.status, report: p.report,
      counters: p.counters, threads: p.threadsEver, hiwaterRss: p.hiwaterRss, proc,
    });
    // Orphans: reaped as soon as they exit (no init to adopt them).
    for (const c of p.children) {
      const child = this.procs.get(c);
      if (child === undefined) continue;
      child.ppid = 0;
      if (child.state === 'zombie') this.procs.delete(c);
    }
    p.children.clear();
    const parent = this.procs.get(p.ppid);
    if (parent === undefined || parent.state !== 'live') {
      this.procs.delete(p.pid);
      return;
    }
    for (const th of parent.threads.values()) {
      const b = th.blocked;
      if (b === null || b.kind !== 'wait' || (b.pid !== -1 && b.pid !== p.pid)) continue;
      th.blocked = null;
      this.reply(th.cpu, this.reap(th, p, b.statusPtr));
      return;
    }
  }

}

/** Most bytes one read or write moves (MAX_RW_COUNT is INT_MAX rounded down to a page). */
const MAX_RW_COUNT = 0x7fff_f000;

function toInt(x: number): number {
  return Number.isFinite(x) ? Math.trunc(x) | 0 : 0;
}
