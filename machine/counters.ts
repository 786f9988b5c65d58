// Performance-counter definitions: the names, meanings and perf aliases of every counter
// the machine keeps, and their slots in the counter areas of the control block
// (layout.ts places the areas; this file numbers the slots inside them).
//
// Compare the Intel perfmon event lists (tools/perf/pmu-events/arch/x86/skylake/
// virtual-memory.json) and Linux's skl_hw_cache_event_ids, which map perf's generic
// dTLB-load-misses to DTLB_LOAD_MISSES.WALK_COMPLETED, not to L1 dTLB misses.
//
// Threading: a CPU's counters are written only by that CPU's worker with plain stores
// (float64); the kernel and the host read them at any time. Two hot counters are int32
// (see HOT_* in layout.ts) and are folded into float64 slots before they can overflow;
// readCpuCounters combines them. Kernel counters are written only by the kernel thread.

/** Float64 counter slots of one CPU, numbered from the start of its counter area. */
export const C_LOOKUPS_FOLDED = 0;
export const C_STORES_FOLDED = 1;
export const C_LOAD_FAULTS = 2;
export const C_STORE_FAULTS = 3;
export const C_LOAD_STLB_HIT = 4;
export const C_STORE_STLB_HIT = 5;
export const C_LOAD_WALK = 6;
export const C_STORE_WALK = 7;
export const C_LOAD_WALK_4K = 8;
export const C_LOAD_WALK_2M = 9;
export const C_LOAD_WALK_1G = 10;
export const C_LOAD_WALK_FAULT = 11;
export const C_STORE_WALK_4K = 12;
export const C_STORE_WALK_2M = 13;
export const C_STORE_WALK_1G = 14;
export const C_STORE_WALK_FAULT = 15;
export const C_PML4E_LOADS = 16;
export const C_PDPTE_LOADS = 17;
export const C_PDE_LOADS = 18;
export const C_PTE_LOADS = 19;
export const C_PML4_CACHE_HIT = 20;
export const C_PDPTE_CACHE_HIT = 21;
export const C_PDE_CACHE_HIT = 22;
export const C_PDE_CACHE_MISS = 23;
export const C_WALK_FAULTS = 24;
export const C_A_SETS = 25;
export const C_D_SETS = 26;
export const C_DIRTY_REWALKS = 27;
export const C_WALK_RETRIES = 28;
export const C_PAGE_FAULTS = 29;
export const C_SPLIT_ACCESSES = 30;
export const C_INVAL_PAGE = 31;
export const C_INVAL_PCID = 32;
export const C_INVAL_NONGLOBAL = 33;
export const C_INVAL_ALL = 34;
export const C_INVAL_TLB_ENTRIES = 35;
export const C_INVAL_PSC_ENTRIES = 36;
export const C_CR3_FLUSH = 37;
export const C_CR3_NOFLUSH = 38;
export const C_IPIS = 39;
export const C_IPI_FLUSH_PAGES = 40;
export const C_IPI_FLUSH_FULL = 41;
export const C_EMU_SLOW_PATH = 42;
export const CPU_COUNTER_SLOTS = 43;

export interface CounterDef {
  /** Name as printed by `ptlab stat` and returned by readCpuCounters. */
  name: string;
  /** perf's generic event name that counts the same thing on Intel, if any. */
  perf?: string;
  /** What one count means, exactly. */
  help: string;
}

/**
 * Every CPU counter readCpuCounters returns, in print order. The `emu.` ones measure the
 * emulator, not the modeled machine.
 */
export const CPU_COUNTERS: readonly CounterDef[] = [
  { name: 'cycles', perf: 'cycles', help: 'Modeled cycles: the accesses, misses, walk entry reads and A/D updates priced by the preset\'s latencies, plus the kernel time charged to this thread (README.md, "Modeled time"); not the host\'s.' },
  { name: 'dtlb_loads', perf: 'dTLB-loads', help: 'Completed data loads (MEM_INST_RETIRED.ALL_LOADS); a load that crosses a page counts once per page; loads that fault are not counted.' },
  { name: 'dtlb_stores', perf: 'dTLB-stores', help: 'Completed data stores (MEM_INST_RETIRED.ALL_STORES), counted like dtlb_loads.' },
  { name: 'l1_dtlb_load_misses', help: 'Loads that missed the L1 dTLB: stlb_hit + miss_causes_a_walk. Hardware has no such event; derived.' },
  { name: 'l1_dtlb_store_misses', help: 'Stores that missed the L1 dTLB, derived as for loads.' },
  { name: 'dtlb_load_misses.stlb_hit', help: 'Loads that missed the L1 dTLB and hit the STLB.' },
  { name: 'dtlb_store_misses.stlb_hit', help: 'Stores that missed the L1 dTLB and hit the STLB.' },
  { name: 'dtlb_load_misses.miss_causes_a_walk', help: 'Loads that missed every TLB level and started a page walk.' },
  { name: 'dtlb_store_misses.miss_causes_a_walk', help: 'Stores that missed every TLB level and started a page walk.' },
  { name: 'dtlb_load_misses.walk_completed', perf: 'dTLB-load-misses', help: 'Load page walks completed, with or without a fault (Intel: "the page walk can end with or without a fault").' },
  { name: 'dtlb_load_misses.walk_completed_4k', help: 'Load walks that ended in a 4 KiB translation.' },
  { name: 'dtlb_load_misses.walk_completed_2m_4m', help: 'Load walks that ended in a 2 MiB translation.' },
  { name: 'dtlb_load_misses.walk_completed_1g', help: 'Load walks that ended in a 1 GiB translation.' },
  { name: 'dtlb_store_misses.walk_completed', perf: 'dTLB-store-misses', help: 'Store page walks completed, with or without a fault.' },
  { name: 'dtlb_store_misses.walk_completed_4k', help: 'Store walks that ended in a 4 KiB translation.' },
  { name: 'dtlb_store_misses.walk_completed_2m_4m', help: 'Store walks that ended in a 2 MiB translation.' },
  { name: 'dtlb_store_misses.walk_completed_1g', help: 'Store walks that ended in a 1 GiB translation.' },
  { name: 'walk_mem_refs', help: 'Paging-structure entries the walker read from memory, all levels (sum of the four below).' },
  { name: 'walk_mem_refs.pml4e', help: 'PML4 entries read by the walker.' },
  { name: 'walk_mem_refs.pdpte', help: 'PDPT entries read by the walker.' },
  { name: 'walk_mem_refs.pde', help: 'Page-directory entries read by the walker.' },
  { name: 'walk_mem_refs.pte', help: 'Page-table entries read by the walker.' },
  { name: 'psc.pml4_hit', help: 'Walks that started from the PML4-entry cache (3 entry reads left at most).' },
  { name: 'psc.pdpte_hit', help: 'Walks that started from the PDPTE cache (2 entry reads left at most).' },
  { name: 'psc.pde_hit', help: 'Walks that started from the PDE cache (1 entry read left).' },
  { name: 'psc.pde_miss', help: 'Walks that missed the PDE cache (Atom: DTLB_LOAD_MISSES.PDE_CACHE_MISS).' },
  { name: 'walk_faults', help: 'Walks (TLB-miss walks and dirty-bit re-walks) that ended in a page fault.' },
  { name: 'ad_bit_updates', help: 'Accessed and dirty bits set by the walker (a_bit_sets + d_bit_sets).' },
  { name: 'a_bit_sets', help: 'Accessed bits set by the walker with a locked read-modify-write, any level.' },
  { name: 'd_bit_sets', help: 'Dirty bits set by the walker on leaf entries.' },
  { name: 'dirty_rewalks', help: 'Stores through a TLB entry whose cached D was 0, which re-walk to set D (SDM 4.8).' },
  { name: 'walk_retries', help: 'Walks restarted because an entry changed under them (lost compare-and-swap or a concurrent frame change).' },
  { name: 'page_faults', help: 'Page-fault exceptions (#PF) raised by this CPU, including spurious ones.' },
  { name: 'split_accesses', help: 'Accesses that crossed a page boundary and were split into two translations.' },
  { name: 'tlb_inval.page', help: 'Single-address invalidations (INVLPG, INVPCID type 0, one step of a ranged IPI flush).' },
  { name: 'tlb_inval.pcid', help: 'Single-context invalidations (INVPCID type 1, a CR3 load without the no-flush bit).' },
  { name: 'tlb_inval.nonglobal', help: 'All-context invalidations that keep global entries (INVPCID type 3, CR3 load with PCIDs off).' },
  { name: 'tlb_inval.all', help: 'Invalidations of everything including global entries (INVPCID type 2, CR4.PGE toggle).' },
  { name: 'tlb_inval.entries', help: 'TLB entries (any level, any size) removed by invalidations and page faults.' },
  { name: 'tlb_inval.psc_entries', help: 'Paging-structure-cache entries removed by invalidations and page faults.' },
  { name: 'cr3.flush', help: 'CR3 loads that flushed the new context (PCIDs off, or bit 63 clear).' },
  { name: 'cr3.noflush', help: 'CR3 loads with PCIDs on and bit 63 set, which flush nothing.' },
  { name: 'irq_tlb_count', help: 'TLB-shootdown IPIs taken (the TLB row of /proc/interrupts).' },
  { name: 'ipi.flush_pages', help: 'Pages invalidated by ranged shootdown requests.' },
  { name: 'ipi.flush_full', help: 'Shootdown requests applied as whole-context or whole-TLB flushes.' },
  { name: 'emu.lookups', help: 'Emulator: data-access translations performed, including faulting ones.' },
  { name: 'emu.slow_path', help: 'Emulator: accesses that left the host-side fast cache (model misses, faults, unaligned or split accesses, pending IPIs).' },
];

/** Kernel-wide counter slots (float64, written by the kernel thread only). */
export const K_PGFAULT = 0;
export const K_PGMAJFAULT = 1;
export const K_NR_TLB_REMOTE_FLUSH = 2;
export const K_NR_TLB_REMOTE_FLUSH_RECEIVED = 3;
export const K_NR_TLB_LOCAL_FLUSH_ONE = 4;
export const K_NR_TLB_LOCAL_FLUSH_ALL = 5;
export const K_SHOOTDOWNS = 6;
export const K_SHOOTDOWN_NS_SUM = 7;
export const K_SHOOTDOWN_NS_MAX = 8;
export const K_SYSCALLS = 9;
export const K_SHOOTDOWN_TIMEOUTS = 10;
export const K_FORKS = 11;
export const K_FORK_PTES = 12;
export const K_PSWPIN = 13;
export const K_PSWPOUT = 14;
export const K_PGSCAN = 15;
export const K_PGSTEAL = 16;
export const K_ALLOCSTALL = 17;
export const K_RMAP_CALLS = 18;
export const K_RMAP_VMA_VISITS = 19;
export const K_RMAP_PTE_VISITS = 20;
export const K_RMAP_ABIT_CLEARS = 21;
export const K_RMAP_FLUSH_TARGETS = 22;
export const K_SHOOTDOWN_IDLE_SKIPS = 23;
export const K_KSWAPD_NS = 24;
export const KERNEL_COUNTER_SLOTS = 32;

export const KERNEL_COUNTERS: readonly (CounterDef & { slot: number })[] = [
  { slot: K_PGFAULT, name: 'pgfault', help: 'Page faults handled by the kernel (/proc/vmstat pgfault).' },
  { slot: K_PGMAJFAULT, name: 'pgmajfault', help: 'Page faults that needed I/O (/proc/vmstat pgmajfault).' },
  { slot: K_NR_TLB_REMOTE_FLUSH, name: 'nr_tlb_remote_flush', help: 'Shootdown requests the kernel sent to other CPUs (+1 per flush operation that had remote targets).' },
  { slot: K_NR_TLB_REMOTE_FLUSH_RECEIVED, name: 'nr_tlb_remote_flush_received', help: 'Shootdown requests received by CPUs that had the mm loaded (+1 per CPU).' },
  { slot: K_NR_TLB_LOCAL_FLUSH_ONE, name: 'nr_tlb_local_flush_one', help: 'Pages flushed one by one on the initiating CPU (counted per page, as Linux does).' },
  { slot: K_NR_TLB_LOCAL_FLUSH_ALL, name: 'nr_tlb_local_flush_all', help: 'Full flushes on the initiating CPU.' },
  { slot: K_SHOOTDOWNS, name: 'shootdowns', help: 'Shootdowns that waited for at least one remote CPU.' },
  { slot: K_SHOOTDOWN_NS_SUM, name: 'shootdown_latency_ns_sum', help: 'Total ns from posting a shootdown to the last acknowledgement.' },
  { slot: K_SHOOTDOWN_NS_MAX, name: 'shootdown_latency_ns_max', help: 'Longest single shootdown, ns.' },
  { slot: K_SYSCALLS, name: 'syscalls', help: 'System calls served.' },
  { slot: K_FORKS, name: 'forks', help: 'Address spaces copied by fork (dup_mmap), failed ones included.' },
  { slot: K_FORK_PTES, name: 'fork_ptes_copied', help: 'PTEs and huge leaves that forks copied (copy_page_range); shared mappings fault in afresh and copy none.' },
  { slot: K_PSWPIN, name: 'pswpin', help: 'Pages read from swap (/proc/vmstat pswpin).' },
  { slot: K_PSWPOUT, name: 'pswpout', help: 'Pages written to swap (/proc/vmstat pswpout).' },
  { slot: K_PGSCAN, name: 'pgscan', help: 'Pages reclaim scanned on the inactive lists, kswapd and direct (pgscan_kswapd + pgscan_direct).' },
  { slot: K_PGSTEAL, name: 'pgsteal', help: 'Pages reclaim freed (pgsteal_kswapd + pgsteal_direct).' },
  { slot: K_ALLOCSTALL, name: 'allocstall', help: 'Direct reclaims: faults that found free memory below the min watermark (allocstall_normal).' },
  { slot: K_RMAP_CALLS, name: 'rmap_walks', help: 'Reverse-map walks: reclaim\'s folio_referenced and try_to_unmap calls, and rmap_walk\'s (ptlab\'s own).' },
  { slot: K_RMAP_VMA_VISITS, name: 'rmap_vma_visits', help: 'VMAs those walks visited, the ones covering the page\'s index, and those reclaim\'s split of a huge page visited (ptlab\'s own).' },
  { slot: K_RMAP_PTE_VISITS, name: 'rmap_pte_visits', help: 'Page-table entries those walks read (ptlab\'s own).' },
  { slot: K_RMAP_ABIT_CLEARS, name: 'rmap_abit_clears', help: 'Accessed bits folio_referenced found set and cleared (ptlab\'s own).' },
  { slot: K_RMAP_FLUSH_TARGETS, name: 'rmap_flush_targets', help: 'CPUs the TLB flushes of try_to_unmap were sent to; for an mshare region every CPU of every attached process (ptlab\'s own).' },
  { slot: K_SHOOTDOWN_TIMEOUTS, name: 'shootdown_timeouts', help: 'Shootdowns that stopped waiting for a CPU running guest code without memory accesses; the frames they free are held until it acknowledges.' },
  { slot: K_SHOOTDOWN_IDLE_SKIPS, name: 'shootdown_idle_skips', help: 'CPUs a shootdown posted to but did not wait for, because they were idle in their event loop; each takes the request before its next memory access.' },
  { slot: K_KSWAPD_NS, name: 'kswapd_modeled_ns', help: 'Modeled time of kswapd\'s reclaim, ns: its work priced by the kernel cost table, charged to no process (ptlab\'s own).' },
];
