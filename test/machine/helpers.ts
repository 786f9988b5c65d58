// Test harness for machine/: a small machine with a page-table builder, and helpers to
// map pages and read entries.

import {
  ControlBlock, Mmu, PageTableBuilder, PageTableOps, PhysMem, readCpuCounters, type MmuOptions,
} from '../../machine/index.ts';

export interface TestMachine {
  mem: PhysMem;
  cb: ControlBlock;
  ops: PageTableOps;
  b: PageTableBuilder;
  root: number;
}

/** A machine of `bytes` RAM and `nrCpus` CPU slots with an empty PML4. */
export function testMachine(bytes = 64 << 20, nrCpus = 2): TestMachine {
  const mem = PhysMem.create(bytes);
  const cb = ControlBlock.create(nrCpus);
  const ops = new PageTableOps(mem, cb);
  const b = new PageTableBuilder(ops);
  return { mem, cb, ops, b, root: b.newRoot() };
}

/** An MMU for CPU `cpu` of `m`, with CR3 loaded. */
export function cpu(m: TestMachine, cpuIndex = 0, options: MmuOptions = {}): Mmu {
  const mmu = new Mmu(m.mem, m.cb, cpuIndex, options);
  mmu.loadCr3(m.root);
  return mmu;
}

export const UVA = 0x7f12_3456_0000;

/** Counter deltas of CPU `cpuIndex` across `fn`. */
export function countersAcross(m: TestMachine, fn: () => void, cpuIndex = 0): Record<string, number> {
  const before = readCpuCounters(m.cb, cpuIndex);
  fn();
  const after = readCpuCounters(m.cb, cpuIndex);
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) out[k] = after[k] - before[k];
  return out;
}

/** Walks (loads and stores) in a counter delta. */
export function walks(d: Record<string, number>): number {
  return d['dtlb_load_misses.walk_completed'] + d['dtlb_store_misses.walk_completed'];
}
