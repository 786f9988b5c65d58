import { describe, expect, it } from 'vitest';
import {
  _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, FAULT_GP, PageFaultError, readCpuCounters, SIZE_2M,
  X86_PF_PROT, X86_PF_USER, X86_PF_WRITE,
} from '../../machine/index.ts';
import { cpu, testMachine, UVA } from './helpers.ts';

const USER_RW = _PAGE_RW | _PAGE_USER;

function twoPages() {
  const m = testMachine();
  const pfn = m.b.mapFresh(m.root, UVA, 2, USER_RW);
  return { m, mmu: cpu(m), pfn };
}

describe('MMU data access', () => {
  it('reads and writes every width at every alignment, including across a page', () => {
    const { m, mmu, pfn } = twoPages();
    const offsets = [0, 1, 2, 3, 4, 7, 100, 4088, 4089, 4093, 4094, 4095];
    for (const off of offsets) {
      const va = UVA + off;
      mmu.store8(va, 0x1ab);
      expect(mmu.load8(va)).toBe(0xab);
      if (off <= 4094) {
        mmu.store16(va, 0x12345);
        expect(mmu.load16(va)).toBe(0x2345);
      }
      mmu.store32(va, 0x89abcdef);
      expect(mmu.load32(va)).toBe(0x89abcdef | 0);
      mmu.storeF64(va, Math.PI * off);
      expect(mmu.loadF64(va)).toBe(Math.PI * off);
      mmu.store64(va, -0x123456789abcdefn);
      expect(mmu.load64(va)).toBe(-0x123456789abcdefn);
    }
    // Little-endian bytes land in the right frames, split across the two pages.
    mmu.store32(UVA + 4094, 0x04030201);
    expect(m.mem.u8[pfn * 4096 + 4094]).toBe(1);
    expect(m.mem.u8[pfn * 4096 + 4095]).toBe(2);
    expect(m.mem.u8[(pfn + 1) * 4096]).toBe(3);
    expect(m.mem.u8[(pfn + 1) * 4096 + 1]).toBe(4);
    const c = readCpuCounters(m.cb, 0);
    expect(c.split_accesses).toBeGreaterThan(0);
  });

  it('counts loads and stores exactly, fast path or slow', () => {
    const { m, mmu } = twoPages();
    for (let i = 0; i < 1000; i++) mmu.store32(UVA + 4 * i, i);
    let sum = 0;
    for (let i = 0; i < 1000; i++) sum += mmu.load32(UVA + 4 * i);
    for (let i = 0; i < 10; i++) sum += mmu.load8(UVA + 3 + i * 400);
    expect(sum).toBeGreaterThan(0);
    const c = readCpuCounters(m.cb, 0);
    expect(c.dtlb_stores).toBe(1000);
    expect(c.dtlb_loads).toBe(1010);
    expect(c['dtlb_store_misses.walk_completed']).toBe(1);
    expect(c['dtlb_load_misses.walk_completed']).toBe(0);
    expect(c['emu.slow_path']).toBeLessThan(10);
  });

  it('raises a page fault with the x86 error code and retries after the handler', () => {
    const m = testMachine();
    const mmu = cpu(m);
    expect(() => mmu.load32(UVA)).toThrow(PageFaultError);
    expect(mmu.faultCode).toBe(X86_PF_USER);
    let calls = 0;
    mmu.onPageFault = (va, code) => {
      calls++;
      expect(va).toBe(UVA + 8);
      expect(code).toBe(X86_PF_USER | X86_PF_WRITE);
      m.b.mapFresh(m.root, UVA, 1, USER_RW);
    };
    mmu.store32(UVA + 8, 42);
    expect(calls).toBe(1);
    expect(mmu.load32(UVA + 8)).toBe(42);
    const c = readCpuCounters(m.cb, 0);
    expect(c.page_faults).toBe(2);
    expect(c.dtlb_stores).toBe(1);
    expect(c.dtlb_loads).toBe(1);
  });

  it('faults on a write to a read-only page with P set, through the TLB', () => {
    const m = testMachine();
    m.b.mapFresh(m.root, UVA, 1, _PAGE_USER);
    const mmu = cpu(m);
    expect(mmu.load32(UVA)).toBe(0);
    expect(() => mmu.store32(UVA, 1)).toThrow(PageFaultError);
    expect(mmu.faultCode).toBe(X86_PF_PROT | X86_PF_WRITE | X86_PF_USER);
    expect(mmu.faultLevel).toBe(0);
  });

  it('translates both pages before a split store writes anything', () => {
    const m = testMachine();
    const pfn = m.b.mapFresh(m.root, UVA, 1, USER_RW);
    const mmu = cpu(m);
    expect(() => mmu.store32(UVA + 4094, -1)).toThrow(PageFaultError);
    expect(mmu.faultVa).toBe(UVA + 4096);
    expect(m.mem.u8[pfn * 4096 + 4094]).toBe(0);
  });

  it('raises FAULT_GP for addresses that are not canonical 48-bit integers', () => {
    const { mmu } = twoPages();
    for (const va of [-4096, 2 ** 48, 2 ** 52, NaN, UVA + 0.5, Infinity]) {
      expect(() => mmu.load32(va), String(va)).toThrow(PageFaultError);
      expect(mmu.faultCode & FAULT_GP).toBe(FAULT_GP);
      expect(() => mmu.store8(va, 1)).toThrow(PageFaultError);
    }
  });

  it('serves huge pages from every 4 KiB slice', () => {
    const m = testMachine();
    const p2 = m.b.allocFrame(512);
    m.b.map(m.root, 0x4000_0000, p2, SIZE_2M, USER_RW | _PAGE_DIRTY, true);
    const mmu = cpu(m);
    for (let i = 0; i < 512; i++) mmu.store32(0x4000_0000 + i * 4096 + 12, i);
    for (let i = 0; i < 512; i++) expect(m.mem.i32[(p2 + i) * 1024 + 3]).toBe(i);
    const c = readCpuCounters(m.cb, 0);
    expect(c['dtlb_store_misses.walk_completed_2m_4m']).toBe(1);
    expect(c['dtlb_store_misses.walk_completed']).toBe(1);
  });
});
