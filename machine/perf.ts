// Reading a CPU's performance counters from the control block, with the derived values
// (dtlb_loads, walk_completed, ...) computed the way counters.ts documents them.
//
// Compare perf stat reading PMU counters. Safe from any thread at any time; values read
// while the CPU runs may lag by the accesses in flight (and, during the rare fold of the
// int32 access clock, be off by one fold for an instant).

import {
  C_A_SETS, C_CR3_FLUSH, C_CR3_NOFLUSH, C_D_SETS, C_DIRTY_REWALKS, C_EMU_SLOW_PATH,
  C_INVAL_ALL, C_INVAL_NONGLOBAL, C_INVAL_PAGE, C_INVAL_PCID, C_INVAL_PSC_ENTRIES,
  C_INVAL_TLB_ENTRIES, C_IPI_FLUSH_FULL, C_IPI_FLUSH_PAGES, C_IPIS, C_LOAD_FAULTS,
  C_LOAD_STLB_HIT, C_LOAD_WALK, C_LOAD_WALK_1G, C_LOAD_WALK_2M, C_LOAD_WALK_4K,
  C_LOAD_WALK_FAULT, C_LOOKUPS_FOLDED, C_PAGE_FAULTS, C_PDE_CACHE_HIT, C_PDE_CACHE_MISS,
  C_PDE_LOADS, C_PDPTE_CACHE_HIT, C_PDPTE_LOADS, C_PML4_CACHE_HIT, C_PML4E_LOADS,
  C_PTE_LOADS, C_SPLIT_ACCESSES, C_STORE_FAULTS, C_STORE_STLB_HIT, C_STORE_WALK,
  C_STORE_WALK_1G, C_STORE_WALK_2M, C_STORE_WALK_4K, C_STORE_WALK_FAULT, C_STORES_FOLDED,
  C_WALK_FAULTS, C_WALK_RETRIES, CPU_COUNTERS, KERNEL_COUNTERS,
} from './counters.ts';
import {
  type ControlBlock, CPU_COUNTERS_F64, cpuF64Base, cpuI32Base, HOT_CLOCK, HOT_STORES,
  KCOUNTERS_F64,
} from './layout.ts';
import { CLOCK_BASE } from './mmu.ts';
import { clockStart, modeledCycles } from './timing.ts';

/** Counter name -> value; the names are those of CPU_COUNTERS. */
export type CounterValues = Record<string, number>;

/** Every counter of CPU `cpu`, by name (CPU_COUNTERS order). */
export function readCpuCounters(control: ControlBlock, cpu: number): CounterValues {
  const f = control.f64;
  const b = cpuF64Base(cpu) + CPU_COUNTERS_F64;
  const c = (slot: number) => f[b + slot];
  const clock = control.i32[cpuI32Base(cpu) + HOT_CLOCK];
  const lookups = c(C_LOOKUPS_FOLDED) + Math.max(0, clock - CLOCK_BASE);
  const stores = c(C_STORES_FOLDED) + control.i32[cpuI32Base(cpu) + HOT_STORES];
  const loadWalkDone = c(C_LOAD_WALK_4K) + c(C_LOAD_WALK_2M) + c(C_LOAD_WALK_1G) + c(C_LOAD_WALK_FAULT);
  const storeWalkDone = c(C_STORE_WALK_4K) + c(C_STORE_WALK_2M) + c(C_STORE_WALK_1G) + c(C_STORE_WALK_FAULT);
  const values: CounterValues = {
    cycles: 0,
    dtlb_loads: lookups - stores - c(C_LOAD_FAULTS),
    dtlb_stores: stores - c(C_STORE_FAULTS),
    l1_dtlb_load_misses: c(C_LOAD_STLB_HIT) + c(C_LOAD_WALK),
    l1_dtlb_store_misses: c(C_STORE_STLB_HIT) + c(C_STORE_WALK),
    'dtlb_load_misses.stlb_hit': c(C_LOAD_STLB_HIT),
    'dtlb_store_misses.stlb_hit': c(C_STORE_STLB_HIT),
    'dtlb_load_misses.miss_causes_a_walk': c(C_LOAD_WALK),
    'dtlb_store_misses.miss_causes_a_walk': c(C_STORE_WALK),
    'dtlb_load_misses.walk_completed': loadWalkDone,
    'dtlb_load_misses.walk_completed_4k': c(C_LOAD_WALK_4K),
    'dtlb_load_misses.walk_completed_2m_4m': c(C_LOAD_WALK_2M),
    'dtlb_load_misses.walk_completed_1g': c(C_LOAD_WALK_1G),
    'dtlb_store_misses.walk_completed': storeWalkDone,
    'dtlb_store_misses.walk_completed_4k': c(C_STORE_WALK_4K),
    'dtlb_store_misses.walk_completed_2m_4m': c(C_STORE_WALK_2M),
    'dtlb_store_misses.walk_completed_1g': c(C_STORE_WALK_1G),
    walk_mem_refs: c(C_PML4E_LOADS) + c(C_PDPTE_LOADS) + c(C_PDE_LOADS) + c(C_PTE_LOADS),
    'walk_mem_refs.pml4e': c(C_PML4E_LOADS),
    'walk_mem_refs.pdpte': c(C_PDPTE_LOADS),
    'walk_mem_refs.pde': c(C_PDE_LOADS),
    'walk_mem_refs.pte': c(C_PTE_LOADS),
    'psc.pml4_hit': c(C_PML4_CACHE_HIT),
    'psc.pdpte_hit': c(C_PDPTE_CACHE_HIT),
    'psc.pde_hit': c(C_PDE_CACHE_HIT),
    'psc.pde_miss': c(C_PDE_CACHE_MISS),
    walk_faults: c(C_WALK_FAULTS),
    ad_bit_updates: c(C_A_SETS) + c(C_D_SETS),
    a_bit_sets: c(C_A_SETS),
    d_bit_sets: c(C_D_SETS),
    dirty_rewalks: c(C_DIRTY_REWALKS),
    walk_retries: c(C_WALK_RETRIES),
    page_faults: c(C_PAGE_FAULTS),
    split_accesses: c(C_SPLIT_ACCESSES),
    'tlb_inval.page': c(C_INVAL_PAGE),
    'tlb_inval.pcid': c(C_INVAL_PCID),
    'tlb_inval.nonglobal': c(C_INVAL_NONGLOBAL),
    'tlb_inval.all': c(C_INVAL_ALL),
    'tlb_inval.entries': c(C_INVAL_TLB_ENTRIES),
    'tlb_inval.psc_entries': c(C_INVAL_PSC_ENTRIES),
    'cr3.flush': c(C_CR3_FLUSH),
    'cr3.noflush': c(C_CR3_NOFLUSH),
    irq_tlb_count: c(C_IPIS),
    'ipi.flush_pages': c(C_IPI_FLUSH_PAGES),
    'ipi.flush_full': c(C_IPI_FLUSH_FULL),
    'emu.lookups': lookups,
    'emu.slow_path': c(C_EMU_SLOW_PATH),
  };
  values.cycles = modeledCycles(control, cpu, values);
  for (const def of CPU_COUNTERS) {
    if (!(def.name in values)) throw new Error(`readCpuCounters: no value for ${def.name}`);
  }
  return values;
}

/**
 * The machine's modeled clock on CPU `cpu`, cycles: when its thread started plus the cycles
 * it has spent (README.md, "Modeled time").
 */
export function readCpuClock(control: ControlBlock, cpu: number): number {
  return clockStart(control, cpu) + readCpuCounters(control, cpu).cycles;
}

/** perf's generic event names mapped to ptlab counter names (Intel semantics). */
export const PERF_ALIASES: Readonly<Record<string, string>> = Object.fromEntries(
  CPU_COUNTERS.filter((d) => d.perf !== undefined).map((d) => [d.perf!, d.name]),
);

/** Every kernel counter, by name. */
export function readKernelCounters(control: ControlBlock): CounterValues {
  const out: CounterValues = {};
  for (const k of KERNEL_COUNTERS) out[k.name] = control.f64[KCOUNTERS_F64 + k.slot];
  return out;
}
