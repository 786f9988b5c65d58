import { describe, expect, it } from 'vitest';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_PSE, _PAGE_RW, _PAGE_USER,
  ACC_FETCH, ACC_READ, ACC_USER_FETCH, ACC_USER_READ, ACC_USER_WRITE, ACC_WRITE,
  PERM_D, PERM_G, PERM_NX, PERM_U, PERM_W, SIZE_1G, SIZE_2M, SIZE_4K, Walker, X86_PF_INSTR,
  X86_PF_PROT, X86_PF_RSVD, X86_PF_USER, X86_PF_WRITE,
} from '../../machine/index.ts';
import { testMachine, UVA } from './helpers.ts';

const USER_RW = _PAGE_RW | _PAGE_USER;

function setup() {
  const m = testMachine();
  const pfn = m.b.mapFresh(m.root, UVA, 1, USER_RW, true);
  const w = Walker.uncounted(m.mem, m.cb);
  const entries = [4, 3, 2, 1].map((level) => m.b.entry(m.root, UVA, level));
  return { m, w, pfn, entries };
}

describe('page walker: accessed and dirty bits', () => {
  it('sets A on every level used, and D nowhere on a read', () => {
    const { m, w, pfn, entries } = setup();
    for (const e of entries) m.ops.ptepClearBits(e, _PAGE_ACCESSED | _PAGE_DIRTY);
    expect(w.walkVa(m.root, UVA, ACC_USER_READ)).toBe(true);
    expect(w.pfn).toBe(pfn);
    for (const e of entries) {
      expect(m.ops.lo(e) & _PAGE_ACCESSED).toBe(_PAGE_ACCESSED);
      expect(m.ops.lo(e) & _PAGE_DIRTY).toBe(0);
    }
    expect(w.perms & PERM_D).toBe(0);
  });

  it('sets D only on the leaf and only for a write', () => {
    const { m, w, entries } = setup();
    for (const e of entries) m.ops.ptepClearBits(e, _PAGE_ACCESSED | _PAGE_DIRTY);
    expect(w.walkVa(m.root, UVA, ACC_USER_WRITE)).toBe(true);
    expect(entries.map((e) => (m.ops.lo(e) & _PAGE_DIRTY) !== 0)).toEqual([false, false, false, true]);
    expect(entries.every((e) => (m.ops.lo(e) & _PAGE_ACCESSED) !== 0)).toBe(true);
    expect(w.perms & PERM_D).toBe(PERM_D);
  });

  it('leaves the leaf A and D alone on a protection fault but sets A above it', () => {
    const { m, w, entries } = setup();
    m.ops.ptepClearBits(entries[3], _PAGE_RW);
    for (const e of entries) m.ops.ptepClearBits(e, _PAGE_ACCESSED | _PAGE_DIRTY);
    expect(w.walkVa(m.root, UVA, ACC_USER_WRITE)).toBe(false);
    expect(w.errorCode).toBe(X86_PF_PROT | X86_PF_WRITE | X86_PF_USER);
    expect(w.faultLevel).toBe(1);
    expect(entries.map((e) => (m.ops.lo(e) & _PAGE_ACCESSED) !== 0)).toEqual([true, true, true, false]);
    expect(m.ops.lo(entries[3]) & _PAGE_DIRTY).toBe(0);
  });
});

describe('page walker: rights and faults', () => {
  it('ANDs RW and US over the levels', () => {
    for (const level of [4, 3, 2, 1]) {
      const { m, w, entries } = setup();
      m.ops.ptepClearBits(entries[4 - level], _PAGE_RW);
      expect(w.walkVa(m.root, UVA, ACC_USER_READ), `read, RW clear at ${level}`).toBe(true);
      expect(w.perms & PERM_W).toBe(0);
      expect(w.walkVa(m.root, UVA, ACC_USER_WRITE)).toBe(false);
      expect(w.errorCode).toBe(X86_PF_PROT | X86_PF_WRITE | X86_PF_USER);
      // CR0.WP = 1: the supervisor cannot write either.
      expect(w.walkVa(m.root, UVA, ACC_WRITE)).toBe(false);
      expect(w.errorCode).toBe(X86_PF_PROT | X86_PF_WRITE);

      const u = setup();
      u.m.ops.ptepClearBits(u.entries[4 - level], _PAGE_USER);
      expect(u.w.walkVa(u.m.root, UVA, ACC_USER_READ), `US clear at ${level}`).toBe(false);
      expect(u.w.errorCode).toBe(X86_PF_PROT | X86_PF_USER);
      expect(u.w.walkVa(u.m.root, UVA, ACC_READ)).toBe(true);
      expect(u.w.perms & PERM_U).toBe(0);
    }
  });

  it('ORs NX over the levels', () => {
    for (const level of [4, 3, 2, 1]) {
      const { m, w, entries } = setup();
      for (const e of entries) m.ops.ptepModify(e, m.ops.lo(e), m.ops.hi(e) & 0x7fffffff, false);
      expect(w.walkVa(m.root, UVA, ACC_USER_FETCH)).toBe(true);
      const e = entries[4 - level];
      m.ops.ptepModify(e, m.ops.lo(e), m.ops.hi(e) | (1 << 31), false);
      expect(w.walkVa(m.root, UVA, ACC_USER_FETCH), `NX at ${level}`).toBe(false);
      expect(w.errorCode).toBe(X86_PF_PROT | X86_PF_USER | X86_PF_INSTR);
      expect(w.walkVa(m.root, UVA, ACC_USER_READ)).toBe(true);
      expect(w.perms & PERM_NX).toBe(PERM_NX);
      expect(w.walkVa(m.root, UVA, ACC_FETCH)).toBe(false);
    }
  });

  it('reports a not-present fault with the level where the walk stopped', () => {
    for (const level of [4, 3, 2, 1]) {
      const { m, w, entries } = setup();
      m.ops.ptepGetAndClear(entries[4 - level]);
      expect(w.walkVa(m.root, UVA, ACC_USER_WRITE)).toBe(false);
      expect(w.errorCode).toBe(X86_PF_WRITE | X86_PF_USER);
      expect(w.faultLevel).toBe(level);
      expect(w.leafWord).toBe(entries[4 - level]);
    }
  });

  it('faults with RSVD on reserved bits and on frames outside memory', () => {
    const cases: [string, (s: ReturnType<typeof setup>) => void, number][] = [
      ['PS in a PML4E', (s) => s.m.ops.ptepSetBits(s.entries[0], _PAGE_PSE), 4],
      ['address bit above MAXPHYADDR', (s) => s.m.ops.ptepModify(s.entries[2], s.m.ops.lo(s.entries[2]), s.m.ops.hi(s.entries[2]) | (1 << 19), false), 2],
      ['frame beyond RAM', (s) => s.m.ops.ptepModify(s.entries[3], (s.m.ops.lo(s.entries[3]) & 0xfff) | (0xfffff << 12), s.m.ops.hi(s.entries[3]), false), 1],
    ];
    for (const [name, corrupt, level] of cases) {
      const s = setup();
      corrupt(s);
      expect(s.w.walkVa(s.m.root, UVA, ACC_USER_READ), name).toBe(false);
      expect(s.w.errorCode & (X86_PF_RSVD | X86_PF_PROT), name).toBe(X86_PF_RSVD | X86_PF_PROT);
      expect(s.w.faultLevel, name).toBe(level);
    }
    const huge = testMachine();
    const w = Walker.uncounted(huge.mem, huge.cb);
    huge.b.map(huge.root, 0x4000_0000, 512, SIZE_2M, USER_RW, true);
    const pde = huge.b.entry(huge.root, 0x4000_0000, 2);
    huge.ops.ptepSetBits(pde, 1 << 14);
    expect(w.walkVa(huge.root, 0x4000_0000, ACC_USER_READ)).toBe(false);
    expect(w.errorCode & X86_PF_RSVD).toBe(X86_PF_RSVD);
  });
});

describe('page walker: huge leaves', () => {
  it('translates 2 MiB and 1 GiB leaves to the right 4 KiB frame', () => {
    const m = testMachine(64 << 20);
    const w = Walker.uncounted(m.mem, m.cb);
    const p2 = m.b.allocFrame(512);
    m.b.map(m.root, 0x4000_0000, p2, SIZE_2M, USER_RW | _PAGE_GLOBAL, false);
    expect(w.walkVa(m.root, 0x4000_0000 + 0x12345, ACC_USER_WRITE)).toBe(true);
    expect({ size: w.size, pfn: w.pfn, base: w.basePfn }).toEqual({ size: SIZE_2M, pfn: p2 + 0x12, base: p2 });
    expect(w.perms & (PERM_W | PERM_U | PERM_D | PERM_G)).toBe(PERM_W | PERM_U | PERM_D | PERM_G);
    // A 1 GiB leaf that RAM does not wholly back faults with RSVD, even where frames exist.
    m.b.map(m.root, 0x80_0000_0000, 0, SIZE_1G, USER_RW, true);
    expect(w.walkVa(m.root, 0x80_0000_0000 + 5, ACC_USER_READ)).toBe(false);
    expect(w.errorCode & X86_PF_RSVD).toBe(X86_PF_RSVD);
    expect(w.faultLevel).toBe(3);
  });

  it('translates a 1 GiB leaf that RAM backs', () => {
    const m = testMachine(2 ** 31);
    const w = Walker.uncounted(m.mem, m.cb);
    m.b.map(m.root, 0x80_0000_0000, 2 ** 18, SIZE_1G, USER_RW, true);
    expect(w.walkVa(m.root, 0x80_0000_0000 + 0x100_0000 + 5, ACC_USER_READ)).toBe(true);
    expect({ size: w.size, pfn: w.pfn, base: w.basePfn }).toEqual({ size: SIZE_1G, pfn: 2 ** 18 + 0x1000, base: 2 ** 18 });
  });

  it('records the table frames it passed, for the paging-structure caches', () => {
    const { m, w } = setup();
    expect(w.walkVa(m.root, UVA, ACC_USER_READ)).toBe(true);
    expect(w.tablesFrom).toBe(2);
    const frames = [4, 3, 2].map((l) => w.tables[l]);
    const expected = [3, 2, 1].map((l) => Math.floor(m.b.entry(m.root, UVA, l) / 1024));
    expect(frames).toEqual(expected);
    expect(w.size).toBe(SIZE_4K);
  });
});
