import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  latenciesOf, PRESETS,
  _PAGE_RW, _PAGE_USER, CLOCK_BASE, cpuI32Base, FOLD_AT, HOT_CLOCK, POLICY_LRU, POLICY_PLRU,
  POLICY_RANDOM, readCpuCounters, TlbArray,
} from '../../machine/index.ts';
import { cpu, testMachine, UVA } from './helpers.ts';

function array(entries: number, ways: number, policy: number, seed = 1): TlbArray {
  return new TlbArray('test', entries, ways, 1, policy, seed, new Int32Array(entries), 0);
}

/** Fill tags 0..ways-1 into set 0 of a one-set array (tags step by `sets` to stay in set 0). */
function fillSet(t: TlbArray, clock = 1): number[] {
  const ids: number[] = [];
  for (let w = 0; w < t.ways; w++) ids.push(t.fill(w * t.sets, 0, 0, w, 0, clock + w));
  return ids;
}

describe('TLB array replacement', () => {
  it('fills invalid ways first, lowest first, under every policy', () => {
    for (const policy of [POLICY_LRU, POLICY_PLRU, POLICY_RANDOM]) {
      const t = array(16, 4, policy);
      expect(fillSet(t)).toEqual([0, 1, 2, 3]);
      t.invalidate(2);
      expect(t.fill(100 * t.sets, 0, 0, 9, 0, 50)).toBe(2);
      expect(t.count()).toBe(4);
    }
  });

  it('tree-PLRU evicts the way the tree points at, never the one just used', () => {
    const t = array(8, 8, POLICY_PLRU);
    fillSet(t); // touched 0..7 in order: every node points away from the last touch
    expect(t.fill(100, 0, 0, 0, 0, 0)).toBe(0);
    // Way 0 now holds tag 100 and was touched: the root points right, 4..7 was last touched
    // at 7, so its subtree points at 4..5, and 5 was touched after 4.
    expect(t.fill(101, 0, 0, 0, 0, 0)).toBe(4);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 40 }), (touches) => {
      const p = array(7, 7, POLICY_PLRU); // not a power of two: way 7 does not exist
      fillSet(p);
      for (const w of touches) p.touch(w, 0);
      const v = p.fill(1000 * p.sets, 0, 0, 0, 0, 0);
      expect(v).toBeLessThan(7);
      expect(v).not.toBe(touches[touches.length - 1]);
    }));
  });

  it('random replacement is seeded: the same seed gives the same victims, and every way is used', () => {
    const victims = (seed: number) => {
      const t = array(4, 4, POLICY_RANDOM, seed);
      fillSet(t);
      return Array.from({ length: 64 }, (_, k) => t.fill((10 + k) * t.sets, 0, 0, 0, 0, 0));
    };
    expect(victims(7)).toEqual(victims(7));
    expect(victims(7)).not.toEqual(victims(8));
    expect(new Set(victims(7)).size).toBe(4);
  });

  it('LRU evicts the least recently touched way, and re-ranking stamps keeps that order', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 60 }), fc.nat(60), (seq, rankAt) => {
      const a = array(4, 4, POLICY_LRU);
      const b = array(4, 4, POLICY_LRU);
      let clock = 1;
      seq.forEach((tag, k) => {
        if (k === rankAt) b.rankStamps();
        clock++;
        for (const t of [a, b]) {
          const i = t.lookup(tag, 0, 0);
          if (i >= 0) t.touch(i, clock);
          else t.fill(tag, 0, 0, tag, 0, clock);
        }
        expect(Array.from(b.tagA)).toEqual(Array.from(a.tagA));
      });
      // The LRU victim is the way whose tag was used least recently.
      const lastUse = new Map<number, number>();
      seq.forEach((tag, k) => lastUse.set(tag, k));
      if (a.count() === 4) {
        const oldest = [...a.tagA].sort((x, y) => lastUse.get(x)! - lastUse.get(y)!)[0];
        expect(a.tagA[a.fill(99, 0, 0, 0, 0, clock + 1)]).toBe(99);
        expect(a.lookup(oldest, 0, 0)).toBe(-1);
      }
    }));
  });
});

describe('access clock folding', () => {
  it('a fold changes no counter and no replacement decision', () => {
    // The same access trace on two identical machines; on the second the clock jumps to just
    // below the fold point (stamps keep their order) and then folds.
    const run = (jumpAt: number) => {
      const m = testMachine();
      m.b.mapFresh(m.root, UVA, 300, _PAGE_RW | _PAGE_USER);
      const mmu = cpu(m, 0);
      let x = 12345;
      for (let k = 0; k < 20000; k++) {
        if (k === jumpAt) m.cb.i32[cpuI32Base(0) + HOT_CLOCK] = FOLD_AT - 100;
        x = (x * 1103515245 + 12345) & 0x7fffffff;
        const page = (x >>> 8) % (k % 3 === 0 ? 300 : 90);
        if (k & 1) mmu.store8(UVA + page * 4096 + (k & 4095), k);
        else mmu.load8(UVA + page * 4096 + (k & 4095));
      }
      return readCpuCounters(m.cb, 0);
    };
    const a = run(-1);
    const b = run(5000);
    const jump = FOLD_AT - 100 - (CLOCK_BASE + 5000);
    for (const name of Object.keys(a)) {
      // The jump adds loads, and the cycles the modeled clock charges for them (1 each on skylake).
      const expected = name === 'emu.lookups' || name === 'dtlb_loads' ? a[name] + jump
        : name === 'cycles' ? a[name] + jump * latenciesOf(PRESETS.skylake).access : a[name];
      expect(b[name], name).toBe(expected);
    }
    expect(a['dtlb_load_misses.walk_completed']).toBeGreaterThan(100);
  });
});
