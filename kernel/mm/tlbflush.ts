// TLB shootdowns (compare arch/x86/mm/tlb.c: flush_tlb_mm_range, native_flush_tlb_multi).
//
// An mm may be cached by the TLB of every CPU that runs one of its threads (Mm.cpus; a CPU
// runs one thread for its whole life, so no lazy-TLB switching is needed). Changing or
// removing a translation posts a flush to each of those CPUs and waits until every CPU that
// is running guest code has acknowledged it (or a timeout passed: see timeoutMs). CPUs in
// the kernel (blocked in a syscall or a fault, including the initiator) need no wait: they
// take pending flushes before they return to guest code. Nor do idle CPUs (CPU_IDLE: the
// guest thread waits in its event loop, as Linux skips lazy-TLB CPUs): the request stays
// in their mailbox and they take it before their next access (Mmu.takeIpis); they are
// counted in shootdown_idle_skips. Frames and page tables freed by the operation are
// released by the caller only after flush() returns (the mmu_gather rule), so no stale
// translation can reach a reused frame.
//
// Ranges of up to FLUSH_CEILING pages are flushed page by page, larger ones as a whole PCID
// (Linux's tlb_single_page_flush_ceiling, 33).

import {
  type ControlBlock, cpuRequestPosted, CPU_IDLE, CPU_OFFLINE, CPU_STATE, cpuI32Base, FLUSH_PCID, FLUSH_RANGE, flushAcked,
  IPI_ACK, K_NR_TLB_LOCAL_FLUSH_ALL, K_NR_TLB_LOCAL_FLUSH_ONE, K_NR_TLB_REMOTE_FLUSH,
  K_NR_TLB_REMOTE_FLUSH_RECEIVED, K_SHOOTDOWN_IDLE_SKIPS, K_SHOOTDOWN_NS_MAX, K_SHOOTDOWN_NS_SUM, K_SHOOTDOWN_TIMEOUTS,
  K_SHOOTDOWNS, postFlush,
} from '../../machine/index.ts';
import type { ModelClock } from './clock.ts';

export const FLUSH_CEILING = 33;
/** TlbFlusher.status: the CPU runs guest code and has not acknowledged. */
const RUNNING = 0;
/** TlbFlusher.status: the CPU is idle in its event loop; it flushes before its next access. */
const IDLE = 1;
/** TlbFlusher.status: acknowledged, offline, or in the kernel. */
const DONE = 2;

export class TlbFlusher {
  private readonly cb: ControlBlock;
  private readonly k: Float64Array;
  /** Spins on an acknowledgement before sleeping on it. */
  spin = 2000;
  /**
   * How long to wait for a CPU running guest code. A worker that loops without touching
   * memory cannot be interrupted (JavaScript has no interrupts); rather than stall the whole
   * machine, the shootdown stops waiting and the frames it frees are held until that CPU
   * acknowledges (see Kmm.deferred). The CPU still flushes before its next access.
   */
  timeoutMs = 100;
  /** Modeled time: the initiator waits for the latest acknowledgement (Kmm sets it). */
  clock: ModelClock | null = null;

  constructor(cb: ControlBlock) {
    this.cb = cb;
    this.k = cb.f64;
  }

  private count(slot: number, n = 1): void {
    this.k[this.cb.kernelCounterIndex(slot)] += n;
  }

  /**
   * Flush [start, end) of the mm cached on `cpus`; `initiator` is the CPU whose syscall or
   * fault caused it (-1 for none). Returns when every CPU running guest code acknowledged,
   * or after `timeoutMs` with the (cpu, sequence) pairs still unacknowledged.
   */
  flushRange(cpus: Iterable<number>, start: number, end: number, initiator: number): [number, number][] {
    const pages = Math.ceil((end - start) / 4096);
    if (pages <= 0) return [];
    const req = pages <= FLUSH_CEILING
      ? { kind: FLUSH_RANGE, pcid: 0, start, end, strideShift: 12 }
      : { kind: FLUSH_PCID, pcid: 0, start: 0, end: 0, strideShift: 12 };
    const t0 = performance.now();
    const waits: [number, number][] = [];
    for (const cpu of cpus) {
      const seq = postFlush(this.cb, cpu, req);
      if (cpu === initiator) {
        if (req.kind === FLUSH_RANGE) this.count(K_NR_TLB_LOCAL_FLUSH_ONE, pages);
        else this.count(K_NR_TLB_LOCAL_FLUSH_ALL);
        continue;
      }
      waits.push([cpu, seq]);
    }
    if (waits.length === 0) return [];
    this.count(K_NR_TLB_REMOTE_FLUSH);
    this.count(K_NR_TLB_REMOTE_FLUSH_RECEIVED, waits.length);
    const deadline = t0 + this.timeoutMs;
    const late = waits.filter(([cpu, seq]) => !this.waitFor(cpu, seq, deadline));
    this.clock?.shootdown(initiator, waits.length, waits.filter(([cpu, seq]) => flushAcked(this.cb, cpu, seq)).map(([cpu]) => cpu));
    const ns = (performance.now() - t0) * 1e6;
    this.count(K_SHOOTDOWNS);
    this.count(K_SHOOTDOWN_NS_SUM, ns);
    const maxIdx = this.cb.kernelCounterIndex(K_SHOOTDOWN_NS_MAX);
    if (ns > this.k[maxIdx]) this.k[maxIdx] = ns;
    if (late.length > 0) this.count(K_SHOOTDOWN_TIMEOUTS);
    return late;
  }

  /**
   * True once `cpu` acknowledged `seq` or is not running guest code: offline, idle, or
   * blocked in a syscall or a fault (it takes pending flushes before it touches memory or
   * returns to guest code).
   */
  done(cpu: number, seq: number): boolean {
    return this.status(cpu, seq) !== RUNNING;
  }

  /**
   * RUNNING, IDLE, or DONE (acknowledged, offline, or in the kernel: a thread marked idle
   * that blocks in a syscall counts as in the kernel). CPU_STATE is read after the post
   * (postFlush's atomic stores): a CPU seen idle leaves idle with a compare-exchange after
   * that read, and then reads its mailbox (machine/README.md, "Idle CPUs").
   */
  private status(cpu: number, seq: number): number {
    if (flushAcked(this.cb, cpu, seq)) return DONE;
    const state = Atomics.load(this.cb.i32, cpuI32Base(cpu) + CPU_STATE);
    if (state === CPU_OFFLINE || cpuRequestPosted(this.cb.i32, cpu)) return DONE;
    // CPU_USER, or a corrupt word (kernel/entry.ts): waited for, never skipped.
    return state === CPU_IDLE ? IDLE : RUNNING;
  }

  /** Wait until done(cpu, seq), or until `deadline` (performance.now() ms): false then. */
  private waitFor(cpu: number, seq: number, deadline: number): boolean {
    const i32 = this.cb.i32;
    const ack = cpuI32Base(cpu) + IPI_ACK;
    for (let i = 0; ; i++) {
      const s = this.status(cpu, seq);
      if (s === IDLE) this.count(K_SHOOTDOWN_IDLE_SKIPS);
      if (s !== RUNNING) return true;
      if (i >= this.spin) {
        if (performance.now() >= deadline) return false;
        Atomics.wait(i32, ack, Atomics.load(i32, ack), 1);
      }
    }
  }
}
