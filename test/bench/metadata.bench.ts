// Kernel metadata per 4 KiB frame (DESIGN.md section 8: <= 24 bytes, anonymous and page
// cache alike), counted the way PageAllocator.metadataBytesPerFrame counts the frame array:
// the bytes of the typed arrays that hold it, divided by the frames they describe.
//
//   anonymous frame    the per-frame arrays (struct page): every frame has them
//   page-cache frame   the same, plus its file's page-cache trees (pages, swapped, shadows:
//                      kernel/mm/xarray.ts) divided by the pages cached
//
// Page-cache files: dense (16,384 pages from index 0), sparse (every 16th page: one entry per
// leaf node) and scattered (4,096 pages at random indices below 2^20). As a cross-check of
// "no per-page JS objects", the JS heap growth per page (heapUsed + arrayBuffers, after a
// forced gc) is measured for the same work, and for a Map<index, frame> of the same entries
// (what the page cache held before) as the reference. Run with
// `npx vitest bench --run test/bench/metadata.bench.ts`; the rows also go to the table
// `npm run bench` prints at its end (report.ts).

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, bench, describe } from 'vitest';
import { AddressSpace, cachePage } from '../../kernel/mm/filemap.ts';
import { XArray } from '../../kernel/mm/xarray.ts';
import { memoryWorld } from '../harness/kernel.ts';
import { recordRow } from './report.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const TARGET = 24;

function heapBytes(): number {
  gc();
  gc();
  const u = process.memoryUsage();
  return u.heapUsed + u.arrayBuffers;
}

type Layout = { name: string; indices: number[] };
function xorshift(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}
const rnd = xorshift(0x9e3779b9);
const scattered = new Set<number>();
while (scattered.size < 4096) scattered.add(rnd() % (1 << 20));
const layouts: Layout[] = [
  { name: 'dense (16,384 pages from 0)', indices: Array.from({ length: 16384 }, (_, i) => i) },
  { name: 'sparse (every 16th page)', indices: Array.from({ length: 4096 }, (_, i) => i * 16) },
  { name: 'scattered (4,096 below 2^20)', indices: [...scattered] },
];

type Row = { what: string; perFrame: number; index: number; heap: number; mapHeap: number };
const rows: Row[] = [];
/** Machines measured stay reachable, so none is collected inside another's heap window. */
const kept: unknown[] = [];

/** The metadata of a file's pages cached at `indices` on a fresh 256 MiB machine. */
function measureCache(l: Layout): Row {
  const k = memoryWorld(256 << 20, 1).k;
  const structPage = k.pages.metadataBytesPerFrame;
  const m = new AddressSpace(k.nextIno(), 4 << 30, 'bench');
  const map = new Map<number, number>();
  kept.push(k, m, map);
  const before = heapBytes();
  for (const idx of l.indices) if (cachePage(k, m, idx) < 0) throw new Error('bench: out of memory');
  const heap = (heapBytes() - before) / l.indices.length;
  const index = (m.pages.byteLength + m.swapped.byteLength + m.shadows.byteLength) / l.indices.length;
  const mapBefore = heapBytes();
  for (const idx of l.indices) map.set(idx, m.pages.load(idx));
  const mapHeap = (heapBytes() - mapBefore) / l.indices.length;
  if (map.size !== m.pages.size) throw new Error('bench: the map and the cache differ');
  return { what: `page-cache frame, ${l.name}`, perFrame: structPage + index, index, heap, mapHeap };
}

/** Anonymous frames: only the per-frame arrays (page tables are frames, the anon_vma is per VMA). */
function measureAnon(): Row {
  const k = memoryWorld(256 << 20, 1).k;
  kept.push(k);
  return { what: 'anonymous frame', perFrame: k.pages.metadataBytesPerFrame, index: 0, heap: NaN, mapHeap: NaN };
}

afterAll(() => {
  measureCache({ name: 'warm-up', indices: layouts[0].indices.slice(0, 4096) }); // compile the paths first
  rows.push(measureAnon(), ...layouts.map(measureCache));
  const f = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));
  const head = `  ${'what'.padEnd(48)} ${'measured B'.padStart(10)} ${'of which index'.padStart(14)} ${'JS heap/page'.padStart(12)} ${'Map heap/page (before)'.padStart(22)} ${'target'.padStart(7)}  pass`;
  const lines = rows.map((r) => `  ${r.what.padEnd(48)} ${f(r.perFrame).padStart(10)} ${f(r.index).padStart(14)} ${f(r.heap).padStart(12)} ${f(r.mapHeap).padStart(22)} ${`<= ${TARGET}`.padStart(7)}  ${r.perFrame <= TARGET ? 'pass' : 'FAIL'}`);
  rows.forEach((r, i) => recordRow({
    order: 70 + i, what: `kernel metadata per ${r.what}`, refName: '', unit: 'bytes', measured: [r.perFrame], reference: [], target: TARGET,
    ...(Number.isNaN(r.heap) ? {} : { note: `JS heap growth ${f(r.heap)} B/page after gc; a Map: ${f(r.mapHeap)} B/page` }),
  }));
  console.log(`\nptlab kernel metadata per 4 KiB frame (typed-array bytes / frames; heap columns: growth after gc, per page):\n${head}\n${lines.join('\n')}\n`);
}, 120_000);

// Lookup speed of the page-cache index against the Map it replaced, over the dense layout.
const dense = layouts[0].indices;
const xa = new XArray();
const map = new Map<number, number>();
for (const i of dense) {
  xa.store(i, i + 1);
  map.set(i, i + 1);
}
let sink = 0;
describe('page-cache lookup, 16,384 dense pages', () => {
  bench('Map.get', () => {
    for (let i = 0; i < dense.length; i++) sink += map.get(i)!;
  });
  bench('XArray.load', () => {
    for (let i = 0; i < dense.length; i++) sink += xa.load(i);
  });
  afterAll(() => {
    if (sink === 0) console.log('');
  });
});
