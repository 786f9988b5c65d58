import { describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX_HI, _PAGE_PAT, _PAGE_PAT_LARGE, _PAGE_PCD,
  _PAGE_PRESENT, _PAGE_PSE, _PAGE_PWT, _PAGE_RW, _PAGE_SOFT_DIRTY, _PAGE_SPECIAL, _PAGE_UFFD_WP,
  _PAGE_USER, decodePte, formatPte, LEVEL_PD, LEVEL_PDPT, LEVEL_PT, mkPteHi, mkPteLo,
  pgprot4kToLarge, pgprotLargeTo4k, pmdPfn, pteClearSoftDirty, pteClearUffdWp, pteDirty,
  pteExec, pteExprotect, pteGlobal, pteLeaf, pteMkclean, pteMkdirty, pteMkexec, pteMkglobal,
  pteMkhuge, pteMkold, pteMksoftDirty, pteMkspecial, pteMkuffdWp, pteMkwrite, pteMkyoung,
  pteNone, ptePfn, ptePresent, pteSoftDirty, pteSpecial, pteUffdWp, pteUser, pteWrite,
  pteWrprotect, pteYoung, pudPfn,
} from '../../machine/index.ts';

/** The 64-bit value of (lo, hi) as a bigint, to check bit positions against the SDM. */
function value64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

describe('PTE encoding', () => {
  it('puts every named bit at its x86-64 position', () => {
    const bits: [number, number][] = [
      [_PAGE_PRESENT, 0], [_PAGE_RW, 1], [_PAGE_USER, 2], [_PAGE_PWT, 3], [_PAGE_PCD, 4],
      [_PAGE_ACCESSED, 5], [_PAGE_DIRTY, 6], [_PAGE_PSE, 7], [_PAGE_PAT, 7], [_PAGE_GLOBAL, 8],
      [_PAGE_SPECIAL, 9], [_PAGE_UFFD_WP, 10], [_PAGE_SOFT_DIRTY, 11], [_PAGE_PAT_LARGE, 12],
    ];
    for (const [flag, bit] of bits) expect(value64(flag, 0)).toBe(1n << BigInt(bit));
    expect(value64(0, _PAGE_NX_HI)).toBe(1n << 63n);
  });

  it('round-trips every named bit through decode at every level', () => {
    const named: [number, keyof ReturnType<typeof decodePte>][] = [
      [_PAGE_RW, 'rw'], [_PAGE_USER, 'user'], [_PAGE_PWT, 'pwt'], [_PAGE_PCD, 'pcd'],
      [_PAGE_ACCESSED, 'accessed'], [_PAGE_DIRTY, 'dirty'], [_PAGE_GLOBAL, 'global'],
      [_PAGE_SPECIAL, 'special'], [_PAGE_UFFD_WP, 'uffdWp'], [_PAGE_SOFT_DIRTY, 'softDirty'],
    ];
    for (const level of [LEVEL_PT, LEVEL_PD, LEVEL_PDPT]) {
      for (const [flag, field] of named) {
        const lo = mkPteLo(0x1234, _PAGE_PRESENT | flag);
        const d = decodePte(lo, mkPteHi(0x1234, false), level);
        expect(d[field], `${field} at level ${level}`).toBe(true);
        expect(d.present).toBe(true);
        for (const [other, f2] of named) if (other !== flag) expect(d[f2], `${f2} with ${field}`).toBe(false);
      }
      const nx = decodePte(mkPteLo(1, _PAGE_PRESENT), mkPteHi(1, true), level);
      expect(nx.nx).toBe(true);
    }
  });

  it('keeps PAT at bit 7 in a 4 KiB PTE and at bit 12 in a huge leaf', () => {
    const pte = decodePte(mkPteLo(0x1000, _PAGE_PRESENT | _PAGE_PAT), 0, LEVEL_PT);
    expect(pte.pat).toBe(true);
    expect(pte.huge).toBe(false);
    const largeFlags = pteMkhuge(pgprot4kToLarge(_PAGE_PRESENT | _PAGE_RW | _PAGE_PAT));
    expect(largeFlags & _PAGE_PAT_LARGE).toBe(_PAGE_PAT_LARGE);
    expect(largeFlags & _PAGE_PSE).toBe(_PAGE_PSE);
    const pmd = decodePte(mkPteLo(0x200, largeFlags), 0, LEVEL_PD);
    expect(pmd).toMatchObject({ pat: true, huge: true, pfn: 0x200 });
    // Bit 12 of a huge leaf is PAT, not a frame bit: the frame stays 2 MiB aligned.
    expect(pmdPfn(mkPteLo(0x200, largeFlags), 0)).toBe(0x200);
    expect(pgprotLargeTo4k(largeFlags)).toBe(_PAGE_PRESENT | _PAGE_RW | _PAGE_PAT);
    // A PDE without PS: bit 7 clear, bit 12 is a frame bit.
    expect(decodePte(mkPteLo(0x201, _PAGE_PRESENT), 0, LEVEL_PD)).toMatchObject({ huge: false, pat: false, pfn: 0x201 });
  });

  it('encodes frame numbers above 4 GiB in the high word', () => {
    for (const pfn of [0, 1, 0xfffff, 0x100000, 0x1fffff, 0x12345]) {
      const lo = mkPteLo(pfn, _PAGE_PRESENT);
      const hi = mkPteHi(pfn, true);
      expect(ptePfn(lo, hi)).toBe(pfn);
      expect(value64(lo, hi) >> 12n & ((1n << 40n) - 1n)).toBe(BigInt(pfn));
    }
    expect(pudPfn(mkPteLo(0x40000, _PAGE_PRESENT | _PAGE_PSE), mkPteHi(0x40000, false))).toBe(0x40000);
    expect(pudPfn(mkPteLo(0x140000, _PAGE_PRESENT | _PAGE_PSE), mkPteHi(0x140000, false))).toBe(0x140000);
  });

  it('has pure helpers that set and clear exactly their bit', () => {
    const base = mkPteLo(7, _PAGE_PRESENT | _PAGE_USER);
    const pairs: [(lo: number) => number, (lo: number) => number, (lo: number) => boolean, number][] = [
      [pteMkwrite, pteWrprotect, pteWrite, _PAGE_RW],
      [pteMkyoung, pteMkold, pteYoung, _PAGE_ACCESSED],
      [pteMkuffdWp, pteClearUffdWp, pteUffdWp, _PAGE_UFFD_WP],
      [pteMksoftDirty, pteClearSoftDirty, pteSoftDirty, _PAGE_SOFT_DIRTY],
    ];
    for (const [set, clear, test, bit] of pairs) {
      expect(set(base)).toBe(base | bit);
      expect(test(set(base))).toBe(true);
      expect(clear(set(base))).toBe(base);
      expect(test(clear(set(base)))).toBe(false);
    }
    expect(pteMkdirty(base)).toBe(base | _PAGE_DIRTY | _PAGE_SOFT_DIRTY);
    expect(pteDirty(pteMkdirty(base))).toBe(true);
    expect(pteMkclean(pteMkdirty(base))).toBe(base | _PAGE_SOFT_DIRTY);
    expect(pteSpecial(pteMkspecial(base))).toBe(true);
    expect(pteGlobal(pteMkglobal(base))).toBe(true);
    expect(pteUser(base)).toBe(true);
    expect(pteExec(pteMkexec(mkPteHi(7, true)))).toBe(true);
    expect(pteExec(pteExprotect(mkPteHi(7, false)))).toBe(false);
    expect(pteLeaf(pteMkhuge(base))).toBe(true);
    expect(pteLeaf(base)).toBe(false);
    expect(ptePresent(base)).toBe(true);
    expect(pteNone(0, 0)).toBe(true);
    expect(pteNone(0, _PAGE_NX_HI)).toBe(false);
  });

  it('formats entries for traces', () => {
    expect(formatPte(mkPteLo(0x1a3, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED), mkPteHi(0x1a3, true), LEVEL_PT))
      .toBe('pfn 0x1a3 P RW US A NX');
    expect(formatPte(0, 0, LEVEL_PT)).toBe('none');
  });
});
