// The examples that run as guests keep working (small runs; the defaults are for people).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bootTest } from '../harness/machine.ts';

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
