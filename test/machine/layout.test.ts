import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as machine from '../../machine/index.ts';
import {
  ControlBlock, controlBlockBytes, CPU_BLOCK_BYTES, CPU_COUNTER_SLOTS, CPU_COUNTERS,
  CPU_COUNTERS_F64, CPU_I32_WORDS, cpuF64Base, cpuI32Base, GLOBAL_I32_WORDS, KCOUNTERS_F64,
  KERNEL_COUNTER_SLOTS, KERNEL_COUNTERS, readCpuCounters, readKernelCounters,
} from '../../machine/index.ts';

const I32_FIELDS = ['CPU_STATE', 'CPU_CR3_PFN', 'CPU_PCID', 'IPI_PENDING', 'IPI_SEQ', 'IPI_ACK', 'IPI_KIND',
  'IPI_PCID', 'IPI_STRIDE_SHIFT', 'CPU_SLEEPING', 'HOT_CLOCK', 'HOT_STORES'];
const GLOBAL_FIELDS = ['G_MAGIC', 'G_NR_CPUS', 'G_DOORBELL', 'G_KSLEEP', 'G_PTE_SEQ', 'G_HALT'];
const value = (name: string) => (machine as unknown as Record<string, number>)[name];

describe('control-block layout', () => {
  it('gives every field its own word, inside its area', () => {
    const globals = GLOBAL_FIELDS.map(value);
    expect(new Set(globals).size).toBe(globals.length);
    for (const g of globals) expect(g).toBeLessThan(GLOBAL_I32_WORDS);
    const words = I32_FIELDS.map(value);
    expect(new Set(words).size).toBe(words.length);
    for (const w of words) expect(w).toBeLessThan(CPU_I32_WORDS);
    // The doorbell does not share a line with G_PTE_SEQ, which every walk reads.
    expect(Math.floor(value('G_DOORBELL') / 16)).not.toBe(Math.floor(value('G_PTE_SEQ') / 16));
    // Hot counters sit on their own 64-byte line, apart from the handshake words.
    expect(Math.floor(value('HOT_CLOCK') / 16)).not.toBe(Math.floor(value('IPI_PENDING') / 16));
    // float64 slots: the syscall line (handshake and number in slot 0, args, return), the IPI
    // range, then the counters.
    const slots = [0, 1, 2, 3, 4, 5].map((k) => value('CPU_ARGS') + k)
      .concat(['CPU_RET', 'IPI_START', 'IPI_END'].map(value));
    expect(new Set([0, ...slots]).size).toBe(slots.length + 1);
    for (const s of slots) expect(s).toBeLessThan(CPU_COUNTERS_F64);
    // The whole request and its answer share one 64-byte line.
    const lineOf = (i32Index: number) => Math.floor(i32Index / 16);
    const f64Line = (slot: number) => lineOf(CPU_I32_WORDS + slot * 2);
    expect(lineOf(value('CPU_REQ'))).toBe(f64Line(0));
    expect(lineOf(value('CPU_SYSNO'))).toBe(f64Line(0));
    for (let k = 0; k < 6; k++) expect(f64Line(value('CPU_ARGS') + k)).toBe(f64Line(0));
    expect(f64Line(value('CPU_RET'))).toBe(f64Line(0));
    expect(CPU_I32_WORDS * 4 + (CPU_COUNTERS_F64 + CPU_COUNTER_SLOTS) * 8).toBeLessThanOrEqual(CPU_BLOCK_BYTES);
    expect(CPU_BLOCK_BYTES % 128).toBe(0);
    expect((KCOUNTERS_F64 + KERNEL_COUNTER_SLOTS) * 8).toBeLessThanOrEqual(cpuI32Base(0) * 4);
  });

  it('keeps CPU blocks disjoint and inside the buffer', () => {
    const cb = ControlBlock.create(3);
    expect(cb.buffer.byteLength).toBeGreaterThanOrEqual(controlBlockBytes(3));
    for (let c = 0; c < 3; c++) {
      expect(cpuF64Base(c) * 8).toBe(cpuI32Base(c) * 4 + CPU_I32_WORDS * 4);
      const end = cpuI32Base(c) * 4 + CPU_BLOCK_BYTES;
      if (c < 2) expect(end).toBe(cpuI32Base(c + 1) * 4);
      else expect(end).toBe(controlBlockBytes(3));
    }
  });

  it('reads the counters of one CPU without touching another', () => {
    const cb = ControlBlock.create(2);
    cb.f64[cpuF64Base(1) + CPU_COUNTERS_F64 + machine.C_PAGE_FAULTS] = 5;
    expect(readCpuCounters(cb, 1).page_faults).toBe(5);
    expect(readCpuCounters(cb, 0).page_faults).toBe(0);
    cb.f64[cb.kernelCounterIndex(machine.K_PGFAULT)] = 7;
    expect(readKernelCounters(cb).pgfault).toBe(7);
  });

  it('documents every counter it reports, once', () => {
    const names = Object.keys(readCpuCounters(ControlBlock.create(1), 0));
    expect(names).toEqual(CPU_COUNTERS.map((d) => d.name));
    for (const d of [...CPU_COUNTERS, ...KERNEL_COUNTERS]) expect(d.help, d.name).toMatch(/^[A-Z].{15,}\./);
    expect(new Set(KERNEL_COUNTERS.map((d) => d.slot)).size).toBe(KERNEL_COUNTERS.length);
    expect(Object.keys(readKernelCounters(ControlBlock.create(1)))).toEqual(KERNEL_COUNTERS.map((d) => d.name));
    const readme = readFileSync(new URL('../../machine/README.md', import.meta.url), 'utf8');
    for (const d of [...CPU_COUNTERS, ...KERNEL_COUNTERS]) expect(readme, d.name).toContain(`| \`${d.name}\` |`);
  });

  it('refuses a buffer that is not a control block', () => {
    expect(() => ControlBlock.fromBuffer(new SharedArrayBuffer(4096))).toThrow(/control block/);
    const cb = ControlBlock.create(2);
    expect(ControlBlock.fromBuffer(cb.buffer).nrCpus).toBe(2);
  });
});
