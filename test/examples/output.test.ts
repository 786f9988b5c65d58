// The examples' --json (sweep results, one run a line, that ptlab plot and report read) and
// --plot FILE (an SVG chart written on the host).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aggregate, parseResults } from '../../host/results.ts';
import { bootTest } from '../harness/machine.ts';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

describe('examples with --json and --plot', () => {
  it('tlb-reach: a run per working set, page size and pattern, and the walks chart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-example-'));
    const t = await bootTest();
    try {
      const svg = join(dir, 'reach.svg');
      const e = await t.m.run(example('tlb-reach.ts'), ['--loads', '2000', '--max-mib', '16', '--json', '--plot', svg]);
      const text = t.out.get(e.pid) ?? '';
      expect(e.exitCode, text).toBe(0);
      // Nothing but the JSON lines: 16 KiB to 16 MiB by 4 (6 sets) x 2 page sizes x 2 patterns.
      const { runs } = parseResults(text, 'stdout');
      expect(runs).toHaveLength(24);
      expect(runs[0]).toMatchObject({ point: { working_set: 16384, pages: '4 KiB', pattern: 'sequential' }, status: 'ok', repeat: 0 });
      expect(runs[0].command).toMatch(/^ptlab run .*examples\/tlb-reach\.ts --loads 2000 --max-mib 16$/);
      const walks = aggregate(runs, { x: 'working_set', y: 'walks_per_1000' });
      const random4k = walks.filter((a) => a.series === 'pages=4 KiB, pattern=random').map((a) => a.y.mean);
      // No walk within the STLB's reach (6 MiB), most loads walk at 16 MiB.
      expect(random4k.slice(0, 4)).toEqual([0, 0, 0, 0]);
      expect(random4k[5]).toBeGreaterThan(500);
      const chart = readFileSync(svg, 'utf8');
      expect(chart).toMatch(/^<svg/);
      expect(chart.match(/aria-roledescription="point"/g)).toHaveLength(24);
      expect(chart).toContain('>4 KiB, random<');
    } finally {
      await t.finish();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('refpage: frames per iteration by touch size and way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-example-'));
    const t = await bootTest();
    try {
      const svg = join(dir, 'refpage.svg');
      const e = await t.m.run(example('refpage.ts'), ['--iterations', '2', '--json', '--plot', svg]);
      const text = t.out.get(e.pid) ?? '';
      expect(e.exitCode, text).toBe(0);
      const { runs } = parseResults(text, 'stdout');
      expect(runs.map((r) => `${r.point.touch_bytes} ${r.point.way} ${r.values.frames_per_iter}`)).toEqual([
        '4096 memset 1001', '4096 refpage 2', '2048000 memset 1001', '2048000 refpage 501', '4096000 memset 1001', '4096000 refpage 1001',
      ]);
      expect(readFileSync(svg, 'utf8').match(/aria-roledescription="point"/g)).toHaveLength(6);
    } finally {
      await t.finish();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('dirty-tracking: a run per frame with its method, and the modeled time per frame charted by method', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-example-'));
    const t = await bootTest();
    try {
      const svg = join(dir, 'frames.svg');
      const e = await t.m.run(example('dirty-tracking.ts'), ['--pages', '600', '--frames', '15', '--json', '--plot', svg]);
      const text = t.out.get(e.pid) ?? '';
      expect(e.exitCode, text).toBe(0);
      const { runs } = parseResults(text, 'stdout');
      expect(runs).toHaveLength(15);
      expect(runs[0]).toMatchObject({ point: { frame: 0, phase: 'sparse', method: 'mkwrite' }, values: { drawn: 6, faults: 6, missed: 0 } });
      expect(runs[0].command).toMatch(/^ptlab run .*examples\/dirty-tracking\.ts --pages 600 --frames 15$/);
      // The first dense frame faults on every page (MKWRITE); once PAGETABLE has taken over
      // and the pages are writable, drawing costs no fault and far less modeled time.
      expect(runs[5].values.faults).toBe(600);
      const late = runs[9];
      expect(late.point.method).toBe('pagetable');
      expect(late.values.faults).toBe(0);
      expect(late.values.draw_us).toBeLessThan(runs[5].values.draw_us / 100);
      const chart = readFileSync(svg, 'utf8');
      expect(chart.match(/aria-roledescription="point"/g)).toHaveLength(15);
      expect(chart).toContain('>pagetable<');
    } finally {
      await t.finish();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('sga: a run per way with the clients completed and killed, and the page-table chart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-example-'));
    const t = await bootTest();
    try {
      const svg = join(dir, 'sga.svg');
      const e = await t.m.run(example('sga.ts'), ['--size-mib', '8', '--clients', '2', '--ways', 'file,mshare', '--json', '--plot', svg]);
      const text = t.out.get(e.pid) ?? '';
      expect(e.exitCode, text).toBe(0);
      const { runs } = parseResults(text, 'stdout');
      // 8 MiB: 16 KiB of PTEs per MAP_SHARED client, none with mshare.
      expect(runs.map((r) => [r.point.way, r.values.clients_completed, r.values.clients_killed, r.values.clients_tables_kib])).toEqual([
        ['file', 2, 0, 32], ['mshare', 2, 0, 0],
      ]);
      expect(runs[0].command).toMatch(/^ptlab run .*examples\/sga\.ts --size-mib 8 --clients 2 --ways file,mshare$/);
      expect(readFileSync(svg, 'utf8').match(/aria-roledescription="point"/g)).toHaveLength(2);
    } finally {
      await t.finish();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('tlb-patterns (a host script, npm start): JSON lines and a PNG chart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-example-'));
    try {
      const png = join(dir, 'walks.png');
      const r = spawnSync(process.execPath, ['--import', 'tsx', example('tlb-patterns.ts'), '--accesses', '20000', '--json', '--plot', png], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const { runs } = parseResults(r.stdout, 'stdout');
      // 64 KiB, 4 MiB, 64 MiB of 4 KiB pages and 64 MiB of 2 MiB pages, each sequential and random.
      expect(runs).toHaveLength(8);
      expect(runs[0].command).toBe('npm start -- --accesses 20000');
      // Random loads over 64 MiB of 4 KiB pages: most walk (the STLB reaches 6 MiB).
      expect(runs[5]).toMatchObject({ point: { working_set: 64 * 2 ** 20, page: '4 KiB', pattern: 'random', preset: 'skylake' } });
      expect(runs[5].values.walks_per_1000).toBeGreaterThan(800);
      expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
