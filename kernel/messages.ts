// Messages of the control ring between the host thread and the kernel thread (msgpackr),
// and what the host hands the kernel thread at boot.

import type { KernelOptions } from './kernel.ts';

/** Host -> kernel. */
export type ToKernel =
  /** Start a program as a new process with no parent (the CLI's first process). */
  | { t: 'spawn'; path: string; argv: string[]; tag: number }
  /**
   * A CPU worker ended (for any reason); `error` is the uncaught error's text, if any. A
   * worker answered REQ_DIE reports where its guest was: `frames`, its stack innermost
   * first (V8's "fn (file:line:col)" each, ptlab's runtime left out), and `at`, the first
   * frame's place outside ptlab's userland library (the guest's own line).
   */
  | { t: 'exited'; cpu: number; error?: string; frames?: string[]; at?: string }
  /** The host could not start a CPU worker (the guest module failed to load). */
  | { t: 'start-failed'; cpu: number; error: string }
  /** Report free frames and live processes (answered by 'meminfo'). */
  | { t: 'meminfo'; tag: number }
  /** The kernel thread's own V8 heap, after a full GC of it if `gc` (answered by 'heap'): the soak's leak check. */
  | { t: 'heap'; tag: number; gc: boolean }
  /** Crash the kernel on purpose, like echo c > /proc/sysrq-trigger (tests of failure handling). */
  | { t: 'sysrq-crash' }
  /** SysRq 't': log every thread's state (answered by 'state' with the same lines). */
  | { t: 'sysrq-show-state'; tag: number }
  /** Stop serving and exit the kernel thread. */
  | { t: 'halt' };

/** Kernel -> host. */
export type ToHost =
  /**
   * Start a worker on `cpu` running `exportName` of the module at `path`; `sp` is its stack
   * pointer in guest memory (a main thread's, in its [stack] VMA), 0 for none, and
   * `stackRoom` the bytes of that VMA below sp's page.
   */
  | { t: 'start'; cpu: number; pid: number; tid: number; cr3: number; path: string; exportName: string; argv: string[]; arg: unknown; sp: number; stackRoom: number }
  /**
   * Terminate the worker on `cpu` (its process is exiting or was killed). `dying`: it was
   * answered REQ_DIE and ends by itself once it has reported its stack (do not cut it short).
   */
  | { t: 'terminate'; cpu: number; dying?: boolean }
  /** Bytes a process wrote to fd 1 or 2. */
  | { t: 'out'; pid: number; fd: number; data: Uint8Array }
  /** A line of the kernel log (printk): the OOM killer's reports, say. Without a newline. */
  | { t: 'klog'; text: string }
  /** Result of a host 'spawn': the pid, or a negative errno. */
  | { t: 'spawned'; tag: number; pid: number }
  /**
   * A process ended: wait status, a report line for signal deaths, summed CPU counters, its
   * system calls by name as [calls, errors], and the /proc files the host asked for
   * (KernelOptions.procAtExit) as they read at the end, and the values it reported (ptlab_report).
   */
  | { t: 'procexit'; pid: number; ppid: number; path: string; status: number; report: string; counters: Record<string, number>; syscalls: Record<string, [number, number]>; threads: number; hiwaterRss: number; proc: Record<string, string>; values: Record<string, number>; clockStart: number; clockEnd: number }
  | { t: 'state'; tag: number; lines: string[]; sliced: { pid: number; tid: number; slices: number }[] }
  | { t: 'meminfo'; tag: number; nrFree: number; bootFree: number; nrFrames: number; procs: number; metadataBytesPerFrame: number; swapUsed: number }
  /** The kernel isolate's V8 heap in bytes: in use, and reserved. */
  | { t: 'heap'; tag: number; used: number; total: number }
  | { t: 'halted' };

/** What the host gives the kernel thread at boot (its workerData). */
export interface KernelBoot {
  mem: SharedArrayBuffer;
  control: SharedArrayBuffer;
  toKernel: SharedArrayBuffer;
  toHost: SharedArrayBuffer;
  options: KernelOptions;
  /** Doorbell checks before sleeping. */
  spin: number;
}
