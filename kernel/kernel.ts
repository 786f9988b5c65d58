// The kernel's face to the machine: the subsystems it is made of, the entry from a CPU
// (a system call through the table, or a page fault), the replies, and the host's
// messages. It runs on the kernel thread (main.ts) but is plain code over physical memory
// and the control block, so tests can drive it without threads.
//
//   k       memory: frames, page tables, shootdowns, the mm subsystems (mm/kmm.ts)
//   vfs     files (fs/)
//   tasks   processes, threads and CPUs (task/)
//
// One request at a time (a big kernel lock): a CPU posts a syscall or a trap in its slot of
// the control block and rings the doorbell; serveCpu answers it, or defers the answer for a
// blocking call (wait4, thread join) by leaving the slot posted until reply(). A long call
// (populate, mlock) returns its work as slices (mm/slice.ts): serveCpu runs one slice per
// turn, so other CPUs' requests are served in between, and the call's mm is held meanwhile
// (its other threads' requests wait, as for mmap_lock).
//
// A kernel bug (a KernelBug, or any other exception) met while serving a CPU is an oops:
// the calling process is killed with a report that names the bug, and the machine goes on
// if every address space still validates and no frame is lost; otherwise the state may be
// corrupt and the kernel thread stops (main.ts lets the exception through).

import {
  type ControlBlock, CPU_ARGS, CPU_REQ, CPU_RET, CPU_SYSNO, cpuF64Base, cpuI32Base,
  cpuRequestPosted, K_PGFAULT, K_SYSCALLS, type MessageRing, type PhysMem, REQ_DIE, REQ_DONE, REQ_EXIT,
  REQ_SIGNAL, REQ_SYSCALL, REQ_TRAP,
} from '../machine/index.ts';
import { KernelBug } from './bug.ts';
import { Answers, badRequestCode, badSyscallNr, badTrap, forgedRequest } from './entry.ts';
import { type ProcRoot, Vfs } from './fs/index.ts';
import type { ToHost, ToKernel } from './messages.ts';
import {
  FAULT_DONE, FAULT_OOM, handleMmFault, joinMm, type KernelCosts, Kmm, kswapdStep, leaveMm, type Mm, type OomHook, OomState, oomTotalPages, PAGEFAULT_GFP,
  pagefaultOutOfMemory, reclaimBeforeCall, reclaimForAllocation, releaseDeferred, setMmHold, SwapInfo, validateMm,
} from './mm/index.ts';
import { Ratelimit } from './ratelimit.ts';
import { type Syscall, syscallsByNumber } from './syscalls/index.ts';
import {
  cpuExited, die, exitStep, faultSignal, killProcess, outOfMemory, type Process, showState, signalProcess, slicedCalls, spawn, Tasks, type Thread,
} from './task/index.ts';
import * as U from './uapi.ts';

export interface KernelOptions {
  /** Most processes alive (zombies included) at once. */
  maxProcs?: number;
  /**
   * Run validateMm on the caller's mm after every syscall and fault (true), or after every
   * Nth of them (a number N: sampling, as the fuzzer's --validate N), for tests and debugging.
   */
  validate?: boolean | number;
  /** Map the zero page on anonymous read faults (default true; see VmSettings.zeroPage). */
  zeroPage?: boolean;
  /** Soft-dirty tracking (default true; see VmSettings.softDirty). */
  softDirty?: boolean;
  /** Names of anonymous memory, prctl(PR_SET_VMA) (default true; see VmSettings.anonVmaName). */
  anonVmaName?: boolean;
  /** mshare host-mm flushes: every CPU (default, as the series) or attached processes' only. */
  mshareFlush?: 'all' | 'attached';
  /**
   * /proc/PID files (maps, smaps, smaps_rollup, status) to read as each process ends, after
   * its last thread stopped and before its memory is freed; sent with its exit.
   */
  procAtExit?: string[];
  /** A swap area of this many bytes (default none, as on a machine without swap). */
  swapBytes?: number;
  /**
   * Whether ptlab_spawn and clone look for the module they name on the host first (ENOENT
   * if missing). Default true; the worker-less KernelHarness, whose processes load no
   * module, turns it off.
   */
  moduleCheck?: boolean;
  /**
   * /sys/kernel/debug/provoke-crash/DIRECT, as a kernel built with CONFIG_LKDTM has: writing
   * "BUG" to it is a kernel bug in the writer's system call (an oops), to test what a bug
   * does. Default false.
   */
  lkdtm?: boolean;
  /** The cost table of modeled time (default DEFAULT_COSTS, mm/costs.ts). */
  costs?: KernelCosts;
  /** Pages a slice of a long call may fault in before other CPUs are served (mm/slice.ts; default 256). */
  slicePages?: number;
  /**
   * The standard streams (1, 2) that are a terminal on the host: on those the console
   * answers TCGETS, so a guest's isatty() says what the host's would (default none).
   */
  terminals?: number[];
}

export class Kernel implements ProcRoot, OomHook {
  readonly k: Kmm;
  readonly vfs: Vfs;
  readonly tasks: Tasks;
  readonly cb: ControlBlock;
  readonly toHost: MessageRing;
  /** KernelOptions.moduleCheck. */
  readonly moduleCheck: boolean;
  /** KernelOptions.terminals. */
  readonly terminals: ReadonlySet<number>;
  /** /proc files to capture as each process ends (KernelOptions.procAtExit). */
  readonly procAtExit: readonly string[];
  /** Free frames right after boot (for leak checks). */
  readonly bootFreeFrames: number;
  /** What the OOM killer keeps between calls (task/oom.ts, mm/oom_kill.ts). */
  readonly oomState = new OomState();
  /** printk_ratelimit_state: printk_ratelimit()'s limit (show_signal_msg's segfault lines). */
  readonly printkRs = new Ratelimit();
  /** Validate the caller's mm after every this many requests served (0: never). */
  private readonly validateEvery: number;
  /** Requests served, for validateEvery's sampling. */
  private served = 0;
  /** Answers to the CPUs, the one being served held until its cost is charged (entry.ts). */
  readonly answers: Answers;
  private readonly syscalls = syscallsByNumber();
  /** Each syscall number's row in the per-process counts (Process.syscallCounts), and back. */
  private readonly syscallRow: Int32Array;
  private readonly rowNr: number[] = [];
  /** The f64 index of the K_SYSCALLS counter. */
  private readonly syscallsCounter: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(mem: PhysMem, cb: ControlBlock, toHost: MessageRing, options: KernelOptions = {}) {
    this.k = new Kmm(mem, cb);
    this.cb = cb;
    this.toHost = toHost;
    this.i32 = cb.i32;
    this.answers = new Answers(cb.i32);
    this.f64 = cb.f64;
    this.tasks = new Tasks(cb, options.maxProcs ?? 1024);
    const v = options.validate ?? false;
    this.validateEvery = v === true ? 1 : v === false || !(v >= 1) ? 0 : Math.floor(v);
    this.syscallRow = new Int32Array(this.syscalls.length).fill(-1);
    this.syscalls.forEach((s, nr) => {
      if (s !== undefined) this.syscallRow[nr] = this.rowNr.push(nr) - 1;
    });
    this.syscallsCounter = cb.kernelCounterIndex(K_SYSCALLS);
    this.procAtExit = options.procAtExit ?? [];
    this.moduleCheck = options.moduleCheck ?? true;
    this.terminals = new Set(options.terminals ?? []);
    this.k.vm.zeroPage = options.zeroPage ?? true;
    this.k.vm.softDirty = options.softDirty ?? true;
    this.k.vm.anonVmaName = options.anonVmaName ?? true;
    this.k.mshare.flushPolicy = options.mshareFlush ?? 'all';
    const slicePages = options.slicePages ?? 256;
    this.k.slice.units = slicePages >= 1 ? Math.floor(slicePages) : 1;
    // swapon: one area, before anything could want it.
    if ((options.swapBytes ?? 0) > 0) this.k.swap = new SwapInfo(0, options.swapBytes!);
    if (options.costs !== undefined) this.k.clock.setCosts(options.costs);
    this.bootFreeFrames = this.k.pages.nrFree;
    this.k.oom = this;
    this.vfs = new Vfs(this.k, options.lkdtm ?? false);
  }

  /** A message to the host. */
  send(m: ToHost): void {
    this.toHost.send(m);
  }

  /**
   * printk: a line of the kernel log (no newline), to the host, which keeps the lines and
   * prints them on stderr as "[kernel] ..." unless told otherwise (host/machine.ts).
   */
  printk(line: string): void {
    this.send({ t: 'klog', text: line });
  }

  private kcount(slot: number): void {
    this.f64[this.cb.kernelCounterIndex(slot)] += 1;
  }

  // ProcRoot: the live processes, for /proc.
  taskByPid(pid: number): Process | undefined {
    return this.tasks.procs.get(pid);
  }

  *liveTasks(): Iterable<Process> {
    for (const p of this.tasks.procs.values()) if (p.state !== 'zombie') yield p;
  }

  // --- host messages ----------------------------------------------------------------------

  hostMessage(m: ToKernel): void {
    switch (m.t) {
      case 'spawn':
        this.send({ t: 'spawned', tag: m.tag, pid: spawn(this, 0, m.path, m.argv) });
        break;
      case 'exited':
        cpuExited(this, m.cpu, m.error ?? null, m.frames, m.at);
        break;
      case 'start-failed': {
        // The program could not be loaded: the process ends as a shell's "command not
        // found" does, with status 127.
        const th = this.tasks.cpuThread[m.cpu];
        if (th !== null) die(this, th.proc, U.wExitStatus(127), `cannot load ${th.proc.path}: ${m.error}`);
        cpuExited(this, m.cpu, m.error);
        break;
      }
      case 'meminfo':
        this.send({
          t: 'meminfo', tag: m.tag, nrFree: this.k.pages.nrFree, bootFree: this.bootFreeFrames,
          nrFrames: this.k.pages.nrFrames, procs: this.tasks.procs.size, metadataBytesPerFrame: this.k.pages.metadataBytesPerFrame,
          swapUsed: this.k.swap?.inuse ?? 0,
        });
        break;
      case 'sysrq-show-state': {
        const lines = showState(this.tasks.procs, this.cb, (t) => this.waitsForMm(t));
        for (const line of lines) this.printk(line);
        this.send({ t: 'state', tag: m.tag, lines, sliced: slicedCalls(this.tasks.procs.values()) });
        break;
      }
      case 'sysrq-crash':
        throw new Error('sysrq: trigger a crash');
      case 'halt':
        break;
    }
  }

  // --- CPU requests -------------------------------------------------------------------------

  /** Serve the request posted on `cpu`, if any and not already held. Returns true if served. */
  serveCpu(cpu: number): boolean {
    const req = Atomics.load(this.i32, cpuI32Base(cpu) + CPU_REQ);
    if (req !== REQ_SYSCALL && req !== REQ_TRAP) return badRequestCode(req) && forgedRequest(this, cpu, `CPU_REQ = ${req} (no request code)`);
    const t = this.tasks.cpuThread[cpu];
    if (t === null || t.blocked !== null) return false;
    if (t.dying) {
      this.replyExit(cpu);
      return true;
    }
    const mm = t.proc.mm;
    if (this.waitsForMm(t)) {
      if (mm.writerWaiting === -1 && req === REQ_SYSCALL && t.sliced === null && this.postedCall(cpu)?.mmWrite === true) mm.writerWaiting = cpu;
      return false;
    }
    if (mm.writerWaiting === cpu) mm.writerWaiting = -1;
    try {
      // A call in slices pays its entry once, with its first slice; each slice its own work.
      const continued = t.sliced !== null;
      const trap = req === REQ_TRAP && !continued;
      this.answers.serve(cpu);
      this.k.clock.begin(t.proc.mm.vmas);
      if (continued) this.nextSlice(t);
      else if (trap) this.trap(t);
      else this.syscall(t);
      this.k.clock.end(cpu, trap, continued);
      if (this.validateEvery !== 0 && ++this.served % this.validateEvery === 0 && t.proc.state !== 'zombie') validateMm(this.k, t.proc.mm);
    } catch (e) {
      this.oops(t, e);
    } finally {
      this.answers.release();
    }
    return true;
  }

  /** True if some CPU has a request posted that serveCpu would take. */
  hasWork(): boolean {
    for (const cpu of this.tasks.activeCpus()) {
      if (cpuRequestPosted(this.i32, cpu) && this.tasks.cpuThread[cpu]?.blocked === null) return true;
    }
    return false;
  }

  /**
   * Housekeeping between requests: release frames whose shootdowns completed late, a slice
   * of an ended process's teardown, and a step of kswapd. True while either has more to do
   * (the loop should not sleep).
   */
  tick(): boolean {
    releaseDeferred(this.k);
    this.k.slice.runDue();
    const exiting = exitStep(this);
    const background = this.k.slice.backgroundStep();
    // kswapd: a step of reclaim while free memory is below high (woken below low).
    kswapdStep(this.k);
    return this.k.reclaim.kswapdWoken || exiting || background;
  }

  /**
   * Idle work, when nothing is posted: zero one free frame ahead of the allocations that
   * will want it zeroed (PageAllocator.prezeroOne). False if there was nothing to do.
   */
  idle(): boolean {
    return this.k.pages.prezeroOne();
  }

  /** CPUs with a thread (the ones to scan for requests); do not modify. */
  activeCpus(): readonly number[] {
    return this.tasks.activeCpus();
  }

  /**
   * send_sig: an asynchronous signal to process p, its default action unless ignored (for
   * fs/, which cannot import task/: a pipe's SIGPIPE).
   */
  signal(p: Process, sig: number): void {
    signalProcess(this, p, sig);
  }

  /** Answer `cpu`'s request with return value `ret`. */
  reply(cpu: number, ret: number): void {
    this.f64[cpuF64Base(cpu) + CPU_RET] = ret;
    this.answers.answer(cpu, REQ_DONE);
  }

  /** Answer `cpu`'s request by ending its thread. */
  replyExit(cpu: number): void {
    this.answers.answer(cpu, REQ_EXIT);
  }

  /** Answer `cpu`'s request by ending its thread, which the request killed: it says where it was first. */
  replyDie(cpu: number): void {
    this.answers.answer(cpu, REQ_DIE);
  }

  /** Answer `cpu`'s fault with a signal for its handler: signo, si_code, si_addr. */
  replySignal(cpu: number, signo: number, code: number, addr: number): void {
    const base = cpuI32Base(cpu);
    const fb = cpuF64Base(cpu);
    this.i32[base + CPU_SYSNO] = signo;
    this.f64[fb + CPU_ARGS] = code;
    this.f64[fb + CPU_RET] = addr;
    this.answers.answer(cpu, REQ_SIGNAL);
  }

  /** A page fault of t (handle_mm_fault, then the signal or the OOM killer if it failed). */
  private trap(t: Thread): void {
    const cpu = t.cpu;
    const va = this.f64[cpuF64Base(cpu) + CPU_ARGS];
    const code = this.i32[cpuI32Base(cpu) + CPU_SYSNO];
    const bad = badTrap(va, code);
    if (bad !== null) {
      forgedRequest(this, cpu, bad);
      return;
    }
    this.kcount(K_PGFAULT);
    // An allocation that would go below the min watermark fails the fault; here, where
    // nothing is half done, the fault reclaims (direct reclaim) and is retried.
    const r = handleMmFault(this.k, t.proc.mm, va, code, cpu);
    if (r === FAULT_DONE) {
      this.reply(cpu, 0);
    } else if (r === FAULT_OOM) {
      if (!reclaimForAllocation(this.k)) pagefaultOutOfMemory(this.k, t.proc.mm, cpu, va);
      if (t.proc.state === 'live') this.reply(cpu, 0); // reclaimed, or another process was chosen: retry
    } else {
      faultSignal(this, t, r, va, code);
    }
  }

  /** A system call of t, through the table. */
  private syscall(t: Thread): void {
    const cpu = t.cpu;
    const fb = cpuF64Base(cpu) + CPU_ARGS;
    const a = this.f64;
    const nr = this.i32[cpuI32Base(cpu) + CPU_SYSNO];
    if (nr < 0) {
      forgedRequest(this, cpu, badSyscallNr(nr)!);
      return;
    }
    a[this.syscallsCounter] += 1;
    // A call that may allocate starts above low: ptlab reclaims before a call rather than
    // inside one (its allocations fail below min instead; see page_alloc.ts).
    const pages = this.k.pages;
    if (pages.nrFree < pages.wmark.low) reclaimBeforeCall(this.k);
    const entry = this.syscalls[nr];
    if (entry === undefined) {
      this.reply(cpu, -U.ENOSYS);
      return;
    }
    const r = entry.handler(this, t, a[fb], a[fb + 1], a[fb + 2], a[fb + 3], a[fb + 4], a[fb + 5]);
    if (typeof r === 'object') {
      // The mm's holder; a call that began while another holds it for read (an ftruncate, a
      // /proc read beside a populate) runs beside it, a reader too, and stays one.
      t.sliced = { work: r, row: this.syscallRow[nr]!, slices: 0, reader: !joinMm(t.proc.mm, cpu) };
      this.nextSlice(t);
      return;
    }
    countSyscall(t.proc, this.syscallRow[nr]!, r);
    // undefined: the call blocked, exited or killed the caller, and answered (or will) itself.
    if (r !== undefined) this.reply(cpu, r);
  }

  /**
   * mmap_lock: t's mm is held by another thread's call in slices, and t's request waits
   * for it unless it is a system call that takes no mm (getpid, kill, exit_group: noMm), or
   * the call holds the lock for read (a populate) and the request is a page fault or a
   * system call that does not take it for write (mmWrite).
   */
  waitsForMm(t: Thread): boolean {
    const mm = t.proc.mm;
    const holder = mm.slicedCpu;
    const free = holder === -1 || holder === t.cpu;
    if (free && (mm.writerWaiting === -1 || mm.writerWaiting === t.cpu)) return false; // every request but a few
    const trap = Atomics.load(this.i32, cpuI32Base(t.cpu) + CPU_REQ) === REQ_TRAP;
    const call = this.postedCall(t.cpu);
    // A new call queues behind a writer that waits (a fault does not: per-VMA locks).
    if (mm.writerWaiting !== -1 && mm.writerWaiting !== t.cpu && t.sliced === null && !trap && call?.noMm !== true) return true;
    if (free) return false;
    if (trap) return !mm.slicedShared;
    return mm.slicedShared ? call?.mmWrite === true : call?.noMm !== true;
  }

  /** The table entry of the system call `cpu` has posted (undefined for a number with none). */
  private postedCall(cpu: number): Syscall | undefined {
    return this.syscalls[this.i32[cpuI32Base(cpu) + CPU_SYSNO]];
  }

  /**
   * One slice of t's call in slices; when the work is done, the call is counted and
   * answered and the mm let go. A call whose thread was killed meanwhile was dropped
   * (exit.ts's endThread) and has been answered with its end.
   */
  private nextSlice(t: Thread): void {
    const s = t.sliced!;
    this.k.slice.refill();
    s.slices++;
    const n = s.work.next();
    if (t.sliced !== s) {
      if (n.done !== true) s.work.return(0); // dropped while it ran (exit.ts): its finally blocks run now
      return;
    }
    const mm = t.proc.mm;
    if (n.done !== true) {
      this.k.slice.yields++;
      if (mm.slicedCpu === t.cpu) setMmHold(this.k, mm, t.cpu, this.k.slice.shared || s.reader);
      return;
    }
    t.sliced = null;
    leaveMm(this.k, mm, t.cpu);
    countSyscall(t.proc, s.row, n.value);
    // What waited for the mm goes first: it may end t's process (a SIGPIPE, an OOM kill),
    // and then t gets its end rather than this answer, as a fatal signal is taken on the
    // way back to user mode.
    this.k.slice.runDue();
    if (n.value !== undefined && !t.dying) this.reply(t.cpu, n.value); // undefined: blocked (a vfork), answered later
  }

  /** Its system calls by name, as counted, in the order first called (the procexit message; ptlab stat prints them). */
  syscallCounts(p: Process): Record<string, [number, number]> {
    const out: Record<string, [number, number]> = {};
    const c = p.syscallCounts;
    for (const row of p.syscallOrder) out[this.syscalls[this.rowNr[row]!]!.name] = [c[2 * row]!, c[2 * row + 1]!];
    return out;
  }

  /**
   * OomHook: a page fault of the thread on `cpu` (in `mm`, at va) found no frame: the OOM
   * killer (task/oom.ts) chooses and kills a victim; trap() retries the fault if the
   * faulting process is still alive.
   */
  outOfMemory(mm: Mm, cpu: number, _va: number): void {
    const t = this.tasks.cpuThread[cpu];
    if (t === null || t.proc.mm !== mm) return;
    outOfMemory(this, t, { gfp: PAGEFAULT_GFP, order: 0 }); // task/oom.ts's (the import)
  }

  /** totalram_pages() + total_swap_pages: what oom_badness and oom_score are relative to. */
  oomTotalPages(): number {
    return oomTotalPages(this.k, this.k.swap?.pages ?? 0);
  }

  /**
   * A kernel bug met while serving t (die() and oops_end): t's process is killed with a
   * report naming the bug. If every address space still validates, the machine goes on;
   * otherwise kernel state may be corrupt and the bug is thrown on, which stops the kernel
   * thread (the host reports the crash).
   */
  private oops(t: Thread, e: unknown): void {
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const corrupt = this.corruption();
    if (corrupt !== null) throw new KernelBug(`${what} (kernel state corrupt: ${corrupt}); at ${e instanceof Error ? e.stack : ''}`);
    killProcess(this, t.proc, U.SIGKILL, `Killed by a kernel bug (oops): ${what}; the machine's state validated, the machine goes on`, t);
    if (this.answers.awaits(t.cpu)) this.replyExit(t.cpu);
  }

  /** The first broken invariant of any live address space, or null if all validate. */
  private corruption(): string | null {
    for (const p of this.tasks.procs.values()) {
      if (p.state === 'zombie') continue;
      try {
        validateMm(this.k, p.mm);
      } catch (e) {
        return `pid ${p.pid}: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    return null;
  }
}

/** strace -c's count: one more call of table row `row`, and one more error if r is an errno. */
function countSyscall(p: Process, row: number, r: number | undefined): void {
  const i = 2 * row;
  let c = p.syscallCounts;
  if (i >= c.length) {
    c = new Float64Array(i + 2);
    c.set(p.syscallCounts);
    p.syscallCounts = c;
  }
  if (c[i] === 0) p.syscallOrder.push(row);
  c[i]++;
  if (r !== undefined && r < 0 && r >= -U.MAX_ERRNO) c[i + 1]++;
}
