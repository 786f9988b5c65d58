// One point of the TLB-reach curve, for ptlab sweep: random 8-byte loads over a working set
// of --size bytes backed by 4 KiB pages or transparent huge pages (--page 4k or thp),
// populated first; reports, per 1000 loads, L1 dTLB misses, STLB hits and page walks
// (perf's dTLB-load-misses), and the modeled cycles per load (README.md, "Modeled time"),
// with report(), and prints them.
//
//   node bin/ptlab.mjs stat -e dTLB-loads,dTLB-load-misses examples/reach-point.ts --size 16M
//   node bin/ptlab.mjs sweep -p size=1M,16M,64M -p page=4k,thp -o reach.jsonl \
//     examples/reach-point.ts --size {size} --page {page}
import {
  accessors, counters, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_POPULATE_WRITE, madvise, MAP_ANONYMOUS, MAP_PRIVATE, mmap,
  print, PROT_READ, PROT_WRITE, report,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';

const USAGE = 'usage: ptlab run examples/reach-point.ts [--size BYTES] [--page 4k|thp] [--loads N]';
const H = 2 << 20;

function bytes(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (m === null) return NaN;
  return Number(m[1]) * { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
}

export default function main(argv: string[]): number {
  const o = exampleOptions(argv, USAGE, {
    size: { default: '16M', help: 'working set, bytes with K, M or G' },
    page: { default: '4k', help: 'page size: 4k or thp' },
    loads: { default: '200000', help: 'random loads measured' },
  });
  if (typeof o === 'number') return o;
  const size = bytes(o.size);
  const loads = Number(o.loads);
  if (!(size >= 4096 && size % 4096 === 0)) return refuse(USAGE, `--size ${o.size}: a multiple of 4K`);
  if (o.page !== '4k' && o.page !== 'thp') return refuse(USAGE, `--page ${o.page}: 4k or thp`);
  if (!(Number.isInteger(loads) && loads > 0)) return refuse(USAGE, `--loads ${o.loads}: a positive integer`);
  // Aligned to 2 MiB so that THP can back all of it.
  const raw = mmap(0, size + H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const base = Math.ceil(raw / H) * H;
  madvise(base, size, o.page === 'thp' ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  madvise(base, size, MADV_POPULATE_WRITE);
  const { load64 } = accessors();
  const words = size / 8;
  let x = 0x9e3779b9;
  const before = counters();
  for (let i = 0; i < loads; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    load64(base + ((x >>> 0) % words) * 8);
  }
  const after = counters();
  const per1k = (name: string): number => Math.round((after[name] - before[name]) / loads * 1e4) / 10;
  const r = {
    l1_misses_per_1k: per1k('l1_dtlb_load_misses'), stlb_hits_per_1k: per1k('dtlb_load_misses.stlb_hit'), walks_per_1k: per1k('dtlb_load_misses.walk_completed'),
    cycles_per_load: Math.round((after.cycles - before.cycles) / loads * 100) / 100,
  };
  report(r);
  print(`${o.size} ${o.page}: per 1000 loads, L1 misses ${r.l1_misses_per_1k}, STLB hits ${r.stlb_hits_per_1k}, walks ${r.walks_per_1k}; ${r.cycles_per_load} modeled cycles per load`);
  return 0;
}
