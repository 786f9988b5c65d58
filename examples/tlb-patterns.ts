// The demo behind `npm start`: how access patterns and page sizes show up in the TLB
// counters of the emulated machine. It builds page tables by hand (no kernel needed yet),
// sweeps working sets sequentially and at random, and prints per-1000-access miss rates the
// way `perf stat -e dTLB-loads,dTLB-load-misses` would report them on the modeled CPU, and
// the modeled cycles per load (README.md, "Modeled time"; no kernel runs here, so they are
// the translation's alone).
//
//   npm start                       # skylake preset
//   npm start -- --preset haswell   # another TLB geometry (skylake, haswell, teaching)
//   npm start -- --accesses 4000000 # more accesses per row
//   npm start -- --json             # the rows as JSON lines (sweep results: ptlab plot reads them)
//   npm start -- --plot walks.svg   # a chart of the walks (.png for PNG)

import { parseArgs } from 'node:util';
import {
  _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, ControlBlock, Mmu, PageTableBuilder,
  PageTableOps, PhysMem, PRESETS, readCpuCounters, SIZE_2M, SIZE_4K, tlbConfig,
} from '../machine/index.ts';
import { Progress } from '../host/progress.ts';
import type { Result } from '../host/results.ts';

const USAGE = `usage: npm start -- [--preset NAME] [--accesses N] [--json] [--plot FILE]

  --preset NAME   TLB geometry: ${Object.keys(PRESETS).join(', ')} (default skylake)
  --accesses N    8-byte loads per row (default 1000000)
  --json          print the rows as JSON lines (sweep results), not the table
  --plot FILE     write a chart of the walks to FILE (SVG, or PNG if it ends in .png)
  --help          print this`;

function options(): { preset: string; accesses: number; json: boolean; plot: string | undefined } {
  let values;
  try {
    ({ values } = parseArgs({
      strict: true,
      options: {
        preset: { type: 'string', default: 'skylake' }, accesses: { type: 'string', default: '1000000' }, help: { type: 'boolean' },
        json: { type: 'boolean' }, plot: { type: 'string' },
      },
    }));
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\nvalid options: --preset, --accesses, --json, --plot, --help\n${USAGE}`);
    process.exit(2);
  }
  if (values.help === true) {
    console.log(USAGE);
    process.exit(0);
  }
  const accesses = Number(values.accesses);
  if (!(values.preset in PRESETS) || !(Number.isInteger(accesses) && accesses > 0)) {
    console.error(`--preset is one of ${Object.keys(PRESETS).join(', ')}; --accesses a positive integer\n${USAGE}`);
    process.exit(2);
  }
  return { preset: values.preset, accesses, json: values.json === true, plot: values.plot };
}
const { preset, accesses, json, plot } = options();
const say = json ? () => {} : console.log;

const FLAGS = _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
const BASE = 0x7f00_0000_0000;
const KiB = 1024;
const MiB = 1024 * KiB;

interface Row {
  bytes: number;
  set: string;
  page: string;
  pattern: string;
  c: Record<string, number>;
}

/**
 * Map `bytes` of virtual memory with pages of `size`, every page backed by the same few
 * frames (what the TLB sees depends only on the virtual pages), and run `accesses` 8-byte
 * loads in `pattern`.
 */
function run(bytes: number, size: number, pattern: 'sequential' | 'random'): Row {
  const mem = PhysMem.create(64 * MiB);
  const cb = ControlBlock.create(1);
  const b = new PageTableBuilder(new PageTableOps(mem, cb));
  const root = b.newRoot();
  const pageBytes = size === SIZE_4K ? 4 * KiB : 2 * MiB;
  const frame = b.allocFrame(512);
  for (let va = BASE; va < BASE + bytes; va += pageBytes) b.map(root, va, frame, size, FLAGS, true);
  const mmu = new Mmu(mem, cb, 0, { tlb: tlbConfig(preset) });
  mmu.loadCr3(root);
  const words = bytes / 8;
  let x = 0x9e3779b9;
  let sum = 0;
  for (let i = 0; i < accesses; i++) {
    let w: number;
    if (pattern === 'sequential') w = i % words;
    else {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      w = (x >>> 0) % words;
    }
    sum += mmu.loadF64(BASE + w * 8);
  }
  if (Number.isNaN(sum)) throw new Error('unreachable');
  return {
    bytes,
    set: bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`,
    page: size === SIZE_4K ? '4 KiB' : '2 MiB',
    pattern,
    c: readCpuCounters(cb, 0),
  };
}

const geometry = PRESETS[preset];
say(`ptlab TLB demo: preset ${preset} (${geometry.description})`);
say(`${accesses.toLocaleString('en')} 8-byte loads per row; rates are per 1000 loads.\n`);
const header = ['working set', 'page', 'pattern', 'L1 miss', 'STLB hit', 'walks', 'walk refs', 'PDE$ hit', 'cycles/load'];
const widths = [11, 6, 10, 8, 8, 8, 9, 8, 11];
const line = (cells: string[]) => cells.map((s, i) => (i < 3 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ');
say(line(header));
const rate = (n: number, c: Record<string, number>) => (1000 * n) / c.dtlb_loads;
const per1k = (n: number, c: Record<string, number>) => rate(n, c).toFixed(1);
const results: Result[] = [];
const bar = new Progress({ label: 'tlb-patterns', total: 8, out: process.stderr });
for (const [bytes, size] of [[64 * KiB, SIZE_4K], [4 * MiB, SIZE_4K], [64 * MiB, SIZE_4K], [64 * MiB, SIZE_2M]] as const) {
  for (const pattern of ['sequential', 'random'] as const) {
    const r = run(bytes, size, pattern);
    const c = r.c;
    results.push({
      point: { working_set: r.bytes, page: r.page, pattern: r.pattern },
      values: {
        l1_misses_per_1000: rate(c.l1_dtlb_load_misses, c), stlb_hits_per_1000: rate(c['dtlb_load_misses.stlb_hit'], c),
        walks_per_1000: rate(c['dtlb_load_misses.walk_completed'], c), walk_refs_per_1000: rate(c.walk_mem_refs, c),
        cycles_per_load: c.cycles / c.dtlb_loads,
      },
    });
    bar.clear();
    say(line([r.set, r.page, r.pattern, per1k(c.l1_dtlb_load_misses, c), per1k(c['dtlb_load_misses.stlb_hit'], c),
      per1k(c['dtlb_load_misses.walk_completed'], c), per1k(c.walk_mem_refs, c), per1k(c['psc.pde_hit'], c), (c.cycles / c.dtlb_loads).toFixed(2)]));
    bar.advance(`${r.set} ${r.page} ${r.pattern}`);
  }
}
bar.finish();
const entries = (arrays: { entries: number; sizes: string[] }[], size: string) => arrays.filter((t) => t.sizes.includes(size)).reduce((n, t) => n + t.entries, 0);
const reach = (n: number, page: number) => (n * page >= MiB ? `${(n * page) / MiB} MiB` : `${(n * page) / KiB} KiB`);
const l14k = entries(geometry.l1, '4k');
const st4k = entries(geometry.stlb, '4k');
const l12m = entries(geometry.l1, '2m') + entries(geometry.stlb, '2m');
say(`
How to read it (preset ${preset}):
- L1 miss: loads that missed the L1 dTLB. walks = perf's dTLB-load-misses (page walks);
  walk refs = paging-structure entries read by those walks.
- cycles/load: modeled (README.md, "Modeled time"): a cycle a load, plus the preset's latencies
  for each STLB hit, walk and entry read the walker makes.
- A sequential sweep misses once per page (512 loads of 8 bytes): about 2 per 1000 loads.
- Random loads stay inside the L1 dTLB while the working set is within its reach
  (${l14k} entries of 4 KiB: ${reach(l14k, 4 * KiB)})${st4k > 0 ? `; up to the STLB's reach (${st4k} entries: ${reach(st4k, 4 * KiB)}) they miss L1 but hit the STLB` : '; there is no STLB'}; beyond that they walk${geometry.pdeCache.entries > 0 ? `, and the PDE cache (paging-structure cache, ${geometry.pdeCache.entries} entries) makes most walks read a single entry` : ', each walk reading all four levels (no paging-structure caches)'}.
- 2 MiB pages cover 64 MiB with 32 entries; the TLBs hold ${l12m} of that size${l12m >= 32 ? ', so the same random loads no longer walk' : ', so random loads over 64 MiB still walk, if less often'}.`);
if (json) {
  const command = ['npm', 'start', '--', ...process.argv.slice(2).filter((a, i, all) => a !== '--json' && a !== '--plot' && all[i - 1] !== '--plot')].join(' ');
  for (const r of results) console.log(JSON.stringify({ point: { ...r.point, preset }, repeat: 0, status: 'ok', values: r.values, command }));
}
if (plot !== undefined) {
  const { chartSpec } = await import('../host/chart.ts');
  const { writeChart } = await import('../host/plot.ts');
  const { aggregate, runsOf } = await import('../host/results.ts');
  const runs = runsOf(results.map((r) => ({ point: { working_set: r.point.working_set, page: `${r.point.page}, ${r.point.pattern}` }, values: r.values })));
  const axes = { x: 'working_set', y: 'walks_per_1000', color: 'page', logX: true, title: `page walks per 1000 loads, preset ${preset}` };
  await writeChart(chartSpec(aggregate(runs, axes), axes), plot);
}
