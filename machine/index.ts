// machine/: the emulated hardware. Physical memory, the control-block layout, the x86-64
// paging-structure format, the page walker, the TLB model, the MMU, performance counters
// and the shootdown mailbox. No kernel logic lives here. See README.md.

export * from './physmem.ts';
export * from './layout.ts';
export * from './counters.ts';
export * from './pte.ts';
export { PageTableOps, entryWord, levelIndex } from './pgtable.ts';
export { PageTableBuilder } from './ptbuilder.ts';
export * from './walker.ts';
export { TlbArray, POLICY_LRU, POLICY_PLRU, POLICY_RANDOM, type PolicyName } from './tlbarray.ts';
export * from './tlbconfig.ts';
export * from './timing.ts';
export { Tlb } from './tlb.ts';
export { Mmu, PageFaultError, FAST_SLOTS, FAULT_GP, CLOCK_BASE, FOLD_AT, foldClock, type MmuOptions, type PageFaultHandler } from './mmu.ts';
export { readCpuClock, readCpuCounters, readKernelCounters, PERF_ALIASES, type CounterValues } from './perf.ts';
export { postFlush, flushAcked, waitFlushAcked, mergeFlush, type FlushRequest } from './ipi.ts';
export * from './traceformat.ts';
export { RecordingMmu } from './tracerec.ts';
export * from './tsworker.ts';
export * from './ring.ts';
export * from './doorbell.ts';
