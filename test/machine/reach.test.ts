// TLB reach, computed analytically: a cyclic sweep over N pages with consecutive page
// numbers puts N/sets pages in each set (one more in the first N mod sets sets); with true
// LRU, a set holding k > ways pages misses on all k every sweep and one with k <= ways never.
import { describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, SIZE_1G, SIZE_2M, SIZE_4K, tlbConfig,
} from '../../machine/index.ts';
import { countersAcross, cpu, testMachine, walks } from './helpers.ts';

const FLAGS = _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
const BYTES = [4096, 2 ** 21, 2 ** 30];
const BASE = [0x7f00_0000_0000, 0x7e00_0000_0000, 0x4000_0000_0000];

/** Misses per steady-state sweep of n consecutive pages in a (sets x ways) LRU array. */
function sweepMisses(n: number, sets: number, ways: number): number {
  let misses = 0;
  for (let s = 0; s < sets; s++) {
    const k = Math.floor(n / sets) + (s < n % sets ? 1 : 0);
    if (k > ways) misses += k;
  }
  return misses;
}

/** Map n pages of `size` (all aliasing one physical page) and return a sweeping MMU. */
function sweeper(n: number, size: number, preset = 'skylake') {
  // A 1 GiB leaf must be wholly backed by RAM (untouched RAM costs nothing: it is lazy).
  const m = testMachine(size === SIZE_1G ? 2 ** 30 : 8 << 20);
  const frame = size === SIZE_1G ? 0 : m.b.allocFrame(size === SIZE_2M ? 512 : 1);
  for (let i = 0; i < n; i++) m.b.map(m.root, BASE[size] + i * BYTES[size], frame, size, FLAGS, true);
  const mmu = cpu(m, 0, { tlb: tlbConfig(preset) });
  const sweep = () => { for (let i = 0; i < n; i++) mmu.load32(BASE[size] + i * BYTES[size]); };
  sweep();
  sweep();
  return countersAcross(m, sweep);
}

describe('TLB reach (skylake preset, LRU)', () => {
  it('4 KiB pages: no L1 misses up to 64 pages, misses beyond, as the 16x4 geometry predicts', () => {
    for (const n of [1, 16, 63, 64, 65, 70, 80, 128, 300]) {
      const d = sweeper(n, SIZE_4K);
      expect(d.l1_dtlb_load_misses, `${n} pages`).toBe(sweepMisses(n, 16, 4));
      if (n <= 64) expect(d.l1_dtlb_load_misses).toBe(0);
      else expect(d.l1_dtlb_load_misses).toBeGreaterThan(0);
    }
  });

  it('4 KiB pages: no walks up to the STLB reach of 1536 pages, walks beyond', () => {
    for (const n of [65, 512, 1536, 1537, 1600, 2048]) {
      const d = sweeper(n, SIZE_4K);
      expect(walks(d), `${n} pages`).toBe(sweepMisses(n, 128, 12));
      if (n <= 1536) expect(walks(d)).toBe(0);
      else expect(walks(d)).toBeGreaterThan(0);
    }
  });

  it('2 MiB pages reach 32 x 2 MiB in L1 (8 sets x 4 ways)', () => {
    for (const n of [1, 8, 32, 33, 40, 64]) {
      const d = sweeper(n, SIZE_2M);
      expect(d.l1_dtlb_load_misses, `${n} pages`).toBe(sweepMisses(n, 8, 4));
      expect(walks(d), `${n} pages`).toBe(0);
    }
  });

  it('1 GiB pages reach 4 GiB in L1 and 16 GiB in the 1 GiB STLB', () => {
    for (const n of [4, 5, 16, 17]) {
      const d = sweeper(n, SIZE_1G);
      expect(d.l1_dtlb_load_misses, `${n} pages`).toBe(sweepMisses(n, 1, 4));
      expect(walks(d), `${n} pages`).toBe(sweepMisses(n, 4, 4));
    }
  });
});

describe('TLB reach of the other presets', () => {
  it('haswell: STLB of 1024 8-way, no 1 GiB STLB', () => {
    for (const n of [1024, 1025, 1100]) expect(walks(sweeper(n, SIZE_4K, 'haswell'))).toBe(sweepMisses(n, 128, 8));
    expect(walks(sweeper(5, SIZE_1G, 'haswell'))).toBe(5);
  });

  it('teaching: 8 fully associative entries and no STLB', () => {
    for (const n of [8, 9, 20]) {
      const d = sweeper(n, SIZE_4K, 'teaching');
      expect(walks(d), `${n} pages`).toBe(sweepMisses(n, 1, 8));
    }
  });
});
