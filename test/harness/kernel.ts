// Fixtures for the kernel tests that drive kernel code directly, without threads.
//
//   memoryWorld   a Kmm (memory alone) and address spaces on it
//   KernelHarness a whole Kernel with processes but no workers: the test plays each CPU
//                 (it posts a syscall or a fault in the CPU's slot and has it served) and
//                 the host (it reports a worker gone when the kernel asks to stop it)

import {
  ControlBlock, CPU_ARGS, CPU_REQ, CPU_RET, CPU_SYSNO, cpuF64Base, cpuI32Base, MessageRing, PhysMem,
  REQ_DIE, REQ_DONE, REQ_EXIT, REQ_SIGNAL, REQ_SYSCALL, REQ_TRAP,
} from '../../machine/index.ts';
import { procSmaps } from '../../kernel/fs/proc/task_mmu.ts';
import { Kernel, type KernelOptions } from '../../kernel/kernel.ts';
import type { ToHost } from '../../kernel/messages.ts';
import { Kmm } from '../../kernel/mm/kmm.ts';
import { type Mm, mmAlloc } from '../../kernel/mm/mm.ts';
import { copyToUser } from '../../kernel/mm/uaccess.ts';
import { leafWord } from '../../kernel/mm/pgtable.ts';
import { validateMm } from '../../kernel/mm/validate.ts';
import { spawn } from '../../kernel/task/fork.ts';
import { exitStep, killProcess } from '../../kernel/task/exit.ts';
import type { Thread } from '../../kernel/task/task.ts';
import * as U from '../../kernel/uapi.ts';

/** A new address space; fails the test if there is no frame for its PML4. */
export function newMm(k: Kmm): Mm {
  const mm = mmAlloc(k);
  if (typeof mm === 'number') throw new Error(`mmAlloc: ${mm}`);
  return mm;
}

/** Memory alone: a Kmm of `memBytes` with `nrCpus` CPUs, and the free frames at boot. */
export function memoryWorld(memBytes = 32 << 20, nrCpus = 1): { k: Kmm; bootFree: number } {
  const k = new Kmm(PhysMem.create(memBytes), ControlBlock.create(nrCpus));
  return { k, bootFree: k.pages.nrFree };
}

/** How a CPU's request was answered. */
export type Answer = { kind: 'return'; value: number } | { kind: 'exit' } | { kind: 'blocked' } | { kind: 'signal'; signo: number; code: number; addr: number };

export class KernelHarness {
  readonly kernel: Kernel;
  readonly cb: ControlBlock;
  readonly toHost: MessageRing;
  /** Every message the kernel sent, in order (output bytes included). */
  readonly messages: ToHost[] = [];

  constructor(options: KernelOptions & { memBytes?: number; nrCpus?: number } = {}) {
    this.cb = ControlBlock.create(options.nrCpus ?? 8);
    // Room for the largest write(2) a guest can make (1 MiB) and its framing: the test
    // drains the ring after each request, on the same thread.
    this.toHost = MessageRing.create(1 << 23);
    this.kernel = new Kernel(PhysMem.create(options.memBytes ?? (32 << 20)), this.cb, this.toHost, { moduleCheck: false, ...options });
  }

  get k(): Kmm {
    return this.kernel.k;
  }

  /** A process started as the host starts one; its main thread. */
  spawn(path = '/guest.ts', argv: string[] = []): Thread {
    const pid = spawn(this.kernel, 0, path, argv);
    if (pid < 0) throw new Error(`spawn: ${pid}`);
    this.pump();
    return this.kernel.tasks.procs.get(pid)!.threads.get(pid)!;
  }

  /** t's address space as text to compare: its smaps, then every PTE of every VMA ("-" for none, else pfn:low word). */
  addressSpace(t: Thread): string[] {
    const mm = t.proc.mm;
    const leaves: string[] = [];
    for (const v of mm.vmas.all()) {
      for (let va = v.start; va < v.end; va += 4096) {
        const l = leafWord(this.k, mm, va);
        leaves.push(l === null ? '-' : `${l.pfn}:${this.k.ops.lo(l.w)}`);
      }
    }
    return [procSmaps(this.k, mm), leaves.join(' ')];
  }

  /**
   * A descriptor for clone naming the guest's `exportName`, in a new shared page of t's
   * memory (a fork does not copy it): [ptr, len], clone's last two arguments.
   */
  cloneDesc(t: Thread, exportName = 'child'): [number, number] {
    const bytes = new TextEncoder().encode(JSON.stringify({ path: '/guest.ts', exportName, arg: null }));
    const va = this.call(t, U.SYS_mmap, 0, 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
    if (copyToUser(this.k, t.proc.mm, va, bytes, -1) !== 0) throw new Error('cloneDesc: copyToUser failed');
    return [va, bytes.length];
  }

  /** A new thread of t's process (clone with CLONE_THREAD, running the guest's `child`). */
  thread(t: Thread): Thread {
    const tid = this.call(t, U.SYS_clone, U.CLONE_THREAD_FLAGS, ...this.cloneDesc(t));
    if (tid <= 0) throw new Error(`clone: ${tid}`);
    return t.proc.threads.get(tid)!;
  }

  /** System call nr from thread t, as its CPU makes it: the answer. */
  syscall(t: Thread, nr: number, ...args: number[]): Answer {
    this.startSyscall(t, nr, ...args);
    return this.runToEnd(t);
  }

  /** The value of a system call that must return; throws otherwise. */
  call(t: Thread, nr: number, ...args: number[]): number {
    const a = this.syscall(t, nr, ...args);
    if (a.kind !== 'return') throw new Error(`syscall ${nr}: ${a.kind}`);
    return a.value;
  }

  /** A page fault of thread t at va with error code `code` (X86_PF_*). */
  fault(t: Thread, va: number, code: number): Answer {
    this.cb.f64[cpuF64Base(t.cpu) + CPU_ARGS] = va;
    this.cb.i32[cpuI32Base(t.cpu) + CPU_SYSNO] = code;
    this.start(t, REQ_TRAP);
    return this.runToEnd(t);
  }

  /** A call in slices (mm/slice.ts) of t served to its end, one slice after another: its answer. */
  runToEnd(t: Thread): Answer {
    while (t.sliced !== null) {
      this.kernel.serveCpu(t.cpu);
      this.pump();
    }
    return this.answer(t);
  }

  /** Post system call nr from thread t and serve it once (a call in slices does its first slice): the answer so far. */
  startSyscall(t: Thread, nr: number, ...args: number[]): Answer {
    const fb = cpuF64Base(t.cpu) + CPU_ARGS;
    for (let i = 0; i < 6; i++) this.cb.f64[fb + i] = args[i] ?? 0;
    this.cb.i32[cpuI32Base(t.cpu) + CPU_SYSNO] = nr;
    return this.start(t, REQ_SYSCALL);
  }

  private start(t: Thread, req: number): Answer {
    Atomics.store(this.cb.i32, cpuI32Base(t.cpu) + CPU_REQ, req);
    this.kernel.serveCpu(t.cpu);
    this.pump();
    return this.answer(t);
  }

  /**
   * One turn of the kernel thread's loop over the CPUs (main.ts): each posted request served
   * once, a call in slices one slice; then a slice of an exit's teardown and the work that
   * waited for an mm (Kernel.tick's exitStep and runDue; kswapd is left to the tests that
   * want it).
   */
  serveRound(): void {
    for (const cpu of [...this.kernel.activeCpus()]) this.kernel.serveCpu(cpu);
    this.pump();
    exitStep(this.kernel);
    this.k.slice.backgroundStep(); // a killed fork's copy going back (Kernel.tick)
    this.k.slice.runDue(); // what waited for an mm's write hold (Kernel.tick)
    this.pump();
  }

  /**
   * Turns of the kernel loop (serveRound) while `busy()`, with a getpid of `beside` posted
   * before each and answered at once (a long call in slices holds nobody else up): the
   * turns it took.
   */
  roundsWithGetpid(busy: () => boolean, beside: Thread): number {
    let turns = 0;
    for (; busy(); turns++) {
      const r = this.startSyscall(beside, U.SYS_getpid);
      if (r.kind !== 'return' || r.value !== beside.proc.pid) throw new Error(`getpid beside the call: ${JSON.stringify(r)}`);
      this.serveRound();
    }
    return turns;
  }

  /** Run the teardowns of ended processes to their end (task/exit.ts's exitStep): their exits follow. */
  finishExits(): void {
    while (exitStep(this.kernel) || this.k.slice.backgroundStep()) this.pump();
    this.pump();
  }

  /** How t's last request stands now: answered (a blocked call may have been answered since), or still blocked. */
  answer(t: Thread): Answer {
    const i32 = this.cb.i32;
    const b = cpuI32Base(t.cpu);
    const answer = Atomics.load(i32, b + CPU_REQ);
    if (answer === REQ_DONE) return { kind: 'return', value: this.cb.f64[cpuF64Base(t.cpu) + CPU_RET] };
    if (answer === REQ_EXIT || answer === REQ_DIE) return { kind: 'exit' };
    if (answer === REQ_SIGNAL) return { kind: 'signal', signo: i32[b + CPU_SYSNO], code: this.cb.f64[cpuF64Base(t.cpu) + CPU_ARGS], addr: this.cb.f64[cpuF64Base(t.cpu) + CPU_RET] };
    return { kind: 'blocked' };
  }

  /** Play the host: take the kernel's messages; a worker it asks to stop is reported gone. */
  pump(): void {
    for (let m = this.toHost.receive(); m !== undefined; m = this.toHost.receive()) {
      const msg = m as ToHost;
      this.messages.push(msg);
      if (msg.t === 'terminate') this.kernel.hostMessage({ t: 'exited', cpu: msg.cpu });
    }
  }

  /** Kill every process left and let them end; every address space left is checked first. */
  killAll(): void {
    for (const p of [...this.kernel.tasks.procs.values()]) {
      if (p.state === 'live') validateMm(this.k, p.mm);
      killProcess(this.kernel, p, U.SIGKILL, 'test over');
      this.pump();
    }
    this.finishExits();
  }

  /** Frames not back in the allocator since boot (after killAll, the teardowns and the last shootdowns). */
  leakedFrames(): number {
    this.finishExits();
    this.kernel.tick();
    return this.kernel.bootFreeFrames - this.k.pages.nrFree;
  }
}

/** What slicedAndWhole found: each run's result, the slices the first yielded, what it leaked, and the slices the second yielded. */
export interface SlicedAndWhole<T> {
  sliced: T;
  whole: T;
  yields: number;
  leaked: number;
  wholeYields: number;
}

/**
 * The sliced-equals-whole check's two runs: `program(1)` (1-page slices) and
 * `program(1e9)` (in one go), each booting its machine, which `harness()` then returns.
 * Between them the first machine's processes are killed and `cleanup` drops what outlives
 * them (a tmpfs file), so that its leaked frames can be counted.
 */
export function slicedAndWhole<T>(program: (slicePages: number) => T, harness: () => KernelHarness, cleanup?: (h: KernelHarness) => void): SlicedAndWhole<T> {
  const sliced = program(1);
  const first = harness();
  const yields = first.k.slice.yields;
  first.killAll();
  cleanup?.(first);
  const leaked = first.leakedFrames();
  const whole = program(1e9);
  return { sliced, whole, yields, leaked, wholeYields: harness().k.slice.yields };
}

/** The kB values of the smaps record of mm's VMA at va (procSmaps, parsed). */
export function smapsRecord(k: Kmm, mm: Mm, va: number): Record<string, number> {
  const rec = procSmaps(k, mm).split(/\n(?=[0-9a-f]+-)/).find((r) => r.startsWith(va.toString(16)));
  if (rec === undefined) throw new Error(`no VMA at 0x${va.toString(16)} in smaps`);
  const out: Record<string, number> = {};
  for (const m of rec.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]] = Number(m[2]);
  return out;
}
