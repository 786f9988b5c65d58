// The task table (kernel/pid.c and the CPU side of the scheduler): processes by pid,
// the thread on each CPU, the CPUs free for new threads, and the process limit. A CPU is
// a worker: a thread keeps its CPU for its whole life, and the CPU is free again once the
// host reports the worker gone.

import { type ControlBlock, CPU_REQ, cpuI32Base, REQ_NONE } from '../../machine/index.ts';
import { type Process, Thread } from './task.ts';

export class Tasks {
  /** Every process not yet reaped (zombies included), by pid. */
  readonly procs = new Map<number, Process>();
  /** The thread on each CPU, or null if the CPU is free. */
  readonly cpuThread: (Thread | null)[];
  /** Processes whose address space is being torn down (Process.teardown), oldest first. */
  readonly exiting: Process[] = [];
  /** Most processes alive at once (zombies with a parent included). */
  readonly maxProcs: number;
  private readonly active: number[] = [];
  private readonly freeCpus: number[];
  private lastPid = 0;
  private readonly ctl: Int32Array;

  constructor(cb: ControlBlock, maxProcs: number) {
    const nrCpus = cb.nrCpus;
    this.ctl = cb.i32;
    this.cpuThread = new Array<Thread | null>(nrCpus).fill(null);
    this.freeCpus = Array.from({ length: nrCpus }, (_, i) => nrCpus - 1 - i);
    this.maxProcs = maxProcs;
  }

  /** A new pid (thread ids come from the same space, as in Linux). */
  newPid(): number {
    return ++this.lastPid;
  }

  /** True if another process may start (zombies that a parent will reap still count). */
  roomForProcess(): boolean {
    let live = 0;
    for (const p of this.procs.values()) if (p.state !== 'zombie' || p.ppid !== 0) live++;
    return live < this.maxProcs;
  }

  /** A free CPU, or undefined if every one runs a thread. */
  takeCpu(): number | undefined {
    return this.freeCpus.pop();
  }

  /** Give back a CPU taken but never used. */
  putCpu(cpu: number): void {
    this.freeCpus.push(cpu);
  }

  /** A new thread th of p on its CPU. */
  attach(p: Process, th: Thread): void {
    // A request its last worker posted as it was terminated is not th's (kernel/entry.ts).
    Atomics.store(this.ctl, cpuI32Base(th.cpu) + CPU_REQ, REQ_NONE);
    p.threads.set(th.tid, th);
    p.threadsEver++;
    p.mm.cpus.add(th.cpu);
    this.cpuThread[th.cpu] = th;
    this.active.push(th.cpu);
  }

  /** th's worker is gone: its CPU is free. */
  detach(th: Thread): void {
    this.cpuThread[th.cpu] = null;
    this.active.splice(this.active.indexOf(th.cpu), 1);
    this.freeCpus.push(th.cpu);
    th.proc.threads.delete(th.tid);
    th.proc.mm.cpus.delete(th.cpu);
  }

  /** CPUs with a thread (the ones to scan for requests); do not modify. */
  activeCpus(): readonly number[] {
    return this.active;
  }
}
