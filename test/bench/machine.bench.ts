// Machine benchmarks: the cost of a guest memory access through the MMU, against the raw
// host operation measured in the same run (DESIGN.md section 8). Run with
// `npx vitest bench --run test/bench/machine.bench.ts` (or `npm run bench`): the rows go to
// the one table the run prints at its end (report.ts). BENCH_ROUNDS=n sets the rounds
// (default 15, each the best of 4 slices of 5 ms a side).
//
//   TLB-hit load/store    target <= 3x a raw Int32Array access in the same loop
//   TLB miss + page walk  target <= 15x a TLB hit
//   modeled cycles        hits ending with a read of the cycles <= 1.1x the same hits without
//
// Every virtual page aliases a few physical frames, so host cache misses on guest data do
// not blur the numbers: what is measured is the emulation.

import { bench, describe } from 'vitest';
import { firstCallOnly, ONCE, pairedRounds, recordRow, timePerCall } from './report.ts';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, ControlBlock, Mmu, PageTableBuilder,
  PageTableOps, PhysMem, readCpuCounters, SIZE_4K, tlbConfig,
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

function rawLoads(): void {
  let s = 0;
  for (let i = 0; i < ACCESSES; i++) s = (s + raw[rawBase + (i & (WORDS - 1))]) | 0;
  sink += s;
}

function rawStores(): void {
  for (let i = 0; i < ACCESSES; i++) raw[rawBase + (i & (WORDS - 1))] = i;
}

function hitLoads(): void {
  let s = 0;
  for (let i = 0; i < ACCESSES; i++) s = (s + hitMmu.load32(BASE + ((i & (WORDS - 1)) << 2))) | 0;
  sink += s;
}

// The modeled clock's cost on a hit: nothing runs on the access path for it (cycles are the
// counters priced when they are read, machine/timing.ts), so the side by side is one hit
// loop, the same code on both sides, that ends with a read of the modeled cycles through
// readCpuCounters (as a guest's counters() does at the end of a region it measures) or
// does not. The row's note gives what one such read costs by itself.
function hitLoadsThenCycles(read: boolean): void {
  let s = 0;
  for (let i = 0; i < ACCESSES; i++) s = (s + hitMmu.load32(BASE + ((i & (WORDS - 1)) << 2))) | 0;
  sink += s + (read ? readCpuCounters(hitM.cb, 0).cycles : 0);
}
const hitLoadsReadingCycles = () => hitLoadsThenCycles(true);
const hitLoadsNotReadingCycles = () => hitLoadsThenCycles(false);
const READS = 256;
function cycleReads(): void {
  let c = 0;
  for (let i = 0; i < READS; i++) c += readCpuCounters(hitM.cb, 0).cycles;
  sink += c;
}

function hitStores(): void {
  for (let i = 0; i < ACCESSES; i++) hitMmu.store32(BASE + ((i & (WORDS - 1)) << 2), i);
}

// A miss sample is MISS_BATCH accesses, continuing the sweep where the last one stopped, so
// that a sample takes about as long as a hit sample and the two see the same host load.
const MISS_BATCH = 1024;
let missAt = 0;
function missLoads(vas: Float64Array, n: number): void {
  let s = 0;
  let at = missAt;
  for (let i = 0; i < n; i++) {
    s += missMmu.load32(vas[at]);
    at = (at + 1) & (MISS_PAGES - 1);
  }
  missAt = at;
  sink += s;
}
const pscMisses = () => missLoads(pscVas, MISS_BATCH);
const fullMisses = () => missLoads(fullVas, MISS_BATCH);

// The host's floor under the full walk: the same four dependent entry reads per page, done
// with plain Int32Array loads (no TLB model, no checks), over the same 64 MiB of tables.
const missI32 = missM.mem.i32;
const missRoot = missM.root;
let rawWalkAt = 0;
function rawWalks(): void {
  let s = 0;
  let at = rawWalkAt;
  for (let k = 0; k < MISS_BATCH; k++) {
    const vpn = Math.floor(fullVas[at] / 4096);
    let table = missRoot;
    for (let level = 4; level >= 1; level--) {
      const index = Math.floor(vpn / 2 ** (9 * (level - 1))) % 512;
      table = missI32[table * 1024 + index * 2] >>> 12;
    }
    s = (s + missI32[table * 1024]) | 0;
    at = (at + 1) & (MISS_PAGES - 1);
  }
  rawWalkAt = at;
  sink += s;
}

// --- the rows: interleaved rounds, each row against its reference in the same round -------
// Each round times the reference and the measured loop back to back (alternating which goes
// first). The hit rows come first: both MMUs run the same hit-path closures, whose type
// feedback V8 shares, and once the miss MMU has run, V8 inlines the slow path into every loop
// that calls load32, which slows the hits of such a loop (a CPU worker has one MMU, so only
// its own misses do that). The miss rows' reference is the hit in that state; the note gives
// them against the first row's clean hit too.
interface Spec {
  order: number;
  what: string;
  ref: string;
  target?: number;
  run: () => void;
  n: number;
  runRef: () => void;
  nRef: number;
}
const SPECS: Spec[] = [
  { order: 10, what: 'TLB-hit load32 (L1 dTLB, 16 pages)', ref: 'raw Int32Array load', target: 3, run: hitLoads, n: ACCESSES, runRef: rawLoads, nRef: ACCESSES },
  { order: 11, what: 'TLB-hit store32 (L1 dTLB, 16 pages)', ref: 'raw Int32Array store', target: 3, run: hitStores, n: ACCESSES, runRef: rawStores, nRef: ACCESSES },
  { order: 12, what: `TLB-hit load32 with the modeled cycles read after ${ACCESSES} loads`, ref: 'the same hit loop, cycles not read', target: 1.1, run: hitLoadsReadingCycles, n: ACCESSES, runRef: hitLoadsNotReadingCycles, nRef: ACCESSES },
  { order: 20, what: 'TLB miss, walk from the PDE cache (1 entry read)', ref: 'load32 TLB hit', target: 15, run: pscMisses, n: MISS_BATCH, runRef: hitLoads, nRef: ACCESSES },
  { order: 21, what: 'TLB miss, full 4-level walk (4 entry reads)', ref: 'load32 TLB hit', target: 15, run: fullMisses, n: MISS_BATCH, runRef: hitLoads, nRef: ACCESSES },
  { order: 22, what: 'host floor of the full walk: 4 plain dependent entry reads + load, same tables', ref: 'load32 TLB hit', run: rawWalks, n: MISS_BATCH, runRef: hitLoads, nRef: ACCESSES },
];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const SLICES = 4;
const SLICE_MS = 5;

async function measure(s: Spec): Promise<void> {
  for (let k = 0; k < 20; k++) {
    s.run();
    s.runRef();
  }
  const r = await pairedRounds(ROUNDS, () => timePerCall(s.runRef, SLICE_MS) / s.nRef, () => timePerCall(s.run, SLICE_MS) / s.n, SLICES);
  const best = Math.min(...r.measured);
  if (s.run === hitLoads) firstHit = best;
  let note = s.runRef === hitLoads && s.order >= 20 && firstHit > 0 ? `best ${(best / firstHit).toFixed(1)}x the first row's hit` : undefined;
  if (s.run === hitLoadsReadingCycles) note = `one read of the counters with the cycles: ${(Math.min(...Array.from({ length: 5 }, () => timePerCall(cycleReads, SLICE_MS))) / READS * 1e3).toFixed(2)} us`;
  recordRow({
    order: s.order, what: s.what, refName: s.ref, unit: 'time', ...r,
    ...(s.target === undefined ? {} : { target: s.target }), ...(note === undefined ? {} : { note }),
  });
}
let firstHit = 0;

describe('TLB hit (target <= 3x raw), with the modeled cycles read (<= 1.1x), and miss with a page walk (target <= 15x a hit)', () => {
  for (const s of SPECS) bench(s.what, firstCallOnly(() => measure(s)), ONCE);
});

export { sink };
