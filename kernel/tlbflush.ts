// TLB shootdowns (compare arch/x86/mm/tlb.c: flush_tlb_mm_range, native_flush_tlb_multi).
//
// An mm may be cached by the TLB of every CPU that runs one of its threads (Mm.cpus; a CPU
// runs one thread for its whole life, so no lazy-TLB switching is needed). Changing or
// removing a translation posts a flush to each of those CPUs and waits until every CPU that
// is running guest code has acknowledged it. CPUs in the kernel (blocked in a syscall or a
// fault, including the initiator) need no wait: they take pending flushes before they
// return to guest code. Frames and page tables freed by the operation are released by the
// caller only after flush() returns (the mmu_gather rule), so no stale translation can
// reach a reused frame.
//
// Ranges of up to FLUSH_CEILING pages are flushed page by page, larger ones as a whole PCID
// (Linux's tlb_single_page_flush_ceiling, 33).

import {
  type ControlBlock, CPU_STATE, CPU_USER, cpuI32Base, FLUSH_PCID, FLUSH_RANGE, flushAcked,
  IPI_ACK, K_NR_TLB_LOCAL_FLUSH_ALL, K_NR_TLB_LOCAL_FLUSH_ONE, K_NR_TLB_REMOTE_FLUSH,
  K_NR_TLB_REMOTE_FLUSH_RECEIVED, K_SHOOTDOWN_NS_MAX, K_SHOOTDOWN_NS_SUM, K_SHOOTDOWNS, postFlush,
} from '../machine/index.ts';

export const FLUSH_CEILING = 33;

export class TlbFlusher {
  private readonly cb: ControlBlock;
  private readonly k: Float64Array;
  /** Spins on an acknowledgement before sleeping on it. */
  spin = 2000;

  constructor(cb: ControlBlock) {
    this.cb = cb;
    this.k = cb.f64;
  }

  private count(slot: number, n = 1): void {
    this.k[this.cb.kernelCounterIndex(slot)] += n;
  }

  /**
   * Flush [start, end) of the mm cached on `cpus`; `initiator` is the CPU whose syscall or
   * fault caused it (-1 for none). Returns when every CPU running guest code acknowledged.
   */
  flushRange(cpus: Iterable<number>, start: number, end: number, initiator: number): void {
    const pages = Math.ceil((end - start) / 4096);
    if (pages <= 0) return;
    const req = pages <= FLUSH_CEILING
      ? { kind: FLUSH_RANGE, pcid: 0, start, end, strideShift: 12 }
      : { kind: FLUSH_PCID, pcid: 0, start: 0, end: 0, strideShift: 12 };
    const t0 = performance.now();
    const waits: [number, number][] = [];
    let remote = 0;
    for (const cpu of cpus) {
      const seq = postFlush(this.cb, cpu, req);
      if (cpu === initiator) {
        if (req.kind === FLUSH_RANGE) this.count(K_NR_TLB_LOCAL_FLUSH_ONE, pages);
        else this.count(K_NR_TLB_LOCAL_FLUSH_ALL);
        continue;
      }
      remote++;
      waits.push([cpu, seq]);
    }
    if (remote === 0) return;
    this.count(K_NR_TLB_REMOTE_FLUSH);
    this.count(K_NR_TLB_REMOTE_FLUSH_RECEIVED, remote);
    for (const [cpu, seq] of waits) this.waitFor(cpu, seq);
    const ns = (performance.now() - t0) * 1e6;
    this.count(K_SHOOTDOWNS);
    this.count(K_SHOOTDOWN_NS_SUM, ns);
    const maxIdx = this.cb.kernelCounterIndex(K_SHOOTDOWN_NS_MAX);
    if (ns > this.k[maxIdx]) this.k[maxIdx] = ns;
  }

  /** Wait until `cpu` acknowledged `seq` or is in the kernel (or offline). */
  private waitFor(cpu: number, seq: number): void {
    const i32 = this.cb.i32;
    const base = cpuI32Base(cpu);
    for (let i = 0; ; i++) {
      if (flushAcked(this.cb, cpu, seq)) return;
      if (Atomics.load(i32, base + CPU_STATE) !== CPU_USER) return; // in the kernel or offline: it flushes before it runs guest code
      if (i >= this.spin) Atomics.wait(i32, base + IPI_ACK, Atomics.load(i32, base + IPI_ACK), 1);
    }
  }
}
