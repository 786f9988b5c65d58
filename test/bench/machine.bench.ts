// Machine benchmarks: the cost of a guest memory access through the MMU, against the raw
// host operation measured in the same run (DESIGN.md section 8). Run with `npm run bench`:
// each row is measured in rounds, the machine loop and its reference alternating in short
// slices within each round, and goes to the table printed at the end (report.ts).
//
//   TLB-hit load/store    target <= 3x a raw Int32Array access in the same loop
//   TLB miss + page walk  target <= 15x a TLB hit
//
// Every virtual page aliases a few physical frames, so host cache misses on guest data do
// not blur the numbers: what is measured is the emulation.

import { bench, describe } from 'vitest';
import { firstCallOnly, ONCE, pairedRounds, recordRow, timePerCall } from './report.ts';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, ControlBlock, Mmu, PageTableBuilder,
  PageTableOps, PhysMem, SIZE_4K, tlbConfig,
} from '../../machine/index.ts';

const FLAGS = _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
const ACCESSES = 1 << 16;
const HIT_PAGES = 16; // well inside the 64-entry L1 dTLB
const BASE = 0x7f00_0000_0000;

function machine(bytes: number) {
  const mem = PhysMem.create(bytes);
  const cb = ControlBlock.create(1);
  const b = new PageTableBuilder(new PageTableOps(mem, cb));
  return { mem, cb, b, root: b.newRoot() };
}

// --- hits: 16 pages, the same 64 KiB on both sides -----------------------------------------
const hitM = machine(16 << 20);
const hitFrames = hitM.b.mapFresh(hitM.root, BASE, HIT_PAGES, FLAGS);
const hitMmu = new Mmu(hitM.mem, hitM.cb, 0, { tlb: tlbConfig('skylake') });
hitMmu.loadCr3(hitM.root);
const raw = hitM.mem.i32;
const rawBase = hitFrames * 1024;
const WORDS = HIT_PAGES * 1024;
let sink = 0;

// --- misses: every access misses L1 and STLB (a cyclic sweep far beyond their reach) ------
// 8192 consecutive pages (16 page tables), 16 frames behind them. With the PDE cache the
// walk reads one entry; "4-level" spreads pages over 64 PML4 slots and 128 PDPT slots each so
// the paging-structure caches miss too and every walk reads four entries.
const MISS_PAGES = 8192;
const missM = machine(256 << 20);
const missFrame = missM.b.allocFrame(16);
const pscVa: number[] = [];
const fullVa: number[] = [];
for (let i = 0; i < MISS_PAGES; i++) {
  const va = BASE + i * 4096;
  missM.b.map(missM.root, va, missFrame + (i & 15), SIZE_4K, FLAGS, true);
  pscVa.push(va);
  const full = 2 ** 39 * (1 + (i & 63)) + 2 ** 30 * ((i >> 6) & 127) + 2 ** 21 * (i >> 13);
  missM.b.map(missM.root, full, missFrame + (i & 15), SIZE_4K, FLAGS, true);
  fullVa.push(full);
}
const missMmu = new Mmu(missM.mem, missM.cb, 0, { tlb: tlbConfig('skylake') });
missMmu.loadCr3(missM.root);
const pscVas = Float64Array.from(pscVa);
const fullVas = Float64Array.from(fullVa);

const ROUNDS = 7;
const SLICES = 6;
const SLICE_MS = 12;

/** ms per guest access of a loop over ACCESSES accesses, timed for ROUND_MS. */
const perAccess = (loop: () => void) => () => timePerCall(loop, SLICE_MS) / ACCESSES;

function rawLoads(): void {
  let s = 0;
  for (let i = 0; i < ACCESSES; i++) s += raw[rawBase + (i & (WORDS - 1))];
  sink += s;
}

function rawStores(): void {
  for (let i = 0; i < ACCESSES; i++) raw[rawBase + (i & (WORDS - 1))] = i;
}

function hitStores(): void {
  for (let i = 0; i < ACCESSES; i++) hitMmu.store32(BASE + ((i & (WORDS - 1)) << 2), i);
}

function hitLoads(): void {
  let s = 0;
  for (let i = 0; i < ACCESSES; i++) s += hitMmu.load32(BASE + ((i & (WORDS - 1)) << 2));
  sink += s;
}

function missLoads(vas: Float64Array): void {
  let s = 0;
  for (let i = 0; i < ACCESSES; i++) s += missMmu.load32(vas[i & (MISS_PAGES - 1)]);
  sink += s;
}

function row(order: number, what: string, refName: string, target: number, ref: () => void, subject: () => void): () => Promise<void> {
  return firstCallOnly(async () => {
    const r = await pairedRounds(ROUNDS, perAccess(ref), perAccess(subject), SLICES);
    recordRow({ order, what, refName, unit: 'time', ...r, target });
  });
}

describe('TLB hit (target: machine <= 3x raw, loads and stores)', () => {
  bench('load32, L1 dTLB hit, against a raw Int32Array load', row(10, 'TLB-hit load32 (L1 dTLB, 16 pages)', 'raw Int32Array load', 3, rawLoads, hitLoads), ONCE);
  bench('store32, L1 dTLB hit, against a raw Int32Array store', row(11, 'TLB-hit store32 (L1 dTLB, 16 pages)', 'raw Int32Array store', 3, rawStores, hitStores), ONCE);
});

describe('TLB miss with a page walk (target: miss <= 15x hit)', () => {
  bench('load32, STLB miss, walk from the PDE cache (1 entry read)', row(20, 'TLB miss, walk from the PDE cache (1 entry read)', 'load32 TLB hit', 15, hitLoads, () => missLoads(pscVas)), ONCE);
  bench('load32, STLB miss, full 4-level walk (4 entry reads)', row(21, 'TLB miss, full 4-level walk (4 entry reads)', 'load32 TLB hit', 15, hitLoads, () => missLoads(fullVas)), ONCE);
});

export { sink };
