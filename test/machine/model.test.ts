// The MMU against the naive reference model (naive-mmu.ts) on random traces: every access
// must translate to the same place or fault with the same error code, memory must end up
// identical, and every counter must agree, for every preset, replacement policy and page
// size mix. Traces mix loads and stores of every width and alignment, page-table edits made
// without a flush (the stale-TLB cases), INVLPG, INVPCID, CR3 and CR4 loads, and posted
// shootdowns.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, ControlBlock,
  CPU_COUNTERS, FAULT_GP, FLUSH_ALL, FLUSH_NONGLOBAL, FLUSH_PCID, FLUSH_RANGE, mkPteHi, mkPteLo,
  Mmu, PageFaultError, PageTableBuilder, PageTableOps, PhysMem, postFlush, readCpuCounters, writeIpiCosts,
  SIZE_1G, SIZE_2M, SIZE_4K, tlbConfig, type PolicyName,
} from '../../machine/index.ts';
import { NaiveMmu, type Counters } from './naive-mmu.ts';

const LOW = 8 << 20;
// Knobs (environment): MODEL_RUNS traces per configuration (15; `npm run test:full` runs 60,
// more is a soak); MODEL_NOSHRINK stops at the first failure; MODEL_SEED and MODEL_PATH
// replay one (fast-check prints both); MODEL_STEPWISE compares the counters after every
// operation, to name the first that differs.
const STEPWISE = process.env.MODEL_STEPWISE !== undefined;
const FC_PARAMS: fc.Parameters<[Op[]]> = {
  numRuns: Number(process.env.MODEL_RUNS ?? 15),
  endOnFailure: process.env.MODEL_NOSHRINK !== undefined,
  ...(process.env.MODEL_SEED === undefined ? {} : { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH ?? '' }),
};
const GIG = 2 ** 30;
const HIGH_USED = 64 << 10;
/** 1 GiB leaves map [1 GiB, 2 GiB), which RAM must wholly back; the data used is the first 64 KiB. */
const MEM = 2 * GIG + LOW;

interface Page { va: number; size: number; level: number }

interface World {
  memA: PhysMem;
  memB: PhysMem;
  cb: ControlBlock;
  roots: number[];
  pages: Page[];
  /** Virtual addresses with nothing mapped. */
  holes: number[];
  /** Spare 4 KiB frames for remapping. */
  spare: number[];
}

let memA: PhysMem;
let memB: PhysMem;
beforeAll(() => {
  memA = PhysMem.create(MEM);
  memB = PhysMem.create(MEM);
});
afterAll(() => {
  memA = memB = undefined as unknown as PhysMem;
});

/** Deterministic pseudo-random flags for page i. */
function flagsOf(i: number): number {
  let f = _PAGE_USER | _PAGE_RW;
  if (i % 7 === 3) f &= ~_PAGE_RW;
  if (i % 11 === 5) f &= ~_PAGE_USER;
  if (i % 5 === 1) f |= _PAGE_GLOBAL;
  if (i % 3 === 0) f |= _PAGE_ACCESSED;
  if (i % 4 === 0) f |= _PAGE_DIRTY;
  return f;
}

/** Build the same page tables for every trace: two contexts, 4 KiB pages colliding in sets, huge pages. */
function buildWorld(mix: '4k' | 'mixed'): World {
  memA.u8.fill(0, 0, LOW);
  memA.u8.fill(0, GIG, GIG + HIGH_USED);
  const cb = ControlBlock.create(1);
  const b = new PageTableBuilder(new PageTableOps(memA, cb), 1);
  const roots = [b.newRoot(), b.newRoot()];
  const data: number[] = [];
  for (let i = 0; i < 48; i++) data.push(b.allocFrame());
  const pages: Page[] = [];
  const base4k = 0x7f00_0000_0000;
  const vpns = new Set<number>();
  for (let i = 0; i < 20; i++) vpns.add(i * 16);
  for (let i = 0; i < 14; i++) vpns.add(i * 128 + 1);
  for (let i = 0; i < 8; i++) vpns.add(2000 + i);
  vpns.add(512 * 512 * 3 + 5);
  let i = 0;
  for (const vpn of vpns) {
    const va = base4k + vpn * 4096;
    b.map(roots[0], va, data[i % data.length], SIZE_4K, flagsOf(i), i % 2 === 0);
    if (i % 3 !== 1) b.map(roots[1], va, data[(i * 7 + 3) % data.length], SIZE_4K, flagsOf(i + 1), false);
    pages.push({ va, size: SIZE_4K, level: 1 });
    i++;
  }
  pages.push({ va: 0x1000_0000_0000, size: SIZE_4K, level: 1 });
  b.map(roots[0], 0x1000_0000_0000, data[1], SIZE_4K, _PAGE_USER | _PAGE_RW, false);
  b.map(roots[1], 0x1000_0000_0000, data[2], SIZE_4K, _PAGE_USER | _PAGE_RW, false);
  if (mix === 'mixed') {
    const big = [1024, 1536];
    for (let j = 0; j < 12; j++) {
      const va = 0x7e00_0000_0000 + j * 2 ** 21;
      b.map(roots[0], va, big[j % 2], SIZE_2M, flagsOf(j + 3), true);
      if (j % 2 === 0) b.map(roots[1], va, big[(j + 1) % 2], SIZE_2M, flagsOf(j), true);
      pages.push({ va, size: SIZE_2M, level: 2 });
    }
    for (let k = 0; k < 6; k++) {
      const va = 0x4000_0000_0000 + k * GIG;
      b.map(roots[0], va, GIG / 4096, SIZE_1G, flagsOf(k + 1), false);
      b.map(roots[1], va, GIG / 4096, SIZE_1G, flagsOf(k + 2), false);
      pages.push({ va, size: SIZE_1G, level: 3 });
    }
  }
  const holes = [base4k + 3 * 4096, base4k + 512 * 4096 * 40, 0x2000_0000_0000, 0x7e00_0000_0000 + 40 * 2 ** 21];
  const spare = [b.allocFrame(), b.allocFrame(), b.allocFrame()];
  if (b.allocFrame() >= 1024) throw new Error('model test: page tables overflowed the low region');
  memB.u8.set(memA.u8.subarray(0, LOW), 0);
  memB.u8.fill(0, GIG, GIG + HIGH_USED);
  return { memA, memB, cb, roots, pages, holes, spare };
}

type Op =
  | { op: 'access'; target: number; hole: boolean; off: number; width: 1 | 2 | 4 | 8; write: boolean; repeat: number }
  | { op: 'invlpg'; target: number }
  | { op: 'invpcid'; type: number; pcid: number; target: number }
  | { op: 'cr3'; ctx: number; pcid: number; noflush: boolean }
  | { op: 'cr4'; pcide: boolean; pge: boolean }
  | { op: 'edit'; target: number; ctx: number; kind: number }
  | { op: 'ipi'; kind: number; pcid: number; target: number; pages: number; huge: boolean };

/**
 * Page choice: half the time one of the first 8 pages, which all fall in L1 set 0 of the
 * 4 KiB array (so hits, LRU updates and evictions interleave), else any page.
 */
const targetArb = fc.oneof(fc.nat(7), fc.nat());

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 60, arbitrary: fc.record({
    op: fc.constant('access' as const), target: targetArb, hole: fc.nat(9).map((h) => h === 0),
    off: fc.oneof(fc.constantFrom(0, 1, 3, 4, 8, 100, 4088, 4090, 4092, 4094, 4095), fc.nat(4095), fc.nat(2 ** 21), fc.nat(80 << 20)),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), write: fc.boolean(),
    repeat: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 24 })),
  }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('invlpg' as const), target: targetArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invpcid' as const), type: fc.nat(3), pcid: fc.nat(2), target: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('cr3' as const), ctx: fc.nat(1), pcid: fc.nat(2), noflush: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cr4' as const), pcide: fc.boolean(), pge: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('edit' as const), target: targetArb, ctx: fc.nat(1), kind: fc.nat(6) }) },
  { weight: 3, arbitrary: fc.record({
    op: fc.constant('ipi' as const), kind: fc.constantFrom(FLUSH_RANGE, FLUSH_RANGE, FLUSH_PCID, FLUSH_NONGLOBAL, FLUSH_ALL),
    pcid: fc.nat(2), target: fc.nat(), pages: fc.integer({ min: 1, max: 80 }), huge: fc.boolean(),
  }) },
);

/** Apply a page-table edit (no flush) identically to both memories. */
function edit(w: World, b: PageTableBuilder, op: Extract<Op, { op: 'edit' }>): void {
  const page = w.pages[op.target % w.pages.length];
  const word = b.entry(w.roots[op.ctx], page.va, page.level);
  if (word < 0) return;
  const i32a = w.memA.i32;
  let lo = i32a[word];
  let hi = i32a[word + 1];
  switch (op.kind) {
    case 0: lo &= ~_PAGE_ACCESSED; break;
    case 1: lo &= ~_PAGE_DIRTY; break;
    case 2: lo &= ~_PAGE_RW; break;
    case 3: lo |= _PAGE_RW; break;
    case 4: lo &= ~_PAGE_PRESENT; break;
    case 5: lo |= _PAGE_PRESENT; break;
    default: {
      if (page.size !== SIZE_4K) return;
      const f = w.spare[op.target % w.spare.length];
      lo = mkPteLo(f, lo & 0xfff);
      hi = mkPteHi(f, (hi & (1 << 31)) !== 0);
    }
  }
  for (const mem of [w.memA, w.memB]) {
    mem.i32[word + 1] = hi;
    mem.i32[word] = lo;
  }
}

function vaOf(w: World, op: Extract<Op, { op: 'access' }>): number {
  if (op.hole) return w.holes[op.target % w.holes.length] + (op.off % 4096);
  const page = w.pages[op.target % w.pages.length];
  const span = page.size === SIZE_4K ? 4096 : page.size === SIZE_2M ? 2 ** 21 : 2 ** 30;
  return page.va + (op.off % span);
}

function realAccess(mmu: Mmu, va: number, width: number, write: boolean, value: number): number | string {
  try {
    if (write) {
      if (width === 1) mmu.store8(va, value);
      else if (width === 2) mmu.store16(va, value);
      else if (width === 4) mmu.store32(va, value);
      else mmu.storeF64(va, value);
      return 'ok';
    }
    if (width === 1) return mmu.load8(va);
    if (width === 2) return mmu.load16(va);
    if (width === 4) return mmu.load32(va);
    return mmu.loadF64(va);
  } catch (e) {
    if (!(e instanceof PageFaultError)) throw e;
    return (e.errorCode & FAULT_GP) !== 0 ? 'fault gp' : `fault ${e.errorCode}`;
  }
}

function naiveAccess(n: NaiveMmu, mem: PhysMem, va: number, width: number, write: boolean, value: number): number | string {
  const parts = n.parts(va, width);
  const pas: number[] = [];
  if (parts.length === 2) n.c.split_accesses++;
  for (const p of parts) {
    const pa = n.translate(p, write);
    if (pa < 0) return n.faultCode === -1 ? 'fault gp' : `fault ${n.faultCode}`;
    pas.push(pa);
  }
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  const first = Math.min(width, 4096 - (va % 4096));
  const addrOf = (k: number) => (k < first ? pas[0] + k : pas[1] + k - first);
  if (write) {
    if (width === 1) view.setUint8(0, value & 255);
    else if (width === 2) view.setUint16(0, value & 0xffff, true);
    else if (width === 4) view.setInt32(0, value | 0, true);
    else view.setFloat64(0, value, true);
    for (let k = 0; k < width; k++) mem.u8[addrOf(k)] = bytes[k];
    return 'ok';
  }
  for (let k = 0; k < width; k++) bytes[k] = mem.u8[addrOf(k)];
  if (width === 1) return view.getUint8(0);
  if (width === 2) return view.getUint16(0, true);
  if (width === 4) return view.getInt32(0, true);
  return view.getFloat64(0, true);
}

function derived(c: Counters): Counters {
  const out = { ...c };
  out.l1_dtlb_load_misses = c['dtlb_load_misses.stlb_hit'] + c['dtlb_load_misses.miss_causes_a_walk'];
  out.l1_dtlb_store_misses = c['dtlb_store_misses.stlb_hit'] + c['dtlb_store_misses.miss_causes_a_walk'];
  return out;
}

function runTrace(mix: '4k' | 'mixed', preset: string, policy: PolicyName, ops: Op[]): void {
  const w = buildWorld(mix);
  const config = tlbConfig(preset, policy, 7);
  const mmu = new Mmu(w.memA, w.cb, 0, { tlb: config });
  mmu.loadCr3(w.roots[0]);
  const names = CPU_COUNTERS.map((d) => d.name);
  // Whole ns, so that the cycles of the IPIs are whole at every preset's clock rate.
  const ipi = { ipiReceive: 7, flushPage: 3, flushFull: 5 };
  writeIpiCosts(w.cb, ipi);
  const naive = new NaiveMmu(config, w.memB.buffer, names, ipi);
  naive.loadCr3(w.roots[0], 0, false);
  const builder = new PageTableBuilder(new PageTableOps(w.memA, w.cb), 1);
  let pcide = false;
  ops.forEach((op, step) => {
    const where = `step ${step}: ${JSON.stringify(op)}`;
    switch (op.op) {
      case 'access': {
        // A burst of `repeat` accesses walking forward through the page (fast-path hits).
        for (let k = 0; k < op.repeat; k++) {
          const va = vaOf(w, op) + k * op.width;
          const value = op.width === 8 ? step + k + 0.25 : (step + k) * 2654435761;
          const real = realAccess(mmu, va, op.width, op.write, value);
          const ref = naiveAccess(naive, w.memB, va, op.width, op.write, value);
          expect(real, `${where} #${k}`).toEqual(ref);
        }
        break;
      }
      case 'invlpg': {
        const va = w.pages[op.target % w.pages.length].va;
        mmu.invlpg(va);
        naive.invlpg(va);
        break;
      }
      case 'invpcid': {
        const va = w.pages[op.target % w.pages.length].va;
        mmu.invpcid(op.type, op.pcid, va);
        naive.invpcid(op.type, op.pcid, va);
        break;
      }
      case 'cr3':
        mmu.loadCr3(w.roots[op.ctx], op.pcid, op.noflush);
        naive.loadCr3(w.roots[op.ctx], op.pcid, op.noflush);
        break;
      case 'cr4':
        pcide = op.pcide;
        mmu.setCr4(op.pcide, op.pge);
        naive.setCr4(op.pcide, op.pge);
        break;
      case 'edit':
        edit(w, builder, op);
        break;
      case 'ipi': {
        const stride = op.huge ? 21 : 12;
        const va = w.pages[op.target % w.pages.length].va;
        const start = va - (va % 2 ** stride);
        const req = { kind: op.kind, pcid: pcide ? op.pcid : 0, start, end: start + op.pages * 2 ** stride, strideShift: stride };
        postFlush(w.cb, 0, req);
        naive.post(req);
        break;
      }
    }
    if (STEPWISE) {
      const r = readCpuCounters(w.cb, 0);
      const n = derived(naive.c);
      for (const name of Object.keys(n)) {
        if (r[name] !== n[name]) throw new Error(`${where}: counter ${name} ${r[name]} != naive ${n[name]}\nprevious: ${JSON.stringify(ops.slice(Math.max(0, step - 6), step))}`);
      }
    }
  });
  const real = readCpuCounters(w.cb, 0);
  const ref = derived(naive.c);
  for (const name of Object.keys(ref)) expect(real[name], `counter ${name}`).toBe(ref[name]);
  expect(Buffer.compare(w.memA.u8.subarray(0, LOW), w.memB.u8.subarray(0, LOW))).toBe(0);
  expect(Buffer.compare(w.memA.u8.subarray(GIG, GIG + HIGH_USED), w.memB.u8.subarray(GIG, GIG + HIGH_USED))).toBe(0);
}

describe('MMU against the naive reference model', () => {
  for (const preset of ['skylake', 'haswell', 'teaching']) {
    for (const mix of ['4k', 'mixed'] as const) {
      for (const policy of ['lru', 'plru', 'random'] as const) {
        it(`${preset}, ${mix} pages, ${policy}`, () => {
          fc.assert(fc.property(fc.array(opArb, { minLength: 50, maxLength: 300, size: 'max' }), (ops) => runTrace(mix, preset, policy, ops)),
            FC_PARAMS);
        });
      }
    }
  }
});
