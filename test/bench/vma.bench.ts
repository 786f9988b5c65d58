// VMA-index benchmarks (DESIGN.md section 8): mmap+munmap of one page with 100,000 VMAs
// present against the same with 100 (target <= 3x), and the fault path's VMA lookup at both
// sizes (no target). Kernel code driven directly, without threads. Each row alternates the
// two sizes within rounds and goes to the table printed at the end (report.ts).

import { bench, describe } from 'vitest';
import { firstCallOnly, ONCE, pairedRounds, recordRow, timePerCall } from './report.ts';
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

const ROUNDS = 7;
const SLICES = 4;
const SLICE_MS = 25;

describe('VMA index', () => {
  bench('mmap + munmap of one page, 100,000 VMAs against 100', firstCallOnly(async () => {
    const r = await pairedRounds(ROUNDS, () => timePerCall(() => mapUnmap(small.mm), SLICE_MS), () => timePerCall(() => mapUnmap(large.mm), SLICE_MS), SLICES);
    recordRow({ order: 50, what: 'mmap + munmap of one page with 100,000 VMAs present', refName: 'the same with 100 VMAs', unit: 'time', ...r, target: 3 });
  }), ONCE);
  bench('fault-path VMA lookup, 100,000 VMAs against 100', firstCallOnly(async () => {
    const per = (w: { mm: Mm; addrs: Float64Array }) => () => timePerCall(() => lookups(w.mm, w.addrs), SLICE_MS) / 1000;
    const r = await pairedRounds(ROUNDS, per(small), per(large), SLICES);
    recordRow({ order: 51, what: 'fault-path VMA lookup with 100,000 VMAs (no target)', refName: 'the same with 100 VMAs', unit: 'time', ...r });
  }), ONCE);
});

export { sink };
