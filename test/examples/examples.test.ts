// The examples that run as guests keep working (small runs; the defaults are for people).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadExperiments } from '../../host/experiments.ts';
import { bootTest } from '../harness/machine.ts';

/** The value experiments/NAME.json plots (npm run report), which the example must report. */
const figureY = (name: string): string => loadExperiments(fileURLToPath(new URL('../../experiments', import.meta.url))).find((x) => x.name === name)!.figure.y;

const DIRTY = fileURLToPath(new URL('../../examples/dirty-tracking.ts', import.meta.url));

describe('examples/dirty-tracking.ts', () => {
  it('harvests every drawn page through both method switches', async () => {
    const t = await bootTest();
    const e = await t.m.run(DIRTY, ['--pages', '600', '--frames', '15']);
    const text = [...t.out.values()].join('');
    expect(e.exitCode, text).toBe(0);
    expect(text).toContain('frames with a missed page: 0');
    expect(text.match(/<- switched/g)).toHaveLength(2);
    await t.finish();
  });

  it('gives the same modeled draw and harvest times on every run: the renderer waits blocked, never spinning', async () => {
    const runs = [];
    // Two fresh machines (a second run on the same machine finds it in another state).
    for (let i = 0; i < 2; i++) {
      const t = await bootTest();
      const e = await t.m.run(DIRTY, ['--pages', '600', '--frames', '15', '--json']);
      const text = t.out.get(e.pid) ?? '';
      expect(e.exitCode, text).toBe(0);
      const frames = text.trim().split('\n').map((l) => JSON.parse(l) as { point: { method: string }; values: Record<string, number> });
      runs.push({
        methods: frames.map((f) => f.point.method),
        cycles: frames.map((f) => [f.values.draw_us, f.values.harvest_us]),
        process: e.counters.cycles,
        span: e.clockEnd - e.clockStart,
      });
      await t.finish();
    }
    // Both switches happen, so harvests shoot down the renderer's TLB in either mode.
    expect(new Set(runs[0].methods)).toEqual(new Set(['mkwrite', 'pagetable']));
    expect(runs[0].cycles.every(([, harvest]) => harvest > 0)).toBe(true);
    // A harvest's shootdown finds the renderer blocked in its write, so the compositor's
    // clock takes nothing from it; the whole process (its wait for the renderer included)
    // comes out the same too.
    expect(runs[1]).toEqual(runs[0]);
  }, 60_000);
});

const SGA = fileURLToPath(new URL('../../examples/sga.ts', import.meta.url));

describe('examples/sga.ts', () => {
  it('MAP_SHARED clients each build S/512 of page tables; mshare clients build none and fault once', async () => {
    const t = await bootTest();
    const e = await t.m.run(SGA, ['--size-mib', '8', '--clients', '3']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    // 8 MiB of 4 KiB pages: 16 KiB of PTEs per client with the memfd, one fault per
    // fault-around window of 16 pages; with mshare a single linking fault per client.
    expect(text).toMatch(/^MAP_SHARED of a memfd +3\/3 +0 +16\.0 KiB +48\.0 KiB +16\.0 KiB +384 /m);
    expect(text).toMatch(/^mshare +3\/3 +0 +\S+ KiB +0 B +0 B +3 /m);
    // hugetlb PMD sharing: one fault each (the link); a PDPT and the shared page directory
    // in each client's VmPTE (Linux counts the shared one in every sharer).
    expect(text).toMatch(/^hugetlb PMD sharing +3\/3 +0 +8\.0 KiB +24\.0 KiB +8\.0 KiB +3 /m);
    expect(text).toContain('every client attached and touched the area');
    // The same figures reported, each way's under NAME[way=W] (three ways ran).
    expect(e.values).toMatchObject({
      'clients_tables_kib[way=file]': 48, 'minor_faults[way=file]': 384, 'clients_completed[way=file]': 3,
      'clients_tables_kib[way=mshare]': 0, 'minor_faults[way=mshare]': 3, 'clients_tables_kib[way=hugetlb]': 24, 'minor_faults[way=hugetlb]': 3,
    });
    await t.finish();
  }, 300_000);

  it('reports one way\'s figures under their own names, the experiment\'s y among them', async () => {
    const t = await bootTest();
    const e = await t.m.run(SGA, ['--size-mib', '8', '--clients', '2', '--ways', 'file']);
    expect(e.exitCode, t.out.get(e.pid)).toBe(0);
    expect(e.values).toMatchObject({ clients_completed: 2, clients_tables_kib: 32, per_client_tables_kib: 16, minor_faults: 256 });
    expect(e.values[figureY('sga')]).toBe(32);
    await t.finish();
  }, 300_000);

  it('completes its table when the OOM killer kills MAP_SHARED clients, and counts them right', async () => {
    // 36 MiB of memory and a 32 MiB area: too little for 48 clients' page tables (64 KiB
    // each, plus their own pages) with MAP_SHARED; mshare clients build none and all fit.
    const t = await bootTest({ memBytes: 36 << 20 });
    const e = await t.m.run(SGA, ['--size-mib', '32', '--clients', '48', '--ways', 'file,mshare']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    const file = /^MAP_SHARED of a memfd +(\d+)\/48 +(\d+) \(SIGKILL\) /m.exec(text);
    expect(file, text).not.toBeNull();
    const [completed, killed] = [Number(file![1]), Number(file![2])];
    expect(killed).toBeGreaterThan(0);
    expect(completed + killed).toBe(48);
    // Every kill is the OOM killer's: one "Killed process" line each in the kernel log, and
    // the headline and /proc/vmstat's oom_kill say the same.
    expect(t.kernelLog.filter((l) => /^Out of memory: Killed process \d+ \(sga\)/.test(l))).toHaveLength(killed);
    expect(text).toContain(`MAP_SHARED of a memfd fits ${completed} of 48 clients (killed: ${killed} (SIGKILL), ${killed} OOM kill`);
    expect(text).toMatch(/^mshare +48\/48 +0 /m);
    expect(text).toContain('mshare fits all 48');
    // The extrapolation names the ways run only.
    expect(text).toMatch(/^ {2}MAP_SHARED: \d+ GiB of page tables$/m);
    expect(text).not.toContain('hugetlb:');
    await t.finish();
  }, 600_000);
});

const ZYGOTE = fileURLToPath(new URL('../../examples/zygote.ts', import.meta.url));

describe('examples/zygote.ts', () => {
  it('reports per way the page tables and the PTEs fork copied: the image\'s with fork, none of them with mshare', async () => {
    const t = await bootTest();
    const values = async (way: string) => {
      const e = await t.m.run(ZYGOTE, ['--image-mib', '4', '--apps', '2', '--ways', way]);
      expect(e.exitCode, t.out.get(e.pid)).toBe(0);
      expect(t.out.get(e.pid)).toMatch(/^\| (fork \(private page tables\)|mshare region) \| \d+ KiB \| \d+ KiB \| /m); // the table as before
      return e.values;
    };
    const fork = await values('fork');
    const mshare = await values('mshare');
    const pages = (4 << 20) / 4096;
    // fork copies a PTE for every page of the 4 MiB image, and each app holds the PTE pages
    // (2 of 4 KiB) that map it; an mshare app links to the region's tables and copies none.
    expect(fork.ptes_copied_per_app).toBeGreaterThanOrEqual(pages);
    expect(fork.ptes_copied_per_app - mshare.ptes_copied_per_app).toBeGreaterThanOrEqual(pages);
    expect(fork.tables_kib_per_app - mshare.tables_kib_per_app).toBeGreaterThanOrEqual(8);
    for (const v of [fork, mshare]) {
      expect(v.tables_kib_all_apps).toBe(2 * v.tables_kib_per_app);
      expect(v[figureY('zygote')]).toBeGreaterThan(0);
    }
    await t.finish();
  }, 300_000);
});

const RMAP = fileURLToPath(new URL('../../examples/rmap-cost.ts', import.meta.url));

describe('examples/rmap-cost.ts', () => {
  it('reports the reclaim phase alone: every walk of a page mapped by 4 processes visits 4 PTEs', async () => {
    const t = await bootTest({ memBytes: 32 << 20, swapBytes: 8 << 20 });
    const e = await t.m.run(RMAP, ['--size-mib', '1', '--procs', '4', '--ways', 'file']);
    expect(e.exitCode, t.out.get(e.pid)).toBe(0);
    const v = e.values;
    expect(v.pages_reclaimed).toBeGreaterThan(0);
    expect(v.oom_kills).toBe(0);
    expect(v.rmap_pte_visits).toBe(4 * v.rmap_walks);
    expect(v.pte_visits_per_page).toBeCloseTo(v.rmap_pte_visits / v.pages_reclaimed, 9);
    expect(v.modeled_ms).toBeGreaterThan(0);
    expect(v[figureY('rmap-cost')]).toBe(v.pte_visits_per_page);
    await t.finish();
  }, 300_000);
});

const REFPAGE = fileURLToPath(new URL('../../examples/refpage.ts', import.meta.url));

describe('examples/refpage.ts', () => {
  it('refpage allocates a frame per touched page, memset one per page of the mapping', async () => {
    const t = await bootTest();
    const e = await t.m.run(REFPAGE, ['--iterations', '3']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    // frames/iter and faults/iter per touch size (1000 pages mapped; one page-table page).
    const rows = [...text.matchAll(/^ +(\d+) +(memset|refpage) +[\d.]+ +[\d.]+ +([\d.]+) +([\d.]+) /gm)].map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
    expect(rows).toEqual([
      '4096 memset 1001.0 1000.0', '4096 refpage 2.0 1.0',
      '2048000 memset 1001.0 1000.0', '2048000 refpage 501.0 500.0',
      '4096000 memset 1001.0 1000.0', '4096000 refpage 1001.0 1000.0',
    ]);
    // Modeled time: refpage's saving over memset at each touch size, beside the patch's.
    expect(text).toMatch(/^ +4096 +refpage saves \d+% of memset's modeled time, -?\d+% of its wall time \(patch: 99%\)$/m);
    expect(text).toMatch(/^ +4096000 +refpage saves \d+% of memset's modeled time, -?\d+% of its wall time \(patch: 15%\)$/m);
    // The patch's times (1000 iterations) scaled to the 3 run: 3.962194 s x 0.003, 3.385003 s x 0.003.
    expect(text).toContain('patch*: time (s)');
    expect(text).toMatch(/^ +4096 +memset .* 0\.011887 +6656$/m);
    expect(text).toMatch(/^ +4096000 +refpage .* 0\.010155 +6684$/m);
    expect(text).toContain("* the patch's times are for 1000 iterations, scaled here to 3 (x 0.003)");
    // Where the savings depart: per page of stores and per faulted page, three ways; the
    // patch's from its published times (0.60 us of stores, 3.39 us a faulted page: 15%).
    expect(text).toMatch(/^ {2}ptlab, wall clock \(emulated MMU\) +a page of stores +[\d.]+ us, a faulted page +[\d.]+ us \( *[\d.]+ x\): saves -?\d+%$/m);
    expect(text).toMatch(/^ {2}ptlab, modeled \(kernel cost table\) +a page of stores +[\d.]+ us, a faulted page +[\d.]+ us \( *[\d.]+ x\): saves \d+%$/m);
    expect(text).toMatch(/^ {2}the patch \(DragonBoard 845c\) +a page of stores +0\.60 us, a faulted page +3\.39 us \( +5\.63 x\): saves 15%$/m);
    await t.finish();
  }, 300_000);

  it('--pages maps that many pages: touch sizes a page, half and all of them', async () => {
    const t = await bootTest();
    const e = await t.m.run(REFPAGE, ['--iterations', '2', '--pages', '9']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    expect(text).toContain('mmap 36864 bytes');
    // frames/iter and faults/iter: memset faults all 9 pages in, refpage the touched ones
    // only (1, 4 and 9); 9 pages fit in a page table that is already there.
    const rows = [...text.matchAll(/^ +(\d+) +(memset|refpage) +[\d.]+ +[\d.]+ +([\d.]+) +([\d.]+) /gm)].map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
    expect(rows).toEqual([
      '4096 memset 9.0 9.0', '4096 refpage 1.0 1.0',
      '16384 memset 9.0 9.0', '16384 refpage 4.0 4.0',
      '36864 memset 9.0 9.0', '36864 refpage 9.0 9.0',
    ]);
    expect(text).toContain("the patch's figures are for mappings of 1000 pages (touching 4096, 2048000, 4096000 bytes), these of 9.");
    const bad = await t.m.run(REFPAGE, ['--pages', '1']);
    expect(bad.exitCode).toBe(2);
    expect(t.out.get(bad.pid) ?? '').toContain('--pages is an integer of at least 2');
    await t.finish();
  }, 300_000);
});

const REACH = fileURLToPath(new URL('../../examples/tlb-reach.ts', import.meta.url));

describe('examples/tlb-reach.ts', () => {
  it('misses start where the Skylake model reach ends: 256 KiB and 6 MiB with 4 KiB pages; none with THP', async () => {
    const t = await bootTest();
    const e = await t.m.run(REACH, ['--loads', '20000', '--max-mib', '16']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0);
    const row = (ws: string, pages: string, pattern: string) => {
      const m = new RegExp(`^${ws} +${pages} +${pattern} +([\\d.]+) +([\\d.]+)`, 'm').exec(text);
      return m === null ? [NaN, NaN] : [Number(m[1]), Number(m[2])];
    };
    // Random loads: L1 (64 x 4 KiB = 256 KiB) misses 1 - 256 KiB / ws; the STLB (1536 x 4 KiB
    // = 6 MiB) 1 - 6 MiB / ws; 2 MiB pages reach 64 MiB in L1 alone.
    expect(row('256 KiB', '4 KiB', 'random')).toEqual([0, 0]);
    expect(row('1 MiB', '4 KiB', 'random')[0]).toBeCloseTo(750, -2);
    expect(row('4 MiB', '4 KiB', 'random')[1]).toBe(0);
    expect(row('16 MiB', '4 KiB', 'random')[1]).toBeCloseTo(625, -2);
    expect(row('16 MiB', 'THP', 'random')).toEqual([0, 0]);
    // Sequential 64-byte steps: one L1 miss per 4 KiB page, a walk per page beyond the STLB.
    expect(row('16 MiB', '4 KiB', 'sequential')).toEqual([15.6, 15.6]);
    await t.finish();
  });
});

const MAP_FIXED = fileURLToPath(new URL('../../examples/map-fixed.ts', import.meta.url));

describe('examples/map-fixed.ts', () => {
  it('a thread replacing a mapping with MAP_FIXED shows the others no hole; the failing cases are as Linux has them', async () => {
    const t = await bootTest();
    const e = await t.m.run(MAP_FIXED, ['--rounds', '100', '--threads', '1']);
    const text = t.out.get(e.pid) ?? '';
    expect(e.exitCode, text).toBe(0); // its own check: 0 SIGSEGVs with MAP_FIXED, every case as Linux's
    expect(text).toMatch(/^MAP_FIXED +[1-9]\d* +\d+ +0$/m);
    expect(text).toMatch(/^MAP_HUGETLB, empty pool +ENOMEM, a hole +ENOMEM, a hole$/m);
    await t.finish();
  });
});

const POINT = fileURLToPath(new URL('../../examples/reach-point.ts', import.meta.url));

describe('examples/reach-point.ts', () => {
  it('reports one TLB-reach point: 16 MiB of 4 KiB pages walks 625 times per 1000 random loads, of THP once per huge page', async () => {
    const t = await bootTest();
    const small = await t.m.run(POINT, ['--size', '16M', '--loads', '20000']);
    expect(small.exitCode, t.out.get(small.pid)).toBe(0);
    expect(small.values.walks_per_1k).toBeCloseTo(625, -2); // 1 - 6 MiB / 16 MiB, give or take the sample
    expect(Object.keys(small.values)).toEqual(['l1_misses_per_1k', 'stlb_hits_per_1k', 'walks_per_1k', 'cycles_per_load']);
    // Modeled time is deterministic: the same run again gives the same cycles, for the
    // measured loads and for the whole process (its start, populate and exit included).
    const again = await t.m.run(POINT, ['--size', '16M', '--loads', '20000']);
    expect(again.values).toEqual(small.values);
    expect(again.counters.cycles).toBe(small.counters.cycles);
    expect(again.clockEnd - again.clockStart).toBe(small.clockEnd - small.clockStart);
    const thp = await t.m.run(POINT, ['--size', '16M', '--page', 'thp', '--loads', '20000']);
    // One walk per 2 MiB page, its first load: 8 in 20000 loads, each 9 + 9 cycles and its
    // entry reads (at most 4 + 4 + 12): 1.01 modeled cycles a load.
    expect(thp.values).toEqual({ l1_misses_per_1k: 0.4, stlb_hits_per_1k: 0, walks_per_1k: 0.4, cycles_per_load: 1.01 });
    expect((await t.m.run(POINT, ['--size', '5000'])).exitCode).toBe(2);
    await t.finish();
  }, 60_000);
});
