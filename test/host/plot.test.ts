// host/results.ts (reading sweep results, folding repeats) and host/plot.ts (charts to SVG
// and PNG without a browser), on a results file written by hand in the sweep's format.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { chartSpec, renderSvg } from '../../host/chart.ts';
import { renderPng } from '../../host/plot.ts';
import { aggregate, kindOf, parseResults, readResults, spread } from '../../host/results.ts';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const REACH = fileURLToPath(new URL('fixtures/reach.jsonl', import.meta.url));

describe('sweep results', () => {
  it('finds a name in the point, then the values, then the counters; an unknown name lists them all', () => {
    const { runs } = readResults(REACH);
    expect(runs).toHaveLength(24);
    expect(kindOf(runs, 'size')).toBe('point');
    expect(kindOf(runs, 'walks_per_1000')).toBe('value');
    expect(kindOf(runs, 'page_faults')).toBe('counter');
    expect(() => kindOf(runs, 'nope')).toThrow(
      "no 'nope' in the results; point parameters: preset, size; values: walks_per_1000; counters: dtlb_load_misses.walk_completed, dtlb_loads, page_faults",
    );
  });

  it('folds the repeats of a point into mean, min, max and sample stddev; failed runs are left out', () => {
    const { runs } = readResults(REACH);
    const aggs = aggregate(runs, { x: 'size', y: 'dtlb_load_misses.walk_completed', color: 'preset' });
    expect(aggs).toHaveLength(8);
    const at = (preset: string, size: number) => aggs.find((a) => a.color === preset && a.x === size)!;
    // skylake, 16 MiB: 20000 * (1 - 6/16) = 12500, plus 0, 7, 14 over the repeats.
    expect(at('skylake', 16 * 2 ** 20).y).toEqual({ mean: 12507, min: 12500, max: 12514, stddev: 7, n: 3 });
    // haswell, 64 MiB: its third repeat failed.
    expect(at('haswell', 64 * 2 ** 20).y.n).toBe(2);
    expect(at('haswell', 64 * 2 ** 20).commands).toEqual(['ptlab stat --preset haswell --json test/guests/reach.ts --size 67108864']);
    expect(spread([5])).toEqual({ mean: 5, min: 5, max: 5, stddev: 0, n: 1 });
  });

  it('names the line of a bad run; other varying parameters become series', () => {
    expect(() => parseResults('{"point":{},"status":"ok"}\n\n[1]\n', 'r.jsonl')).toThrow('r.jsonl:3: a run is a JSON object');
    expect(() => parseResults('{"point":{},"status":"ok","counters":{"a":"x"}}', 'r.jsonl')).toThrow('r.jsonl:1: "counters" maps names to numbers');
    const run = (way: string, size: number, v: number) => JSON.stringify({ point: { way, size, preset: 'skylake' }, status: 'ok', values: { t: v } });
    const { runs } = parseResults([run('a', 1, 1), run('b', 1, 2), run('a', 2, 3), run('b', 2, 4)].join('\n'), 'r');
    expect(aggregate(runs, { x: 'size', y: 't' }).map((a) => a.series)).toEqual(['way=a', 'way=b', 'way=a', 'way=b']);
  });
});

describe('ptlab plot', () => {
  it('renders an SVG with a mark per point and an error bar, a legend of the colours, and log axes', async () => {
    const { runs } = readResults(REACH);
    const o = { x: 'size', y: 'dtlb_load_misses.walk_completed', color: 'preset', logX: true, logY: true };
    const spec = chartSpec(aggregate(runs, o), o);
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    // Points: vega's symbols, 8 of them, each with its values in its ARIA label.
    const symbols = svg.match(/<path aria-label="[^"]*" role="graphics-symbol" aria-roledescription="point"/g) ?? [];
    expect(symbols).toHaveLength(8);
    expect(svg).toContain('dtlb_load_misses.walk_completed (mean): 12,507');
    expect(svg).toContain('>haswell<');
    expect(svg).toContain('>skylake<');
    // The y data have zeros: the log axis is symlog.
    expect(JSON.stringify(spec)).toContain('"symlog"');
    const png = await renderPng(svg, 1);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('writes SVG or PNG by the extension; an unknown name is exit 2 with the names available', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptlab-plot-'));
    try {
      const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'plot', REACH, ...args], { encoding: 'utf8', timeout: 60_000 });
      const svg = run('--x', 'size', '--y', 'walks_per_1000', '--color', 'preset', '-o', join(dir, 'a.svg'));
      expect(svg.stderr).toBe('');
      expect(svg.stdout).toBe(`ptlab plot: wrote ${join(dir, 'a.svg')}: 8 points from 23 runs (1 failed run not plotted)\n`);
      expect(readFileSync(join(dir, 'a.svg'), 'utf8')).toMatch(/^<svg/);
      expect(run('--x', 'size', '--y', 'page_faults', '-o', join(dir, 'a.png')).status).toBe(0);
      expect(readFileSync(join(dir, 'a.png')).subarray(1, 4).toString()).toBe('PNG');
      const bad = run('--x', 'size', '--y', 'walks');
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("ptlab plot: no 'walks' in the results; point parameters: preset, size; values: walks_per_1000;");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
