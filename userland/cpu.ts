// The CPU side of the syscall channel, shared by the worker runtime and the userland API.
// One instance per CPU worker, kept on globalThis so that every copy of the userland module
// (each guest bundle carries its own) finds the CPU it runs on.

import {
  type ControlBlock, CPU_ARGS, CPU_REQ, CPU_RET, CPU_SLEEPING, CPU_SYSNO, cpuF64Base, cpuI32Base,
  G_HALT, type Mmu, REQ_DIE, REQ_EXIT, REQ_SIGNAL, REQ_SYSCALL, REQ_TRAP, ringKernel, sleepWhile,
} from '../machine/index.ts';
import { ENOSYS, SYS_kill } from '../kernel/uapi.ts';

export interface SigInfo {
  signo: number;
  code: number;
  addr: number;
}

export type SignalHandler = (info: SigInfo) => void;

const KEY = Symbol.for('ptlab.cpu');

export class Cpu {
  readonly mmu: Mmu;
  readonly cb: ControlBlock;
  readonly cpu: number;
  readonly pid: number;
  readonly tid: number;
  /** Path of the module this process was started from (threads default to it). */
  readonly modulePath: string;
  readonly handlers = new Map<number, SignalHandler>();
  /**
   * The stack pointer it started with: in the main thread's [stack] VMA (its scratch
   * buffers live below it); 0 for threads, whose stacks are not in guest memory.
   */
  sp = 0;
  /** Bytes of the [stack] VMA below sp's page when it started. */
  stackRoom = 0;
  /** Spins on the reply before sleeping. */
  spin: number;
  /**
   * Called when a request of this thread killed it (REQ_DIE: a fatal fault, a kernel bug met
   * serving it), just before the worker ends: the runtime reports where the guest was.
   */
  onDie: () => void = () => undefined;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly base: number;
  private readonly fbase: number;
  /** An idle mark is scheduled (idleWhenQuiet). */
  private idleArmed = false;
  private readonly goIdle = (): void => {
    this.idleArmed = false;
    this.mmu.idle();
  };

  constructor(mmu: Mmu, cb: ControlBlock, cpu: number, pid: number, tid: number, modulePath: string, spin: number) {
    this.mmu = mmu;
    this.cb = cb;
    this.cpu = cpu;
    this.pid = pid;
    this.tid = tid;
    this.modulePath = modulePath;
    this.spin = spin;
    this.i32 = cb.i32;
    this.f64 = cb.f64;
    this.base = cpuI32Base(cpu);
    this.fbase = cpuF64Base(cpu);
    mmu.onPageFault = (va, code) => this.trap(va, code);
    mmu.onWake = () => this.idleWhenQuiet();
  }

  /**
   * Mark this CPU idle (Mmu.idle) once the guest's JavaScript stack is empty: a setImmediate
   * callback runs only between macrotasks, after the microtasks are drained, so the guest
   * is then waiting in its event loop (a timer, a message, a promise nothing resolves). The
   * next access wakes the CPU and asks again; a guest that never yields to the event loop
   * is never marked. Marking is safe at any point (the CPU wakes before any translation);
   * this placement only keeps the wake's slow path to one per macrotask.
   */
  idleWhenQuiet(): void {
    if (this.idleArmed) return;
    this.idleArmed = true;
    setImmediate(this.goIdle);
  }

  /**
   * Make c this worker's CPU. The property is not enumerable: what walks the global
   * object's enumerable properties (util.inspect, JSON, Object.assign, structuredClone)
   * does not come upon the CPU, whose control block and MMU lead to the shared buffers;
   * code that asks for Symbol.for('ptlab.cpu') still finds it (README.md, "Threat model").
   */
  static install(c: Cpu): void {
    Object.defineProperty(globalThis, KEY, { value: c, enumerable: false, writable: true, configurable: true });
  }

  static current(): Cpu | undefined {
    return (globalThis as Record<symbol, unknown>)[KEY] as Cpu | undefined;
  }

  /** Enter the kernel with a syscall; returns the raw result (negative errno on failure). */
  syscall(nr: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
    // The slot holds an int32 number: anything else is no syscall at all.
    if (!Number.isInteger(nr) || nr < 0 || nr > 0x7fffffff) return -ENOSYS;
    const f = this.f64;
    const a = this.fbase + CPU_ARGS;
    f[a] = a0;
    f[a + 1] = a1;
    f[a + 2] = a2;
    f[a + 3] = a3;
    f[a + 4] = a4;
    f[a + 5] = a5;
    this.i32[this.base + CPU_SYSNO] = nr;
    this.enter(REQ_SYSCALL);
    return f[this.fbase + CPU_RET];
  }

  /** The MMU's page-fault handler: ask the kernel, then retry or take the signal. */
  private trap(va: number, code: number): void {
    this.f64[this.fbase + CPU_ARGS] = va;
    this.i32[this.base + CPU_SYSNO] = code;
    this.enter(REQ_TRAP);
  }

  private enter(req: number): void {
    const i32 = this.i32;
    const b = this.base;
    Atomics.store(i32, b + CPU_REQ, req);
    ringKernel(this.cb);
    let n = 0;
    let answer = Atomics.load(i32, b + CPU_REQ);
    while (answer === req) {
      if (++n > this.spin) {
        sleepWhile(i32, b + CPU_REQ, req, b + CPU_SLEEPING, 1000);
        if (Atomics.load(i32, G_HALT) !== 0) process.exit(0);
      }
      answer = Atomics.load(i32, b + CPU_REQ);
    }
    if (answer === REQ_EXIT) process.exit(0);
    if (answer === REQ_DIE) {
      try {
        this.onDie();
      } finally {
        process.exit(0);
      }
    }
    if (this.mmu.ipiPending()) this.mmu.takeIpis();
    if (answer === REQ_SIGNAL) {
      const info = { signo: i32[b + CPU_SYSNO], code: this.f64[this.fbase + CPU_ARGS], addr: this.f64[this.fbase + CPU_RET] };
      const h = this.handlers.get(info.signo);
      // The kernel reports a handler for the process; this thread has none: default action.
      if (h === undefined) {
        this.syscall(SYS_kill, this.pid, info.signo);
        process.exit(0);
      }
      h(info); // returning retries the access, as returning from a SIGSEGV handler does
    }
  }
}
