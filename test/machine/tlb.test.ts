import { describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_RW, _PAGE_USER, mkPteHi, mkPteLo,
  PageFaultError, SIZE_1G, SIZE_2M, SIZE_4K,
} from '../../machine/index.ts';
import { countersAcross, cpu, testMachine, UVA, walks } from './helpers.ts';

const USER_RW = _PAGE_RW | _PAGE_USER;

describe('stale TLB entries behave as on hardware', () => {
  it('a write through a cached D=1 entry does not set a D cleared in memory until INVLPG', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m);
    const pte = m.b.entry(m.root, UVA, 1);
    mmu.store32(UVA, 1);
    expect(m.ops.lo(pte) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    m.ops.ptepTestAndClearDirty(pte);
    mmu.store32(UVA, 2);
    expect(m.ops.lo(pte) & _PAGE_DIRTY).toBe(0);
    mmu.invlpg(UVA);
    mmu.store32(UVA, 3);
    expect(m.ops.lo(pte) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
  });

  it('accesses through a cached entry do not set an A cleared in memory until INVLPG', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m);
    const pte = m.b.entry(m.root, UVA, 1);
    mmu.load32(UVA);
    expect(m.ops.ptepTestAndClearYoung(pte)).toBe(true);
    mmu.load32(UVA);
    expect(m.ops.lo(pte) & _PAGE_ACCESSED).toBe(0);
    mmu.invlpg(UVA);
    mmu.load32(UVA);
    expect(m.ops.lo(pte) & _PAGE_ACCESSED).toBe(_PAGE_ACCESSED);
  });

  it('a store with cached D=0 re-walks, sets D and refreshes the entry', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m);
    const pte = m.b.entry(m.root, UVA, 1);
    mmu.load32(UVA);
    const d = countersAcross(m, () => {
      mmu.store32(UVA, 1);
      mmu.store32(UVA + 4, 1);
    });
    expect(d.dirty_rewalks).toBe(1);
    expect(d.d_bit_sets).toBe(1);
    expect(walks(d)).toBe(0);
    expect(m.ops.lo(pte) & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
  });

  it('keeps writing through a stale RW=1 entry until INVLPG, then faults', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m);
    mmu.store32(UVA, 1);
    m.ops.ptepSetWrprotect(m.b.entry(m.root, UVA, 1));
    mmu.store32(UVA, 2);
    expect(mmu.load32(UVA)).toBe(2);
    mmu.invlpg(UVA);
    expect(() => mmu.store32(UVA, 3)).toThrow(PageFaultError);
  });

  it('takes one spurious fault after an RW upgrade without a flush, then succeeds', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, _PAGE_USER);
    const mmu = cpu(m);
    mmu.load32(UVA);
    m.ops.ptepSetBits(m.b.entry(m.root, UVA, 1), _PAGE_RW);
    let faults = 0;
    mmu.onPageFault = () => { faults++; };
    const d = countersAcross(m, () => mmu.store32(UVA, 7));
    expect(faults).toBe(1);
    expect(d.page_faults).toBe(1);
    expect(d['tlb_inval.entries']).toBeGreaterThan(0);
    expect(mmu.load32(UVA)).toBe(7);
  });

  it('reads the old frame through a stale entry after a remap, the new one after INVLPG', () => {
    const m = testMachine();
    const old = m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const fresh = m.b.allocFrame();
    m.mem.i32[old * 1024] = 111;
    m.mem.i32[fresh * 1024] = 222;
    const mmu = cpu(m);
    expect(mmu.load32(UVA)).toBe(111);
    const pte = m.b.entry(m.root, UVA, 1);
    m.ops.ptepModify(pte, mkPteLo(fresh, m.ops.lo(pte) & 0xfff), mkPteHi(fresh, true), false);
    expect(mmu.load32(UVA)).toBe(111);
    mmu.invlpg(UVA);
    expect(mmu.load32(UVA)).toBe(222);
  });
});

describe('hierarchy', () => {
  it('fills L1 from the STLB and keeps the STLB copy when L1 evicts (non-inclusive)', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 128, USER_RW);
    const mmu = cpu(m);
    const first = countersAcross(m, () => { for (let i = 0; i < 128; i++) mmu.load32(UVA + i * 4096); });
    expect(walks(first)).toBe(128);
    const second = countersAcross(m, () => { for (let i = 0; i < 128; i++) mmu.load32(UVA + i * 4096); });
    expect(walks(second)).toBe(0);
    expect(second['dtlb_load_misses.stlb_hit']).toBe(128);
    expect(second.l1_dtlb_load_misses).toBe(128);
  });

  it('resumes walks from the paging-structure caches', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 4, USER_RW);
    const mmu = cpu(m);
    const first = countersAcross(m, () => mmu.load32(UVA));
    expect(first.walk_mem_refs).toBe(4);
    expect(first['psc.pde_miss']).toBe(1);
    const next = countersAcross(m, () => mmu.load32(UVA + 4096));
    expect(next['psc.pde_hit']).toBe(1);
    expect(next.walk_mem_refs).toBe(1);
    expect(next['walk_mem_refs.pte']).toBe(1);
  });

  it('caches each page size in its own arrays', () => {
    const m = testMachine(2 ** 30);
    m.b.map(m.root, 0x4000_0000, m.b.allocFrame(512), SIZE_2M, USER_RW, true);
    m.b.map(m.root, 0x80_0000_0000, 0, SIZE_1G, USER_RW, true);
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m);
    mmu.load8(0x4000_0000);
    mmu.load8(0x80_0000_0000);
    mmu.load8(UVA);
    const [l4k, l2m, l1g] = mmu.tlb.l1;
    expect([l4k.count(), l2m.count(), l1g.count()]).toEqual([1, 1, 1]);
    const d = countersAcross(m, () => {
      mmu.load8(0x4000_0000 + 0x1f_f000);
      mmu.load8(0x80_0000_0000 + 0xff_f000);
    });
    expect(walks(d)).toBe(0);
  });
});

describe('invalidation instructions (SDM 4.10.4)', () => {
  function twoContexts() {
    const m = testMachine();
    const rootB = m.b.newRoot();
    const a = m.b.mapFresh(m.root, UVA, 2, USER_RW);
    const b = m.b.mapFresh(rootB, UVA, 2, USER_RW);
    const g = m.b.allocFrame();
    m.b.map(m.root, UVA + 0x10000, g, SIZE_4K, USER_RW | _PAGE_GLOBAL, true);
    m.b.map(rootB, UVA + 0x10000, g, SIZE_4K, USER_RW | _PAGE_GLOBAL, true);
    m.mem.i32[a * 1024] = 1;
    m.mem.i32[b * 1024] = 2;
    const mmu = cpu(m, 0, { pcide: true });
    mmu.loadCr3(m.root, 1);
    return { m, rootB, mmu };
  }
  const warm = (mmu: ReturnType<typeof cpu>, root: number, rootB: number) => {
    mmu.loadCr3(root, 1, true);
    mmu.load32(UVA);
    mmu.load32(UVA + 4096);
    mmu.load32(UVA + 0x10000);
    mmu.loadCr3(rootB, 2, true);
    mmu.load32(UVA);
    mmu.load32(UVA + 4096);
  };

  it('keeps PCIDs apart: each context sees its own frame and keeps its entries', () => {
    const { m, rootB, mmu } = twoContexts();
    warm(mmu, m.root, rootB);
    const d = countersAcross(m, () => {
      mmu.loadCr3(m.root, 1, true);
      expect(mmu.load32(UVA)).toBe(1);
      mmu.loadCr3(rootB, 2, true);
      expect(mmu.load32(UVA)).toBe(2);
    });
    expect(walks(d)).toBe(0);
    expect(d['cr3.noflush']).toBe(2);
  });

  it('flushes every non-global entry on a CR3 load when PCIDs are off, keeping globals', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, USER_RW);
    m.b.map(m.root, UVA + 0x10000, m.b.allocFrame(), SIZE_4K, USER_RW | _PAGE_GLOBAL, true);
    const mmu = cpu(m);
    mmu.load32(UVA);
    mmu.load32(UVA + 0x10000);
    const d = countersAcross(m, () => {
      mmu.loadCr3(m.root);
      mmu.load32(UVA);
      mmu.load32(UVA + 0x10000);
    });
    expect(walks(d)).toBe(1);
    expect(d['cr3.flush']).toBe(1);
  });

  it('INVLPG drops the page for the current PCID and its global entry, not other PCIDs', () => {
    const { m, rootB, mmu } = twoContexts();
    warm(mmu, m.root, rootB);
    mmu.loadCr3(m.root, 1, true);
    mmu.invlpg(UVA);
    mmu.invlpg(UVA + 0x10000);
    const d1 = countersAcross(m, () => {
      mmu.load32(UVA);
      mmu.load32(UVA + 4096);
      mmu.load32(UVA + 0x10000);
    });
    expect(walks(d1)).toBe(2);
    const d2 = countersAcross(m, () => {
      mmu.loadCr3(rootB, 2, true);
      mmu.load32(UVA);
    });
    expect(walks(d2)).toBe(0);
  });

  it('INVLPG also drops the current PCID paging-structure caches', () => {
    const { m, rootB, mmu } = twoContexts();
    warm(mmu, m.root, rootB);
    mmu.loadCr3(m.root, 1, true);
    mmu.invlpg(UVA);
    const d = countersAcross(m, () => mmu.load32(UVA));
    expect(d.walk_mem_refs).toBe(4);
  });

  it('INVPCID type 0 and 1 spare global entries; type 3 spares them across PCIDs; type 2 takes all', () => {
    const { m, rootB, mmu } = twoContexts();
    const run = (invalidate: () => void) => {
      warm(mmu, m.root, rootB);
      mmu.loadCr3(m.root, 1, true);
      invalidate();
      const here = countersAcross(m, () => {
        mmu.load32(UVA);
        mmu.load32(UVA + 4096);
        mmu.load32(UVA + 0x10000);
      });
      const there = countersAcross(m, () => {
        mmu.loadCr3(rootB, 2, true);
        mmu.load32(UVA);
        mmu.load32(UVA + 4096);
      });
      return [walks(here), walks(there)];
    };
    expect(run(() => mmu.invpcid(0, 1, UVA + 0x10000))).toEqual([0, 0]);
    expect(run(() => mmu.invpcid(0, 1, UVA))).toEqual([1, 0]);
    expect(run(() => mmu.invpcid(0, 2, UVA))).toEqual([0, 1]);
    expect(run(() => mmu.invpcid(1, 1))).toEqual([2, 0]);
    expect(run(() => mmu.invpcid(3, 0))).toEqual([2, 2]);
    expect(run(() => mmu.invpcid(2, 0))).toEqual([3, 2]);
  });

  it('keeps a global entry across CR3 loads of any PCID until CR4.PGE changes', () => {
    const { m, rootB, mmu } = twoContexts();
    warm(mmu, m.root, rootB);
    const d = countersAcross(m, () => {
      mmu.loadCr3(rootB, 2, false);
      mmu.load32(UVA + 0x10000);
    });
    expect(walks(d)).toBe(0);
    mmu.setCr4(true, false);
    const after = countersAcross(m, () => mmu.load32(UVA + 0x10000));
    expect(walks(after)).toBe(1);
    // With PGE off the G bit is ignored: a CR3 load that flushes the PCID takes the page too.
    const flushed = countersAcross(m, () => {
      mmu.loadCr3(rootB, 2, false);
      mmu.load32(UVA + 0x10000);
    });
    expect(walks(flushed)).toBe(1);
  });
});
