// TLB reach: the experiment every TLB paper starts with, run through the kernel. Loads,
// sequential (a cache line at a time) and random (a random word of the working set), over
// working sets from 16 KiB upwards, backed by 4 KiB pages (MADV_NOHUGEPAGE), transparent
// huge pages (MADV_HUGEPAGE) and, when the machine has room for one (--mem 2G or more), a
// 1 GiB hugetlb page (MAP_HUGETLB | MAP_HUGE_1GB from a pool set up through sysfs). For each
// it prints, per 1000 loads, L1 dTLB misses, STLB misses (page walks, what perf calls
// dTLB-load-misses) and the page-walk memory references, and the modeled cycles per load
// (README.md, "Modeled time": the same on every run).
//
//   node bin/ptlab.mjs run --mem 4G examples/tlb-reach.ts [--loads N] [--max-mib M]
//   node bin/ptlab.mjs run --preset haswell examples/tlb-reach.ts
//   node bin/ptlab.mjs run examples/tlb-reach.ts --json > reach.jsonl   (then ptlab plot, report)
//   node bin/ptlab.mjs run examples/tlb-reach.ts --plot reach.svg
//
// The largest working set is the largest power of four within 60% of MemTotal (less the
// 1 GiB page)
// (or --max-mib); each is populated before it is measured.
import {
  accessors, counters, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_POPULATE_WRITE, madvise, MAP_ANONYMOUS, MAP_HUGE_SHIFT,
  MAP_HUGETLB, MAP_PRIVATE, mmap, munmap, print, progress, PROT_READ, PROT_WRITE, readFile, syscall, SYS_mmap, writeFile,
} from 'ptlab/userland';
import { exampleOptions, refuse } from './options.ts';
import { OUTPUT_OPTIONS, printJson, type Result, writePlot } from './output.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const H = 2 * MiB;


const size = (bytes: number) => (bytes >= GiB ? `${bytes / GiB} GiB` : bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`);

/** A xorshift generator: the same addresses in every run. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

interface Row { l1: number; walks: number; refs: number; cycles: number }
type Kind = '4 KiB' | 'THP' | '1 GiB';

/**
 * A 1 GiB hugetlb page, populated: the pool gets one page through sysfs (we are root), then
 * MAP_HUGETLB | MAP_HUGE_1GB maps it. 0 if the machine has no room for one.
 */
function gigantic(): number {
  writeFile('/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages', '1');
  const p = syscall(SYS_mmap, 0, GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
  if (p < 0) return 0;
  madvise(p, GiB, MADV_POPULATE_WRITE);
  return p;
}

/** Map `ws` bytes with the page kind asked for (the 1 GiB page is mapped once), populate them, run the loads. */
function measure(ws: number, kind: Kind, pattern: 'sequential' | 'random', loads: number, giant: number): Row {
  // 2 MiB-aligned (get_unmapped_area aligns a multiple of 2 MiB), padded to one.
  const len = Math.ceil(ws / H) * H;
  let p = giant;
  if (kind !== '1 GiB') {
    p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    madvise(p, len, kind === 'THP' ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    madvise(p, len, MADV_POPULATE_WRITE);
  }
  const { load32 } = accessors();
  const next = random(ws + kind.length);
  const words = ws / 4;
  // Warm up once over the set (or the first loads), then count; the sequential walk goes on
  // from where the warm-up stopped.
  let off = 0;
  const run = (n: number): number => {
    let sum = 0;
    if (pattern === 'sequential') {
      for (let i = 0; i < n; i++, off = (off + 64) % ws) sum += load32(p + off);
    } else {
      for (let i = 0; i < n; i++) sum += load32(p + 4 * Math.floor(next() * words));
    }
    return sum;
  };
  run(Math.min(loads, Math.max(ws / 64, 1)));
  const c0 = counters();
  run(loads);
  const c1 = counters();
  if (kind !== '1 GiB') munmap(p, len);
  const d = (name: string) => ((c1[name] - c0[name]) * 1000) / loads;
  return { l1: d('l1_dtlb_load_misses'), walks: d('dtlb_load_misses.walk_completed'), refs: d('walk_mem_refs'), cycles: (c1.cycles - c0.cycles) / loads };
}

export default async function main(argv: string[]): Promise<number> {
  const usage = 'usage: ptlab run --mem 4G examples/tlb-reach.ts [--loads N] [--max-mib M] [--json] [--plot FILE]';
  const o = exampleOptions(argv, usage, {
    loads: { default: '200000', help: 'loads per row' },
    'max-mib': { default: '0', help: 'largest working set in MiB (0: 60% of memory, at most 4 GiB)' },
    ...OUTPUT_OPTIONS,
  });
  if (typeof o === 'number') return o;
  const loads = Number(o.loads);
  if (!(Number.isInteger(loads) && loads >= 1) || !(Number(o['max-mib']) >= 0)) return refuse(usage, '--loads is a positive integer, --max-mib a size in MiB');
  const memTotal = Number(/MemTotal:\s+(\d+)/.exec(readFile('/proc/meminfo'))?.[1]) * KiB;
  const giant = memTotal >= 2 * GiB - 4 * MiB ? gigantic() : 0;
  let max = Number(o['max-mib']) * MiB || (memTotal - (giant > 0 ? GiB : 0)) * 0.6;
  if (max > 4 * GiB) max = 4 * GiB;
  const sets: number[] = [];
  for (let ws = 16 * KiB; ws <= max; ws *= 4) sets.push(ws);
  const json = o.json === 'true';
  const say = json ? () => {} : print;
  say(`TLB reach: ${loads} loads per row, per 1000 loads (walks = dTLB-load-misses), working sets to ${size(sets[sets.length - 1])}`);
  say('');
  const kinds: Kind[] = giant > 0 ? ['4 KiB', 'THP', '1 GiB'] : ['4 KiB', 'THP'];
  if (giant === 0) say('(no 1 GiB page: the machine needs --mem 2G or more for one)');
  const results: Result[] = [];
  const bar = progress('tlb-reach', sets.reduce((n, ws) => n + kinds.filter((k) => k !== '1 GiB' || ws <= GiB).length * 2, 0));
  say('working set   pages   pattern      L1 misses   walks   walk refs   cycles/load (modeled)');
  for (const ws of sets) {
    for (const kind of kinds) {
      if (kind === '1 GiB' && ws > GiB) continue;
      for (const pattern of ['sequential', 'random'] as const) {
        const r = measure(ws, kind, pattern, loads, giant);
        results.push({ point: { working_set: ws, pages: kind, pattern }, values: { l1_misses_per_1000: r.l1, walks_per_1000: r.walks, walk_refs_per_1000: r.refs, cycles_per_load: r.cycles } });
        say(`${size(ws).padEnd(12)}  ${kind.padEnd(6)}  ${pattern.padEnd(10)} ${r.l1.toFixed(1).padStart(11)} ${r.walks.toFixed(1).padStart(7)} ${r.refs.toFixed(1).padStart(11)} ${r.cycles.toFixed(2).padStart(12)}`);
        bar.advance(`${size(ws)} ${kind} ${pattern}`);
      }
    }
  }
  bar.finish();
  if (json) printJson(results, argv);
  if (o.plot !== '') {
    // One line per page size and pattern.
    const lines = results.map((r) => ({ point: { working_set: r.point.working_set, pages: `${r.point.pages}, ${r.point.pattern}` }, values: r.values }));
    await writePlot(o.plot, lines, { x: 'working_set', y: 'walks_per_1000', color: 'pages', logX: true, title: `STLB misses (page walks) per 1000 loads, ${loads} loads a point` });
  }
  return 0;
}
