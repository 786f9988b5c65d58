// Processes and threads (include/linux/sched.h's task_struct, split into the process and
// its threads as ptlab needs them). A process owns an mm, a descriptor table, credentials,
// signal dispositions and its children; each thread runs on one CPU (one worker) for its
// whole life.
//
// Lifetime: 'live' until it exits or is killed; 'dying' while the host stops its workers and
// then while its address space is torn down (in slices: teardown); 'zombie' once its
// memory is freed, until its parent reaps it.

import { FdTable, type ProcTask, taskComm } from '../fs/index.ts';
import type { Mm, Sliced } from '../mm/index.ts';
import * as U from '../uapi.ts';

/** A signal's disposition: default, ignore, or a handler (SIG_HANDLER). */
export type Disposition = typeof U.SIG_DFL | typeof U.SIG_IGN | 2;
/** rt_sigaction (ptlab ABI): arg1 = new disposition (0 default, 1 ignore, 2 handler, -1 query). */
export const SIG_HANDLER = 2;

/** Every capability (CAP_LAST_CAP and below). */
export const ALL_CAPS = (1n << BigInt(U.CAP_LAST_CAP + 1)) - 1n;

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
  /** Wait status once it is dying, and the report line of a signal death. */
  status = 0;
  report = '';
  /** Signal dispositions (shared with the processes a clone with CLONE_SIGHAND made). */
  signals = new Map<number, Disposition>();
  /** The thread a CLONE_VFORK clone holds until this process exits (vfork_done). */
  vforkDone: Thread | null = null;
  /** The signal its parent gets when it exits (clone's low byte; SIGCHLD for fork). */
  exitSignal = U.SIGCHLD;
  /** CPU counters summed over its threads as they end. */
  readonly counters: Record<string, number> = {};
  /** The modeled clock when it started and when its last thread ended, cycles (machine/timing.ts). */
  clockStart = 0;
  clockEnd = 0;
  /**
   * System calls it made (strace -c), by the call's row in the kernel's table: calls at
   * 2 * row, errors at 2 * row + 1; grown to the highest row called (Kernel.countSyscall).
   */
  syscallCounts = new Float64Array(0);
  /** The rows of syscallCounts in the order of their first call (the report's order). */
  readonly syscallOrder: number[] = [];
  threadsEver = 0;
  hiwaterRss = 0;
  /** Named results it reported (ptlab_report), the last value of each name, in first-report order. */
  readonly reported = new Map<string, number>();
  /** Descriptors (shared with the processes a clone with CLONE_FILES made: fds.users). */
  fds = new FdTable();
  /** Credentials' capability sets: a process starts as root with all of them. */
  readonly caps = { effective: ALL_CAPS, permitted: ALL_CAPS, inheritable: 0n };
  /**
   * The OOM killer's adjustment (signal->oom_score_adj, /proc/PID/oom_score_adj), and the
   * lowest value it may be set to without CAP_SYS_RESOURCE (oom_score_adj_min). Children
   * inherit both (copy_signal), across exec too.
   */
  oomScoreAdj = 0;
  oomScoreAdjMin = 0;
  /** Killed (or, exiting anyway, reaped) by the OOM killer (tsk_is_oom_victim). */
  oomVictim = false;
  /** Its address space being torn down after its last thread ended (exit.ts), or null. */
  teardown: Teardown | null = null;

  /**
   * Its name (the group leader's comm): its module's file name (taskComm) until the leader
   * sets another with prctl(PR_SET_NAME); /proc/PID/status and the OOM killer show it.
   */
  comm: string;

  constructor(pid: number, ppid: number, path: string, mm: Mm) {
    this.pid = pid;
    this.ppid = ppid;
    this.path = path;
    this.mm = mm;
    this.comm = taskComm(path);
  }

  capable(cap: number): boolean {
    return (this.caps.effective & (1n << BigInt(cap))) !== 0n;
  }
}

/**
 * Why a thread's request is held open: blocked in wait4, joining a thread, waiting for a
 * vfork child to exit (its clone answers with the child's pid then), or in a file's read
 * or write (a pipe's wait queue; `cancel` takes it off when the thread dies first;
 * `asleep` says what it waits on, and whether Linux would still sleep there: false is a
 * wake-up the kernel missed).
 */
export type Blocked = { kind: 'wait'; pid: number; statusPtr: number; options: number } | { kind: 'join'; tid: number }
  | { kind: 'vfork'; pid: number } | { kind: 'io'; cancel: () => void; asleep: () => [string, boolean] };

/** An exit's teardown in slices: the rest of exit_mmap, the /proc files captured before it, the slices run. */
export interface Teardown {
  readonly work: Sliced<void>;
  readonly proc: Record<string, string>;
  slices: number;
}

/** A system call running in slices (mm/slice.ts): the rest of its work, and its row in the counts. */
export interface SlicedCall {
  /** Its result: undefined if the call answers later itself (a vfork). */
  readonly work: Sliced<number | undefined>;
  readonly row: number;
  /** Slices run so far (SysRq 't' shows it: a watchdog tells a long call from a stuck one). */
  slices: number;
  /** It began beside another call's read hold of its mm: it holds the mm for read only, should the hold pass to it. */
  readonly reader: boolean;
}

export class Thread {
  readonly tid: number;
  readonly proc: Process;
  readonly cpu: number;
  /** The CPU's request is held open while this is set (see Blocked). */
  blocked: Blocked | null = null;
  /** Its system call, between slices (the CPU's request stays posted meanwhile); null if none. */
  sliced: SlicedCall | null = null;
  dying = false;
  /**
   * Killed by its own request (a fatal fault, a kernel bug met serving it), which was
   * answered REQ_DIE: its worker reports where the guest was as it ends (cpuExited).
   */
  culprit = false;
  /** The unhandled SIGSEGV it died of (address, #PF error code), for the kernel log's "segfault at" line. */
  segfault: { va: number; code: number } | null = null;
  exitValue = 0;
  readonly joiners: Thread[] = [];

  /** Its name (comm, at most TASK_COMM_LEN - 1 bytes): a new thread's is its creator's. */
  comm: string;

  constructor(tid: number, proc: Process, cpu: number, comm = proc.comm) {
    this.tid = tid;
    this.proc = proc;
    this.cpu = cpu;
    this.comm = comm;
  }
}
