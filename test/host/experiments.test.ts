// npm run report's experiments (experiments/*.json, host/experiments.ts): every definition
// loads and names a program that exists, and a figure coloured by several parameters joins
// their values. Running them is `npm run report` (minutes), not a test.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { experimentsMain, figureOf, loadExperiments, sweepArgs } from '../../host/experiments.ts';
import type { Run } from '../../host/results.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the seed experiments', () => {
  const all = loadExperiments(`${ROOT}experiments`);

  it('are the six of issue 22, each a sweep or a run of a program that exists', () => {
    expect(all.map((e) => e.name)).toEqual(['dirty-tracking', 'refpage', 'rmap-cost', 'sga', 'tlb-reach', 'zygote']);
    for (const e of all) {
      const args = e.sweep ?? e.run!;
      const program = args.find((a) => /\.ts$/.test(a));
      expect(program, e.name).toBeDefined();
      expect(existsSync(`${ROOT}${program}`), `${e.name}: ${program}`).toBe(true);
      expect(args, `${e.name}: -o is the runner's`).not.toContain('-o');
    }
  });

  it('pass -j to ptlab sweep before the program only when given, and refuse a -j or --parallel that is not a positive count', async () => {
    const e = all.find((x) => x.name === 'sga')!;
    expect(sweepArgs(e, 'r/sga.jsonl', null)).toEqual(['sweep', '-o', 'r/sga.jsonl', ...e.sweep!]);
    const args = sweepArgs(e, 'r/sga.jsonl', '3');
    expect(args.slice(0, 5)).toEqual(['sweep', '-o', 'r/sga.jsonl', '-j', '3']);
    expect(args.indexOf('-j')).toBeLessThan(args.indexOf('examples/sga.ts'));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await experimentsMain(['sga', '-j', '0'])).toBe(2);
      expect(await experimentsMain(['sga', '--jobs', 'two'])).toBe(2);
      expect(await experimentsMain(['sga', '--parallel', '0'])).toBe(2);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toContain('-j two: a positive integer');
    } finally {
      err.mockRestore();
    }
  });

  it('colour a figure by several parameters as one, their values joined', () => {
    const e = all.find((x) => x.name === 'tlb-reach')!;
    const run = (page: string, preset: string): Run => ({
      point: { size: 1024, page, preset }, repeat: 0, status: 'ok', exit: 0, signal: null, error: null, counters: {},
      values: { walks_per_1k: 1 }, command: '', elapsed_s: 1, env: { ptlab: '', node: '', host: '', preset },
    });
    const f = figureOf(e, [run('4k', 'skylake'), run('thp', 'haswell')]);
    expect(f.options).toMatchObject({ x: 'size', y: 'walks_per_1k', color: 'page, preset', logX: true });
    expect(f.runs.map((r) => r.point)).toEqual([{ size: 1024, 'page, preset': '4k, skylake' }, { size: 1024, 'page, preset': 'thp, haswell' }]);
  });
});
