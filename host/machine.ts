// The host side of a ptlab machine: boot (physical memory, control block, control rings, the
// kernel thread), create and reap CPU workers when the kernel asks, carry guest output, and
// report process exits. The host never touches kernel data: it learns everything from
// control-ring messages and the counters in the control block.

import { Worker } from 'node:worker_threads';
import { deflateRawSync } from 'node:zlib';
import {
  ControlBlock, G_HALT, MessageRing, ringKernel, PhysMem, readCpuCounters, readKernelCounters, traceBuffer, TraceWriter,
  type PolicyName, type CounterValues,
} from '../machine/index.ts';
import type { ToHost, ToKernel } from '../kernel/index.ts';
import { DEFAULT_COSTS, type KernelCosts } from '../kernel/mm/costs.ts';

export { DEFAULT_COSTS, parseCosts, type KernelCosts } from '../kernel/mm/costs.ts';
import { WEXITSTATUS, WIFEXITED, WIFSIGNALED, WTERMSIG } from '../kernel/uapi.ts';
import { bundle, rootPath, USERLAND } from './bundle.ts';
import { GuestStreams } from './progress.ts';

/** One CPU worker's recorded trace stream (host/trace/file.ts writes them to a file). */
export interface TraceStream {
  cpu: number;
  pid: number;
  tid: number;
  /** The stream's bytes (machine/traceformat.ts) in raw-deflated chunks, in order. */
  chunks: Uint8Array[];
}

export interface MachineOptions {
  /** Physical memory in bytes (default 1 GiB). */
  memBytes?: number;
  /** TLB preset (default skylake) and replacement policy (default lru). */
  preset?: string;
  policy?: PolicyName;
  /** CPU slots: the most threads alive at once (default 256). */
  nrCpus?: number;
  /** Most processes alive at once (default 256). */
  maxProcs?: number;
  /** Where guest output goes (default: this process's stdout and stderr). */
  output?: (pid: number, fd: number, data: Uint8Array) => void;
  /** Reply and doorbell checks before sleeping (spin-then-wait). */
  spin?: number;
  /**
   * Check the caller's address space (validateMm: VMA tree, page tables, RSS and VmPTE
   * counters) after every syscall and page fault (true), or after every Nth (a number: the
   * fuzzer's sampling); a violation crashes the kernel loudly.
   * Slow: for tests and for debugging kernel changes.
   */
  validate?: boolean | number;
  /**
   * Map the shared zero page on read faults of private anonymous memory (default true, as
   * Linux does). false allocates a zeroed page instead, as kernels that forbid the zero page
   * do (s390 KVM guests, some patched builds).
   */
  zeroPage?: boolean;
  /**
   * Soft-dirty tracking (default true, as kernels built with CONFIG_MEM_SOFT_DIRTY have):
   * clear_refs 4, pagemap bit 55, VmFlags sd. false behaves as a kernel without it.
   */
  softDirty?: boolean;
  /**
   * Names of anonymous memory (default true, as kernels built with CONFIG_ANON_VMA_NAME
   * have): prctl(PR_SET_VMA). false behaves as a kernel without it (PR_SET_VMA is EINVAL).
   */
  anonVmaName?: boolean;
  /** Record every CPU's translation stream (ptlab --record): see traceStreams. */
  record?: boolean;
  /**
   * mshare: on a change of a region's tables flush every CPU ('all', default, as the series
   * does) or only the CPUs of processes that map the region ('attached').
   */
  mshareFlush?: 'all' | 'attached';
  /**
   * /proc/PID files to capture as each process ends (maps, smaps, smaps_rollup, status),
   * after its last thread stopped and before its memory is freed: ProcessExit.proc.
   */
  procAtExit?: string[];
  /** A swap area of this many bytes (default 0: no swap, as on a machine without any; at most 16 GiB). */
  swapBytes?: number;
  /**
   * lkdtm (as CONFIG_LKDTM): writing "BUG" to /sys/kernel/debug/provoke-crash/DIRECT is a
   * kernel bug in that write (an oops that kills the writer), to test what a bug does.
   * Default false.
   */
  lkdtm?: boolean;
  /**
   * The kernel cost table of modeled time (default: the shipped table, measured on the
   * project machine; `ptlab calibrate` writes one for this host). README.md, "Modeled time".
   */
  costs?: KernelCosts;
  /**
   * Pages a long call (a populate, mlock) faults in per slice before the kernel serves
   * other CPUs' requests (default 256; kernel/README.md, "No request holds the machine").
   */
  slicePages?: number;
  /**
   * Keep every process's exit in Machine.exits (default true: `ptlab stat` reports them
   * all). false keeps an exit only until the host waits for it (processes the host spawned),
   * so a host that runs processes for hours (the fuzzer, the soak) does not grow with them.
   */
  keepExits?: boolean;
  /**
   * The guests' standard streams (1, 2) that are a terminal, where isatty() is true (a
   * progress bar redraws itself there). Default: those of this process's stdout and stderr
   * that are a terminal, or none when `output` takes the guests' output.
   */
  terminals?: number[];
  /** Called as each process ends (the CLI reports children killed by a signal). */
  onExit?: (e: ProcessExit) => void;
  /**
   * Where kernel log lines (printk: the OOM killer's reports, say) go besides
   * Machine.kernelLog: by default stderr, each as "[kernel] line"; a function gets each
   * line instead; false sends them nowhere else.
   */
  klog?: ((line: string) => void) | false;
}

/** Machine.showState: SysRq 't''s lines, and the threads in calls in slices with the slices they ran. */
export interface MachineState {
  lines: string[];
  sliced: { pid: number; tid: number; slices: number }[];
}

export interface ProcessExit {
  pid: number;
  ppid: number;
  path: string;
  /** Wait status (as wait4 gives it). */
  status: number;
  exitCode: number | null;
  signal: number | null;
  /** One line for a signal death, e.g. "Segmentation fault at 0x7f0000001000 (SEGV_MAPERR)". */
  report: string;
  /** CPU counters summed over the process's threads. */
  counters: CounterValues;
  /** Its system calls by name: [calls, calls that returned an error] (strace -c). */
  syscalls: Record<string, [number, number]>;
  threads: number;
  /** Peak resident set, in pages. */
  hiwaterRss: number;
  /** The /proc files named in MachineOptions.procAtExit, as they read when the process ended. */
  proc: Record<string, string>;
  /** The named results it reported (userland's report(), the ptlab_report system call). */
  values: Record<string, number>;
  /**
   * The modeled clock when it started and when its last thread ended, cycles: the machine's
   * clock starts at 0 with the first process (counters.cycles is the time its threads spent).
   */
  clockStart: number;
  clockEnd: number;
}

/** Machine.kernelHeap: the kernel isolate's V8 heap, bytes in use and reserved. */
export interface KernelHeap {
  used: number;
  total: number;
}

export interface MemInfo {
  nrFree: number;
  bootFree: number;
  nrFrames: number;
  procs: number;
  metadataBytesPerFrame: number;
  /** Swap slots in use (0 without swap). */
  swapUsed: number;
}

/**
 * Node flags for the kernel and CPU workers. A worker inherits its parent's flags; when the
 * host runs under tsx (`tsx file.ts`, `node --import tsx`) that includes the TypeScript
 * loader, which costs each worker about 7 MiB and time at its start, and the workers run
 * bundled JavaScript that needs no loader. Then the workers get only the profiling flags
 * (--cpu-prof..., --heap-prof...: explicit flags must be ones a worker accepts, and V8's
 * are not); otherwise they inherit as usual (undefined).
 */
function workerExecArgv(argv: string[]): string[] | undefined {
  if (!argv.some((a) => a.includes('tsx'))) return undefined;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!/^--(cpu|heap)-prof/.test(a)) continue;
    out.push(a);
    if (!a.includes('=') && /-(dir|name|interval)$/.test(a) && i + 1 < argv.length) out.push(argv[++i]);
  }
  return out;
}

const WORKER_EXEC_ARGV = workerExecArgv(process.execArgv);

export class Machine {
  readonly mem: PhysMem;
  readonly cb: ControlBlock;
  readonly options: Required<Omit<MachineOptions, 'output' | 'onExit' | 'klog'>> & {
    output: MachineOptions['output'] | undefined; onExit: MachineOptions['onExit'] | undefined; klog: MachineOptions['klog'];
  };
  /** Every process that ended, in order (none with MachineOptions.keepExits false). */
  readonly exits: ProcessExit[] = [];
  /** keepExits false: processes the host spawned, and the exits of those not waited for yet. */
  private readonly hostSpawned = new Set<number>();
  private readonly unclaimed = new Map<number, ProcessExit>();
  /** The kernel log, every line in order (dmesg). */
  readonly kernelLog: string[] = [];
  private readonly toKernel: MessageRing;
  private readonly toHost: MessageRing;
  private kernel!: Worker;
  private readonly workers = new Map<number, Worker>();
  /** With options.record: each CPU worker's trace stream, compressed chunks, in start order. */
  readonly traceStreams: TraceStream[] = [];
  /**
   * CPUs whose worker is being created (its guest bundle awaited): true once the kernel
   * asked to terminate it meanwhile, so that it is never started.
   */
  private readonly starting = new Map<number, boolean>();
  private readonly spawnWaiters = new Map<number, (pid: number) => void>();
  private readonly exitWaiters = new Map<number, (e: ProcessExit) => void>();
  private readonly memWaiters = new Map<number, (m: MemInfo) => void>();
  private readonly stateWaiters = new Map<number, (s: MachineState) => void>();
  private readonly heapWaiters = new Map<number, (h: KernelHeap) => void>();
  private readonly guestBundles = new Map<string, Promise<string>>();
  private runtimeUrl!: string;
  private nextTag = 1;
  private running = true;
  private halted!: Promise<void>;
  /** This process's stdout and stderr, where guest output goes without MachineOptions.output. */
  private readonly streams = new GuestStreams(process.stdout, process.stderr);
  /** Set if the kernel thread died of an exception. */
  crashed: Error | null = null;
  private readonly failWaiters = new Set<(e: Error) => void>();

  private constructor(options: MachineOptions) {
    this.options = {
      memBytes: options.memBytes ?? 2 ** 30,
      preset: options.preset ?? 'skylake',
      policy: options.policy ?? 'lru',
      nrCpus: options.nrCpus ?? 256,
      maxProcs: options.maxProcs ?? 256,
      spin: options.spin ?? 2000,
      validate: options.validate ?? false,
      zeroPage: options.zeroPage ?? true,
      softDirty: options.softDirty ?? true,
      anonVmaName: options.anonVmaName ?? true,
      mshareFlush: options.mshareFlush ?? 'all',
      procAtExit: options.procAtExit ?? [],
      swapBytes: options.swapBytes ?? 0,
      terminals: options.terminals ?? (options.output !== undefined ? [] : [1, 2].filter((fd) => (fd === 1 ? process.stdout : process.stderr).isTTY === true)),
      lkdtm: options.lkdtm ?? false,
      keepExits: options.keepExits ?? true,
      record: options.record ?? false,
      costs: options.costs ?? DEFAULT_COSTS,
      slicePages: options.slicePages ?? 256,
      output: options.output,
      onExit: options.onExit,
      klog: options.klog,
    };
    this.mem = PhysMem.create(this.options.memBytes);
    this.cb = ControlBlock.create(this.options.nrCpus);
    this.toKernel = MessageRing.create(1 << 20);
    this.toHost = MessageRing.create(1 << 22);
  }

  /** Boot a machine: memory, control block, the kernel thread. */
  static async boot(options: MachineOptions = {}): Promise<Machine> {
    const m = new Machine(options);
    const [kernelUrl, runtimeUrl] = await Promise.all([
      bundle(rootPath('kernel', 'main.ts'), 'kernel'),
      bundle(rootPath('userland', 'runtime.ts'), 'cpu'),
    ]);
    m.runtimeUrl = runtimeUrl;
    m.kernel = new Worker(new URL(kernelUrl), {
      execArgv: WORKER_EXEC_ARGV,
      workerData: {
        mem: m.mem.buffer, control: m.cb.buffer, toKernel: m.toKernel.buffer, toHost: m.toHost.buffer,
        options: { maxProcs: m.options.maxProcs, validate: m.options.validate, zeroPage: m.options.zeroPage, softDirty: m.options.softDirty, anonVmaName: m.options.anonVmaName, mshareFlush: m.options.mshareFlush, procAtExit: m.options.procAtExit, terminals: m.options.terminals, swapBytes: m.options.swapBytes, lkdtm: m.options.lkdtm, costs: m.options.costs, slicePages: m.options.slicePages }, spin: m.options.spin,
      },
    });
    m.halted = new Promise((resolve, reject) => {
      m.kernel.once('exit', () => resolve());
      m.kernel.once('error', (e) => {
        // A kernel bug: fail loudly. Everything waiting on the machine gets the error, and
        // the workers stop (they would wait forever for answers).
        m.running = false;
        const err = new Error(`ptlab kernel thread crashed: ${e instanceof Error ? e.stack : String(e)}`);
        m.crashed = err;
        for (const w of m.workers.values()) void w.terminate();
        for (const f of m.failWaiters) f(err);
        reject(err);
      });
    });
    m.halted.catch(() => undefined);
    void m.runPump();
    return m;
  }

  private post(msg: ToKernel): void {
    this.toKernel.send(msg);
    ringKernel(this.cb);
  }

  /** Start `path` as a process with no parent; resolves to its pid (rejects on an errno). */
  async spawn(path: string, argv: string[] = []): Promise<number> {
    await this.guestUrl(path); // fail here, not in the worker, if it does not build
    const tag = this.nextTag++;
    const pid = await this.untilCrash(new Promise<number>((resolve) => {
      this.spawnWaiters.set(tag, resolve);
      this.post({ t: 'spawn', path, argv, tag });
    }));
    if (pid < 0) throw new Error(`spawn ${path}: errno ${-pid}`);
    return pid;
  }

  /** Resolves when process `pid` has ended (rejects if the kernel crashes first). */
  waitExit(pid: number): Promise<ProcessExit> {
    const done = this.unclaimed.get(pid) ?? this.exits.find((e) => e.pid === pid);
    this.unclaimed.delete(pid);
    if (done !== undefined) return Promise.resolve(done);
    return this.untilCrash(new Promise((resolve) => this.exitWaiters.set(pid, resolve)));
  }

  /** p, or the kernel's crash, whichever comes first. */
  private untilCrash<T>(p: Promise<T>): Promise<T> {
    if (this.crashed !== null) return Promise.reject(this.crashed);
    let fail!: (e: Error) => void;
    const crash = new Promise<never>((_, reject) => {
      fail = reject;
      this.failWaiters.add(fail);
    });
    return Promise.race([p, crash]).finally(() => this.failWaiters.delete(fail));
  }

  /** Spawn and wait. */
  async run(path: string, argv: string[] = []): Promise<ProcessExit> {
    return this.waitExit(await this.spawn(path, argv));
  }

  /** Free frames now and at boot, and live processes, as the kernel reports them. */
  meminfo(): Promise<MemInfo> {
    const tag = this.nextTag++;
    return this.untilCrash(new Promise((resolve) => {
      this.memWaiters.set(tag, resolve);
      this.post({ t: 'meminfo', tag });
    }));
  }

  /**
   * SysRq 't' (show_state): every thread's state and what it waits for, one line each (also
   * in the kernel log), for diagnosing a hang.
   */
  showState(): Promise<MachineState> {
    const tag = this.nextTag++;
    return this.untilCrash(new Promise((resolve) => {
      this.stateWaiters.set(tag, resolve);
      this.post({ t: 'sysrq-show-state', tag });
    }));
  }

  /**
   * The kernel thread's V8 heap, after a full GC of it unless `gc` is false: what the
   * kernel's JavaScript objects hold, which the host's RSS mixes with the workers' and V8's
   * own sizing (the soak's leak check).
   */
  kernelHeap(gc = true): Promise<KernelHeap> {
    const tag = this.nextTag++;
    return this.untilCrash(new Promise((resolve) => {
      this.heapWaiters.set(tag, resolve);
      this.post({ t: 'heap', tag, gc });
    }));
  }

  /** Crash the kernel thread on purpose (sysrq 'c'), to test failure handling. */
  crashKernel(): void {
    this.post({ t: 'sysrq-crash' });
  }

  /** Kernel-wide counters (pgfault, shootdowns, ...). */
  kernelCounters(): CounterValues {
    return readKernelCounters(this.cb);
  }

  /** Stop the kernel and every worker. */
  async shutdown(): Promise<void> {
    if (!this.running) return;
    this.post({ t: 'halt' });
    Atomics.store(this.cb.i32, G_HALT, 1);
    await this.halted.catch(() => undefined);
    this.running = false;
    await Promise.all([...this.workers.values()].map((w) => w.terminate()));
    // The pump notices at its next wake-up; Atomics.waitAsync keeps no event loop alive.
  }

  private guestUrl(path: string): Promise<string> {
    let p = this.guestBundles.get(path);
    if (p === undefined) {
      p = bundle(path, 'guest');
      this.guestBundles.set(path, p);
      p.catch(() => this.guestBundles.delete(path));
    }
    return p;
  }

  private async runPump(): Promise<void> {
    while (this.running) {
      await this.toHost.waitAsync(200);
      for (let m = this.toHost.receive(); m !== undefined; m = this.toHost.receive()) this.handle(m as ToHost);
    }
  }

  private handle(m: ToHost): void {
    switch (m.t) {
      case 'start':
        void this.startCpu(m);
        break;
      case 'terminate': {
        const w = this.workers.get(m.cpu);
        if (w !== undefined) {
          // A dying worker (answered REQ_DIE) ends by itself once it has said where it was.
          if (m.dying !== true) void w.terminate();
        } else if (this.starting.has(m.cpu)) {
          this.starting.set(m.cpu, true);
        }
        break;
      }
      case 'out':
        if (this.options.output !== undefined) this.options.output(m.pid, m.fd, m.data);
        else this.streams.write(m.fd, m.data);
        break;
      case 'klog':
        this.kernelLog.push(m.text);
        if (this.options.klog === undefined) process.stderr.write(`[kernel] ${m.text}\n`);
        else if (this.options.klog !== false) this.options.klog(m.text);
        break;
      case 'spawned':
        if (!this.options.keepExits && m.pid > 0) this.hostSpawned.add(m.pid);
        this.spawnWaiters.get(m.tag)?.(m.pid);
        this.spawnWaiters.delete(m.tag);
        break;
      case 'procexit': {
        const status = m.status;
        const e: ProcessExit = {
          pid: m.pid, ppid: m.ppid, path: m.path, status, report: m.report, counters: m.counters, syscalls: m.syscalls,
          threads: m.threads, hiwaterRss: m.hiwaterRss, proc: m.proc, values: m.values, clockStart: m.clockStart, clockEnd: m.clockEnd,
          exitCode: WIFEXITED(status) ? WEXITSTATUS(status) : null,
          signal: WIFSIGNALED(status) ? WTERMSIG(status) : null,
        };
        if (this.options.keepExits) this.exits.push(e);
        else if (this.hostSpawned.delete(m.pid) && !this.exitWaiters.has(m.pid)) this.unclaimed.set(m.pid, e);
        this.options.onExit?.(e);
        this.exitWaiters.get(m.pid)?.(e);
        this.exitWaiters.delete(m.pid);
        break;
      }
      case 'state':
        this.stateWaiters.get(m.tag)?.({ lines: m.lines, sliced: m.sliced });
        this.stateWaiters.delete(m.tag);
        break;
      case 'heap':
        this.heapWaiters.get(m.tag)?.({ used: m.used, total: m.total });
        this.heapWaiters.delete(m.tag);
        break;
      case 'meminfo':
        this.memWaiters.get(m.tag)?.({ nrFree: m.nrFree, bootFree: m.bootFree, nrFrames: m.nrFrames, procs: m.procs, metadataBytesPerFrame: m.metadataBytesPerFrame, swapUsed: m.swapUsed });
        this.memWaiters.delete(m.tag);
        break;
      case 'halted':
        break;
    }
  }

  private async startCpu(m: Extract<ToHost, { t: 'start' }>): Promise<void> {
    let guestUrl: string;
    this.starting.set(m.cpu, false);
    try {
      guestUrl = await this.guestUrl(m.path);
    } catch (e) {
      this.starting.delete(m.cpu);
      if (this.running) this.post({ t: 'start-failed', cpu: m.cpu, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const cancelled = this.starting.get(m.cpu) === true;
    this.starting.delete(m.cpu);
    // The machine stopped (a kernel crash, a shutdown) while the bundle was awaited: its
    // workers were all terminated then, and one created now would never be. Or the kernel
    // ended this thread meanwhile: it is gone before it started.
    if (!this.running || this.crashed !== null) return;
    if (cancelled) {
      this.post({ t: 'exited', cpu: m.cpu });
      return;
    }
    const trace = this.options.record === true ? traceBuffer() : undefined;
    const stream: TraceStream = { cpu: m.cpu, pid: m.pid, tid: m.tid, chunks: [] };
    if (trace !== undefined) this.traceStreams.push(stream);
    const w = new Worker(new URL(this.runtimeUrl), {
      execArgv: WORKER_EXEC_ARGV,
      workerData: {
        mem: this.mem.buffer, control: this.cb.buffer, cpu: m.cpu, pid: m.pid, tid: m.tid, cr3: m.cr3,
        preset: this.options.preset, policy: this.options.policy, guestUrl, path: m.path, userland: USERLAND,
        exportName: m.exportName, argv: m.argv, arg: m.arg, sp: m.sp, stackRoom: m.stackRoom, spin: this.options.spin, trace,
      },
      stdout: false,
      stderr: false,
    });
    this.workers.set(m.cpu, w);
    let error: string | undefined;
    let died: { frames: string[]; at?: string } | undefined;
    w.on('error', (e) => {
      error = e instanceof Error ? e.message : String(e);
    });
    // Where the guest was when its request killed it (the runtime's onDie); Node delivers a
    // worker's messages before its 'exit' event.
    w.on('message', (d: unknown) => {
      if (trace !== undefined && (d as { t?: unknown }).t === 'trace') stream.chunks.push(deflateRawSync((d as { bytes: Uint8Array }).bytes));
      else died = diedReport(d) ?? died;
    });
    w.once('exit', () => {
      if (trace !== undefined) stream.chunks.push(deflateRawSync(new TraceWriter(trace).finish(readCpuCounters(this.cb, m.cpu)['emu.lookups'])));
      if (this.workers.get(m.cpu) === w) this.workers.delete(m.cpu);
      if (this.running) this.post({ t: 'exited', cpu: m.cpu, ...(error === undefined ? {} : { error }), ...died });
    });
  }
}

/** A worker's 'died' message (userland/runtime.ts), if `d` is one: up to 16 frames of text. */
function diedReport(d: unknown): { frames: string[]; at?: string } | undefined {
  if (typeof d !== 'object' || d === null) return undefined;
  const { t, frames, at } = d as Record<string, unknown>;
  if (t !== 'died' || !Array.isArray(frames) || !frames.every((f) => typeof f === 'string')) return undefined;
  const out = { frames: frames.slice(0, 16).map((f: string) => f.slice(0, 1000)) };
  return typeof at === 'string' ? { ...out, at: at.slice(0, 1000) } : out;
}
