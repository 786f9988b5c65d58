// VMA-index benchmarks (DESIGN.md section 8): mmap+munmap of one page with 100,000 VMAs
// present against the same with 100 (target <= 3x), and the fault path's VMA lookup at both
// sizes. Kernel code driven directly, without threads.

import { bench, describe } from 'vitest';
import { ControlBlock, PhysMem } from '../../machine/index.ts';
import { type Mm } from '../../kernel/mm/mm.ts';
import { sysMmap } from '../../kernel/mm/mmap.ts';
import * as U from '../../kernel/uapi.ts';
import { newMm } from '../harness/kernel.ts';
import { Kmm } from '../../kernel/mm/kmm.ts';
import { sysMunmap } from '../../kernel/mm/munmap.ts';

const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const k = new Kmm(PhysMem.create(64 << 20), ControlBlock.create(1));
k.vm.maxMapCount = 200_000; // sysctl vm.max_map_count=200000, as a user would for this

/** An mm with n one-page VMAs (alternating protections, so none merge). */
function mmWith(n: number): { mm: Mm; addrs: Float64Array } {
  const mm = newMm(k);
  const addrs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    addrs[i] = sysMmap(k, mm, 0, 4096, i % 2 === 0 ? U.PROT_READ : U.PROT_READ | U.PROT_WRITE, ANON, -1, 0, -1);
  }
  if (mm.vmas.count !== n) throw new Error(`expected ${n} VMAs, have ${mm.vmas.count}`);
  return { mm, addrs };
}

const small = mmWith(100);
const large = mmWith(100_000);
const opts = { time: 1500, warmupTime: 200 };

function mapUnmap(mm: Mm): void {
  const p = sysMmap(k, mm, 0, 4096, U.PROT_READ | U.PROT_WRITE, ANON, -1, 0, -1);
  sysMunmap(k, mm, p, 4096, -1);
}

let sink = 0;
function lookups(mm: Mm, addrs: Float64Array): void {
  let x = 12345;
  for (let i = 0; i < 1000; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    if (mm.vmas.find(addrs[x % addrs.length] + 100) !== null) sink++;
  }
}

describe('mmap + munmap of one page (target: 100,000 VMAs <= 3x 100 VMAs)', () => {
  bench('100 VMAs present', () => mapUnmap(small.mm), opts);
  bench('100,000 VMAs present', () => mapUnmap(large.mm), opts);
});

describe('fault-path VMA lookup, 1000 random addresses', () => {
  bench('100 VMAs', () => lookups(small.mm, small.addrs), opts);
  bench('100,000 VMAs', () => lookups(large.mm, large.addrs), opts);
});

export { sink };
