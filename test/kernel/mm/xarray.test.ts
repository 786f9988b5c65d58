// The page cache's radix tree (kernel/mm/xarray.ts) against a Map model, on random
// operation sequences over index sets that are dense, sparse (lone entries in inner slots,
// pushed down when a neighbour arrives), and high (above 2^32, where digits are taken by
// division), large enough to grow several levels, shrink, compact and empty the tree.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XArray } from '../../../kernel/mm/xarray.ts';

type Op = { op: 'store' | 'erase' | 'load' | 'next' | 'eraseRange'; idx: number; value: number; n: number };

/** Indices from a few regions: small dense, sparse up to 2^20, around 2^32, near 2^52. */
const index = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 1 << 20 }),
  fc.integer({ min: 2 ** 32 - 40, max: 2 ** 32 + 40 }),
  fc.integer({ min: 2 ** 52 - 40, max: 2 ** 52 - 1 }),
);
const opArb: fc.Arbitrary<Op> = fc.record({
  op: fc.constantFrom<Op['op']>('store', 'store', 'store', 'erase', 'load', 'next', 'eraseRange'),
  idx: index,
  value: fc.integer({ min: 0, max: 0x7fffffff }),
  n: fc.integer({ min: 1, max: 600 }),
});

function modelNext(m: Map<number, number>, idx: number): number {
  let best = -1;
  for (const k of m.keys()) if (k >= idx && (best === -1 || k < best)) best = k;
  return best;
}

function check(xa: XArray, m: Map<number, number>): void {
  expect(xa.size).toBe(m.size);
  const seen: [number, number][] = [];
  xa.forEach((i, v) => seen.push([i, v]));
  expect(seen).toEqual([...m].sort((a, b) => a[0] - b[0]));
  const viaNext: number[] = [];
  for (let i = xa.next(0); i !== -1; i = xa.next(i + 1)) viaNext.push(i);
  expect(viaNext).toEqual(seen.map(([i]) => i));
  if (m.size === 0) expect(xa.byteLength).toBe(0);
}

function run(xa: XArray, m: Map<number, number>, ops: Op[]): void {
  for (const { op, idx, value, n } of ops) {
    if (op === 'store') {
      // A run of n stores from idx: dense leaves and several levels.
      for (let i = idx; i < idx + n && i < 2 ** 52; i += 1 + (value % 3)) {
        xa.store(i, value);
        m.set(i, value);
      }
    } else if (op === 'erase') {
      expect(xa.erase(idx)).toBe(m.get(idx) ?? -1);
      m.delete(idx);
    } else if (op === 'load') {
      expect(xa.load(idx)).toBe(m.get(idx) ?? -1);
      expect(xa.has(idx)).toBe(m.has(idx));
    } else if (op === 'next') {
      expect(xa.next(idx)).toBe(modelNext(m, idx));
    } else {
      // Erase [idx, idx + n) by walking next(), as truncate does.
      for (let i = xa.next(idx); i !== -1 && i < idx + n; i = xa.next(i + 1)) {
        expect(xa.erase(i)).toBe(m.get(i));
        m.delete(i);
      }
      expect(xa.next(idx)).toBe(modelNext(m, idx) < idx + n ? -1 : modelNext(m, idx));
    }
  }
  check(xa, m);
}

describe('XArray', () => {
  it('matches a Map on random operation sequences', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      run(new XArray(), new Map(), ops);
    }), { numRuns: Number(process.env.TREE_RUNS ?? 60) });
  });

  it('keeps float64 values in a wide tree', () => {
    const xa = new XArray(true);
    xa.store(5, 2 ** 40 + 1);
    xa.store(2 ** 33, 0);
    expect(xa.load(5)).toBe(2 ** 40 + 1);
    expect(xa.load(2 ** 33)).toBe(0);
    expect(xa.next(6)).toBe(2 ** 33);
  });

  it('grows, compacts and releases its arrays', () => {
    const xa = new XArray();
    for (let i = 0; i < 4096; i++) xa.store(i, i);
    const full = xa.byteLength;
    // 256 leaves and 17 inner nodes of 66 bytes, with up to half again for growth.
    expect(full).toBeGreaterThanOrEqual(273 * 66);
    expect(full).toBeLessThanOrEqual(273 * 66 * 1.5 + 66 * 4);
    for (let i = 16; i < 4096; i++) xa.erase(i);
    expect(xa.byteLength).toBeLessThan(full / 8);
    expect(xa.next(0)).toBe(0);
    expect(xa.next(16)).toBe(-1);
    for (let i = 0; i < 16; i++) expect(xa.erase(i)).toBe(i);
    expect(xa.byteLength).toBe(0);
    expect(xa.size).toBe(0);
  });

  it('refuses what no caller may store', () => {
    const xa = new XArray();
    expect(() => xa.store(0, -1)).toThrow();
    expect(() => xa.store(0, 2 ** 31)).toThrow();
    expect(() => xa.store(2 ** 52, 1)).toThrow();
    expect(() => xa.store(1.5, 1)).toThrow();
  });
});
