// The VMA B-tree against a naive sorted-array model, on random operation sequences large
// enough to split and merge nodes over several levels.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Vma } from '../../../kernel/mm/mm_types.ts';
import { anonVmOps } from '../../../kernel/mm/fault.ts';
import { VmaTree } from '../../../kernel/mm/vmatree.ts';
import { VmaIntervalTree } from '../../../kernel/mm/interval_tree.ts';

const P = 4096;

class Model {
  vmas: Vma[] = [];
  sort(): void {
    this.vmas.sort((a, b) => a.start - b.start);
  }
  find(a: number) { return this.vmas.find((v) => v.start <= a && a < v.end) ?? null; }
  findNext(a: number) { return this.vmas.find((v) => v.end > a) ?? null; }
  prevOf(a: number) { return [...this.vmas].reverse().find((v) => v.end <= a) ?? null; }
  intersecting(s: number, e: number) { return this.vmas.filter((v) => v.end > s && v.start < e); }
  free(s: number, e: number, except?: Vma) { return this.vmas.every((v) => v === except || v.end <= s || v.start >= e); }
  gapTopDown(len: number, low: number, high: number): number {
    const edges = [-Infinity, ...this.vmas.flatMap((v) => [v.start, v.end]), Infinity];
    for (let i = edges.length - 2; i >= 0; i -= 2) {
      const a = Math.max(edges[i], low);
      const b = Math.min(edges[i + 1], high);
      if (b - a >= len) return b - len;
    }
    return -1;
  }
}

const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('insert' as const), page: fc.nat(1500), pages: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('bounds' as const), pick: fc.nat(), ds: fc.integer({ min: -3, max: 3 }), de: fc.integer({ min: -3, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('query' as const), page: fc.nat(1600), off: fc.constantFrom(0, 17), pages: fc.integer({ min: 1, max: 12 }) }) },
);

describe('VmaTree (B+-tree with gap tracking)', () => {
  it('agrees with a sorted array on every query after random inserts, removes and bound changes', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 200, maxLength: 1200 }), (ops) => {
      const t = new VmaTree();
      const m = new Model();
      for (const o of ops) {
        if (o.k === 'insert') {
          const s = o.page * P;
          const e = s + o.pages * P;
          if (!m.free(s, e)) {
            expect(() => t.insert(new Vma(s, e, 0, 0, anonVmOps))).toThrow(/overlaps/);
            continue;
          }
          const v = new Vma(s, e, 0, 0, anonVmOps);
          t.insert(v);
          m.vmas.push(v);
          m.sort();
        } else if (o.k === 'remove' && m.vmas.length > 0) {
          const v = m.vmas[o.pick % m.vmas.length];
          t.remove(v);
          m.vmas.splice(m.vmas.indexOf(v), 1);
        } else if (o.k === 'bounds' && m.vmas.length > 0) {
          const v = m.vmas[o.pick % m.vmas.length];
          const s = v.start + o.ds * P;
          const e = v.end + o.de * P;
          // setBounds keeps a VMA's place: it may grow or shrink up to its neighbours.
          const i = m.vmas.indexOf(v);
          const lo = i > 0 ? m.vmas[i - 1].end : 0;
          const hi = i + 1 < m.vmas.length ? m.vmas[i + 1].start : Infinity;
          if (s >= lo && s < e && e <= hi) t.setBounds(v, s, e);
        } else if (o.k === 'query') {
          const a = o.page * P + o.off;
          const len = o.pages * P;
          expect(t.find(a)).toBe(m.find(a));
          expect(t.findNext(a)).toBe(m.findNext(a));
          expect(t.prevOf(a)).toBe(m.prevOf(a));
          expect(t.intersecting(a, a + len)).toEqual(m.intersecting(a, a + len));
          const low = (o.page % 97) * P;
          const high = low + 1500 * P;
          expect(t.gapTopDown(len, low, high)).toBe(m.gapTopDown(len, low, high));
        }
        t.validate();
      }
      expect(t.count).toBe(m.vmas.length);
      expect(t.all()).toEqual(m.vmas);
      for (const v of [...m.vmas]) t.remove(v);
      expect(t.count).toBe(0);
      expect(t.all()).toEqual([]);
      expect(t.gapTopDown(P, 0, 100 * P)).toBe(99 * P);
    }), { numRuns: Number(process.env.TREE_RUNS ?? 40), ...(process.env.TREE_SEED ? { seed: Number(process.env.TREE_SEED), path: process.env.TREE_PATH ?? '', endOnFailure: true } : {}) });
  });

  it('stays shallow: 100,000 VMAs in a few levels, found in O(log n)', () => {
    const t = new VmaTree();
    const vmas: Vma[] = [];
    for (let i = 0; i < 100_000; i++) {
      const v = new Vma(i * 2 * P, i * 2 * P + P, 0, 0, anonVmOps);
      vmas.push(v);
      t.insert(v);
    }
    expect(t.count).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) expect(t.find(i * 2 * P + 5)).toBe(vmas[i]);
    // Every gap is one page: above the last VMA, and between any two.
    expect(t.gapTopDown(P, 0, 200_000 * P)).toBe(199_999 * P);
    expect(t.gapTopDown(2 * P, 0, 200_000 * P)).toBe(-1);
    t.remove(vmas[31_337]); // a three-page hole deep inside the tree
    expect(t.gapTopDown(2 * P, 0, 200_000 * P)).toBe(31_337 * 2 * P);
    expect(t.gapTopDown(3 * P, 0, 200_000 * P)).toBe(31_337 * 2 * P - P);
    // A hole of 100 VMAs spans leaves: it is found through the gaps between nodes.
    for (let i = 50_000; i < 50_100; i++) t.remove(vmas[i]);
    expect(t.gapTopDown(150 * P, 0, 200_000 * P)).toBe(50_100 * 2 * P - 150 * P);
    expect(t.prevOf(50_100 * 2 * P)).toBe(vmas[49_999]);
    expect(t.intersecting(49_999 * 2 * P, 50_101 * 2 * P)).toEqual([vmas[49_999], vmas[50_100]]);
  });
});

describe('the i_mmap interval tree', () => {
  it('answers overlap queries like a naive list, through inserts, deletes and re-keying', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(60), fc.integer({ min: 1, max: 20 }), fc.boolean()), { maxLength: 80 }), (ops) => {
      const tree = new VmaIntervalTree();
      const live: Vma[] = [];
      for (const [pgoff, pages, del] of ops) {
        if (del && live.length > 0) {
          const v = live.splice(pgoff % live.length, 1)[0];
          expect(tree.delete(v)).toBe(true);
        } else {
          const v = new Vma(pgoff * 4096, (pgoff + pages) * 4096, 0, pgoff, anonVmOps);
          tree.add(v);
          live.push(v);
        }
        tree.validate();
      }
      for (let first = 0; first < 85; first += 7) {
        const last = first + 5;
        const want = live.filter((v) => v.pgoff <= last && v.pgoff + (v.end - v.start) / 4096 - 1 >= first).sort((a, b) => a.pgoff - b.pgoff);
        const got = [...tree.overlapping(first, last)];
        expect(new Set(got)).toEqual(new Set(want));
        expect(got.map((v) => v.pgoff)).toEqual(want.map((v) => v.pgoff));
      }
      expect(tree.size).toBe(live.length);
    }), { numRuns: 200 });
  });
});
