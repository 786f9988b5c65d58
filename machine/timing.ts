// The modeled clock: cycles a CPU spent, as a linear combination of the counters it already
// keeps, plus the kernel time the kernel charged to its thread.
//
// Nothing is added to the access path: a hit, a miss, a walk and each entry it reads are
// counted anyway (counters.ts), so their cycles are the counts times the preset's latencies
// (tlbconfig.ts, TlbLatencies), computed when the counters are read. The kernel charges
// its own work in ns into the CPU's CPU_KERNEL_NS slot (kernel/timing.ts); the IPIs a CPU
// takes are priced here with the kernel's costs, which it writes at boot. The machine's
// clock on a CPU is CPU_CLOCK_START (the creator's clock when the thread started) plus the
// cycles. See README.md, "Modeled time".

import {
  type ControlBlock, CPU_CLOCK_START, CPU_KERNEL_NS, CPU_MODEL_F64, cpuF64Base, MODEL_F64, P_ACCESS, P_AD_UPDATE,
  P_FLUSH_FULL_NS, P_FLUSH_PAGE_NS, P_GHZ, P_IPI_RECEIVE_NS, P_REF_PDE, P_REF_PDPTE, P_REF_PML4E, P_REF_PTE,
  P_STLB_HIT, P_WALK,
} from './layout.ts';
import type { TlbLatencies } from './tlbconfig.ts';

/** The costs of taking a shootdown IPI, ns (the kernel's cost table has them). */
export interface IpiCosts {
  /** Interrupt entry and exit of one shootdown IPI on the receiving CPU. */
  ipiReceive: number;
  /** Each page a ranged shootdown invalidates (INVLPG). */
  flushPage: number;
  /** A shootdown applied as a whole-context flush. */
  flushFull: number;
}

/** Publish a preset's latencies (every Mmu does, for its CPU's counters). */
export function writeLatencies(cb: ControlBlock, l: TlbLatencies): void {
  const f = cb.f64;
  f[MODEL_F64 + P_GHZ] = l.ghz;
  f[MODEL_F64 + P_ACCESS] = l.access;
  f[MODEL_F64 + P_STLB_HIT] = l.stlbHit;
  f[MODEL_F64 + P_WALK] = l.walk;
  f[MODEL_F64 + P_REF_PML4E] = l.refPml4e;
  f[MODEL_F64 + P_REF_PDPTE] = l.refPdpte;
  f[MODEL_F64 + P_REF_PDE] = l.refPde;
  f[MODEL_F64 + P_REF_PTE] = l.refPte;
  f[MODEL_F64 + P_AD_UPDATE] = l.adUpdate;
}

/** Publish the kernel's IPI costs (the kernel does, at boot). */
export function writeIpiCosts(cb: ControlBlock, c: IpiCosts): void {
  cb.f64[MODEL_F64 + P_IPI_RECEIVE_NS] = c.ipiReceive;
  cb.f64[MODEL_F64 + P_FLUSH_PAGE_NS] = c.flushPage;
  cb.f64[MODEL_F64 + P_FLUSH_FULL_NS] = c.flushFull;
}

/** The modeled clock rate, GHz (0 before any Mmu was built). */
export function modelGhz(cb: ControlBlock): number {
  return cb.f64[MODEL_F64 + P_GHZ];
}

/**
 * Cycles of a CPU's thread from its counters (readCpuCounters' names) and the kernel time
 * charged to it. Rounded to whole cycles.
 */
export function modeledCycles(cb: ControlBlock, cpu: number, v: Readonly<Record<string, number>>): number {
  const f = cb.f64;
  const p = (slot: number) => f[MODEL_F64 + slot];
  const user = p(P_ACCESS) * (v.dtlb_loads + v.dtlb_stores) +
    p(P_STLB_HIT) * (v['dtlb_load_misses.stlb_hit'] + v['dtlb_store_misses.stlb_hit']) +
    p(P_WALK) * (v['dtlb_load_misses.miss_causes_a_walk'] + v['dtlb_store_misses.miss_causes_a_walk']) +
    p(P_REF_PML4E) * v['walk_mem_refs.pml4e'] + p(P_REF_PDPTE) * v['walk_mem_refs.pdpte'] +
    p(P_REF_PDE) * v['walk_mem_refs.pde'] + p(P_REF_PTE) * v['walk_mem_refs.pte'] +
    p(P_AD_UPDATE) * v.ad_bit_updates;
  const ns = f[cpuF64Base(cpu) + CPU_MODEL_F64 + CPU_KERNEL_NS] + p(P_IPI_RECEIVE_NS) * v.irq_tlb_count +
    p(P_FLUSH_PAGE_NS) * v['ipi.flush_pages'] + p(P_FLUSH_FULL_NS) * v['ipi.flush_full'];
  return Math.round(user + ns * p(P_GHZ));
}

/** The machine clock when CPU `cpu`'s thread started, cycles. */
export function clockStart(cb: ControlBlock, cpu: number): number {
  return cb.f64[cpuF64Base(cpu) + CPU_MODEL_F64 + CPU_CLOCK_START];
}

/**
 * A thread starts on `cpu` at machine clock `start` (cycles) with `ns` of kernel time already
 * spent on it (the kernel, as it gives the CPU a thread).
 */
export function startClock(cb: ControlBlock, cpu: number, start: number, ns: number): void {
  const b = cpuF64Base(cpu) + CPU_MODEL_F64;
  cb.f64[b + CPU_CLOCK_START] = start;
  cb.f64[b + CPU_KERNEL_NS] = ns;
}

/** Charge `ns` of kernel time to the thread on `cpu` (the kernel thread only). */
export function chargeKernelNs(cb: ControlBlock, cpu: number, ns: number): void {
  cb.f64[cpuF64Base(cpu) + CPU_MODEL_F64 + CPU_KERNEL_NS] += ns;
}
