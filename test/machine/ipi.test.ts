import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  _PAGE_RW, _PAGE_USER, CPU_IDLE, CPU_OFFLINE, CPU_STATE, CPU_USER, cpuI32Base, FLUSH_ALL, FLUSH_NONE, FLUSH_NONGLOBAL, FLUSH_PCID,
  FLUSH_RANGE, flushAcked, IPI_ACK, mergeFlush, postFlush, readCpuCounters, SIZE_4K, waitFlushAcked,
  type FlushRequest,
} from '../../machine/index.ts';
import { countersAcross, cpu, testMachine, UVA, walks } from './helpers.ts';

const USER_RW = _PAGE_RW | _PAGE_USER;

/** Pages (4 KiB page numbers, pcid) a request invalidates, on a small universe. */
function covers(r: FlushRequest, pcid: number, page: number, global: boolean): boolean {
  switch (r.kind) {
    case FLUSH_NONE: return false;
    case FLUSH_RANGE: {
      if (global || pcid !== r.pcid) return false; // like INVPCID type 0: one PCID, non-global
      const va = page * 4096;
      return va >= r.start && va < r.end;
    }
    case FLUSH_PCID: return !global && pcid === r.pcid;
    case FLUSH_NONGLOBAL: return !global;
    default: return true;
  }
}

const reqArb: fc.Arbitrary<FlushRequest> = fc.record({
  kind: fc.integer({ min: FLUSH_RANGE, max: FLUSH_ALL }),
  pcid: fc.integer({ min: 0, max: 3 }),
  start: fc.integer({ min: 0, max: 63 }).map((p) => p * 4096),
  pages: fc.integer({ min: 1, max: 8 }),
}).map(({ kind, pcid, start, pages }) => ({ kind, pcid, start, end: start + pages * 4096, strideShift: 12 }));

describe('shootdown requests', () => {
  it('a merged request covers everything either request covered', () => {
    fc.assert(fc.property(reqArb, reqArb, (a, b) => {
      const m = mergeFlush(a, b);
      for (let pcid = 0; pcid < 4; pcid++) {
        for (let page = 0; page < 72; page++) {
          for (const global of [false, true]) {
            if (covers(a, pcid, page, global) || covers(b, pcid, page, global)) {
              expect(covers(m, pcid, page, global), `${JSON.stringify([a, b, m])} pcid ${pcid} page ${page}`).toBe(true);
            }
          }
        }
      }
    }));
  });

  it('is taken before the very next access, so a stale translation is never used', () => {
    const m = testMachine();
    const [pa, pb] = [m.b.mapFresh(m.root, UVA, 1, USER_RW), m.b.allocFrame()];
    m.mem.i32[pa * 1024] = 111;
    m.mem.i32[pb * 1024] = 222;
    const mmu = cpu(m, 1);
    expect(mmu.load32(UVA)).toBe(111); // cached in the TLB and in the host fast cache
    // The kernel (this thread plays it) remaps the page, then shoots down CPU 1.
    m.b.unmap(m.root, UVA, SIZE_4K);
    m.b.map(m.root, UVA, pb, SIZE_4K, USER_RW, false);
    expect(mmu.load32(UVA)).toBe(111); // stale, as on hardware before the flush
    const seq = postFlush(m.cb, 1, { kind: FLUSH_RANGE, pcid: 0, start: UVA, end: UVA + 4096, strideShift: 12 });
    expect(flushAcked(m.cb, 1, seq)).toBe(false);
    expect(mmu.ipiPending()).toBe(true);
    const d = countersAcross(m, () => expect(mmu.load32(UVA)).toBe(222), 1);
    expect(flushAcked(m.cb, 1, seq)).toBe(true);
    expect(d.irq_tlb_count).toBe(1);
    expect(d['ipi.flush_pages']).toBe(1);
    expect(walks(d)).toBe(1);
  });

  it('merges a request posted before the earlier one was taken and acknowledges both at once', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 64, USER_RW);
    const mmu = cpu(m, 0);
    for (let i = 0; i < 64; i++) mmu.load8(UVA + i * 4096);
    const s1 = postFlush(m.cb, 0, { kind: FLUSH_RANGE, pcid: 0, start: UVA, end: UVA + 2 * 4096, strideShift: 12 });
    const s2 = postFlush(m.cb, 0, { kind: FLUSH_RANGE, pcid: 0, start: UVA + 10 * 4096, end: UVA + 12 * 4096, strideShift: 12 });
    expect(s2).not.toBe(s1);
    const d = countersAcross(m, () => {
      for (let i = 0; i < 64; i++) mmu.load8(UVA + i * 4096);
    });
    expect(flushAcked(m.cb, 0, s1) && flushAcked(m.cb, 0, s2)).toBe(true);
    expect(d.irq_tlb_count).toBe(1);
    // The hull [0, 12) pages was flushed: exactly those 12 pages walk again.
    expect(d['ipi.flush_pages']).toBe(12);
    expect(walks(d)).toBe(12);
  });

  it('escalates mixed requests to a full flush of the context', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 8, USER_RW);
    const mmu = cpu(m, 0);
    for (let i = 0; i < 8; i++) mmu.load8(UVA + i * 4096);
    postFlush(m.cb, 0, { kind: FLUSH_RANGE, pcid: 0, start: UVA, end: UVA + 4096, strideShift: 12 });
    postFlush(m.cb, 0, { kind: FLUSH_NONGLOBAL, pcid: 0, start: 0, end: 0, strideShift: 12 });
    const d = countersAcross(m, () => {
      for (let i = 0; i < 8; i++) mmu.load8(UVA + i * 4096);
    });
    expect(d['ipi.flush_full']).toBe(1);
    expect(walks(d)).toBe(8);
  });

  it('waitFlushAcked returns when another thread acknowledges, and times out otherwise', () => {
    const m = testMachine();
    const seq = postFlush(m.cb, 0, { kind: FLUSH_ALL, pcid: 0, start: 0, end: 0, strideShift: 12 });
    expect(waitFlushAcked(m.cb, 0, seq, 5, 10)).toBe(false);
    const mmu = cpu(m, 0); // a CPU coming online acknowledges what was posted before it
    expect(flushAcked(m.cb, 0, seq)).toBe(true);
    const seq2 = postFlush(m.cb, 0, { kind: FLUSH_ALL, pcid: 0, start: 0, end: 0, strideShift: 12 });
    mmu.takeIpis();
    expect(Atomics.load(m.cb.i32, cpuI32Base(0) + IPI_ACK)).toBe(seq2);
    expect(waitFlushAcked(m.cb, 0, seq2, 5, 10)).toBe(true);
    expect(readCpuCounters(m.cb, 0).irq_tlb_count).toBe(1);
  });

  it('an idle CPU takes what was posted while it idled before its next access, and is busy again', () => {
    const m = testMachine();
    const [pa, pb] = [m.b.mapFresh(m.root, UVA, 1, USER_RW), m.b.allocFrame()];
    m.mem.i32[pa * 1024] = 111;
    m.mem.i32[pb * 1024] = 222;
    const mmu = cpu(m, 1);
    const state = cpuI32Base(1) + CPU_STATE;
    Atomics.store(m.cb.i32, state, CPU_USER);
    let wakes = 0;
    mmu.onWake = () => wakes++;
    expect(mmu.load32(UVA)).toBe(111);
    mmu.idle();
    mmu.idle(); // once idle, again is nothing
    expect(Atomics.load(m.cb.i32, state)).toBe(CPU_IDLE);
    m.b.unmap(m.root, UVA, SIZE_4K);
    m.b.map(m.root, UVA, pb, SIZE_4K, USER_RW, false);
    const seq = postFlush(m.cb, 1, { kind: FLUSH_RANGE, pcid: 0, start: UVA, end: UVA + 4096, strideShift: 12 });
    expect(Atomics.load(m.cb.i32, state)).toBe(CPU_IDLE); // no access yet: nothing taken
    const d = countersAcross(m, () => expect(mmu.load32(UVA)).toBe(222), 1);
    expect(Atomics.load(m.cb.i32, state)).toBe(CPU_USER);
    expect(flushAcked(m.cb, 1, seq)).toBe(true);
    expect(wakes).toBe(1);
    // The access counts as it would have without the idle: one flush taken, one walk.
    expect([d.irq_tlb_count, d['ipi.flush_pages'], walks(d), d.dtlb_loads]).toEqual([1, 1, 1, 1]);
    const d2 = countersAcross(m, () => mmu.load32(UVA), 1);
    expect([wakes, d2['emu.slow_path']]).toEqual([1, 0]); // awake: the fast path again
  });

  it('an idle mark never overwrites CPU_OFFLINE, and a wake never brings it back', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m, 0);
    const state = cpuI32Base(0) + CPU_STATE;
    mmu.idle();
    expect(Atomics.load(m.cb.i32, state)).toBe(CPU_OFFLINE);
    Atomics.store(m.cb.i32, state, CPU_USER);
    mmu.idle();
    Atomics.store(m.cb.i32, state, CPU_OFFLINE); // the kernel frees the CPU while it idles
    expect(mmu.load32(UVA)).toBe(0);
    expect(Atomics.load(m.cb.i32, state)).toBe(CPU_OFFLINE);
  });

  it('rejects a request of no kind', () => {
    const m = testMachine();
    expect(() => postFlush(m.cb, 0, { kind: FLUSH_NONE, pcid: 0, start: 0, end: 0, strideShift: 12 })).toThrow(RangeError);
  });
});

describe('merging far-apart ranges', () => {
  it('turns a hull wider than the ceiling into a PCID flush', () => {
    const r = (start: number) => ({ kind: FLUSH_RANGE, pcid: 1, start, end: start + 4096, strideShift: 12 });
    expect(mergeFlush(r(0), r(32 * 4096))).toMatchObject({ kind: FLUSH_RANGE, start: 0, end: 33 * 4096 });
    expect(mergeFlush(r(0), r(33 * 4096))).toMatchObject({ kind: FLUSH_PCID, pcid: 1 });
    expect(mergeFlush(r(0x7f00_0000_0000), r(0x1000_0000_0000)).kind).toBe(FLUSH_PCID);
  });
});
