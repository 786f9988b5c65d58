// ptlab stat's perf habits: -e, -r, -o, -x and --per-process, and the values a guest
// reports with report(), on a tiny guest (test/guests/sweep-point.ts) that loads each of its pages once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { StatReport } from '../../host/cli.ts';
import { parseEvents, spread, type RepeatedStatReport } from '../../host/stat.ts';

const BIN = fileURLToPath(new URL('../../bin/ptlab.mjs', import.meta.url));
const GUEST = fileURLToPath(new URL('../guests/sweep-point.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ptlab-stat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function stat(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'stat', '--no-check', '--mem', '64M', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ptlab stat as perf stat', () => {
  it('spread is perf\'s: the standard deviation of the mean, relative to the mean', () => {
    const s = spread([1, 2, 3]);
    expect(s.mean).toBe(2);
    expect(s.sd).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(s.pct).toBeCloseTo(100 * Math.sqrt(1 / 3) / 2, 12);
    expect(spread([5])).toEqual({ mean: 5, sd: 0, pct: 0 });
    expect(parseEvents(['dTLB-loads,page-faults', 'dtlb_loads', 'dTLB-loads'])).toEqual(['dTLB-loads', 'page-faults', 'dtlb_loads']);
    expect(parseEvents(['dTLB-lods'])).toMatch(/^event 'dTLB-lods' is not known/);
  });

  it('-e prints the chosen events only, perf\'s names beside ptlab\'s, unmodeled ones <not supported>', () => {
    const r = stat('-e', 'dTLB-loads,page-faults,iTLB-load-misses', '-e', 'pgfault', GUEST, '8');
    expect(r.code).toBe(0);
    const lines = r.err.split('\n').filter((l) => /^ {2,}\S/.test(l) && !l.includes('seconds time elapsed'));
    const events = lines.filter((l) => /^\s+(\d|<)/.test(l)).map((l) => l.trim().split(/\s{2,}/).slice(0, 2));
    // 8 loads; 8 first-touch faults and the stack's: page-faults is pgfault here (no spurious ones).
    expect(events.slice(0, 4)).toEqual([['8', 'dTLB-loads'], ['9', 'page-faults'], ['<not supported>', 'iTLB-load-misses'], ['9', 'pgfault']]);
    expect(r.err).toMatch(/Performance counter stats for '.*sweep-point\.ts 8':\n/);
    expect(r.err).not.toContain('dtlb_stores');
    // The guest's report() values follow the counters.
    expect(r.err).toMatch(/Values the program reported:\n\n +8 +pages\n +28 +sum\n +0 +walks\n/);
    const bad = stat('-e', 'dTLB-lods', GUEST);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^ptlab: -e: event 'dTLB-lods' is not known/);
  }, 120_000);

  it('-r N runs N machines: means with perf\'s ( +- x% ), and --json gives each counter\'s mean and spread', () => {
    const r = stat('-r', '3', '-e', 'dTLB-loads,dTLB-load-misses', GUEST, '8');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/Performance counter stats for '.*sweep-point\.ts 8' \(3 runs\):\n\n +8 +dTLB-loads +\( \+- {2}0\.00% \)\n +0 +dTLB-load-misses +# +0\.00% of all dTLB cache accesses +\( \+- {2}0\.00% \)\n/);
    expect(r.err).toMatch(/\n +\d+\.\d{9} \+- \d+\.\d{9} seconds time elapsed {2}\( \+- *\d+\.\d\d% \)\n/);
    const j = stat('-r', '2', '--json', '-e', 'dTLB-loads', GUEST, '8');
    const doc = JSON.parse(j.err) as RepeatedStatReport;
    expect(doc.repeat).toBe(2);
    expect(doc.runs).toHaveLength(2);
    expect(doc.counters.dtlb_loads).toEqual({ mean: 8, sd: 0, pct: 0 });
    expect(doc.events).toEqual({ 'dTLB-loads': { mean: 8, sd: 0, pct: 0 } });
    expect(doc.values.pages).toEqual({ mean: 8, sd: 0, pct: 0 });
  }, 120_000);

  it('-o writes the report to a file and leaves stderr to the program; --json there carries values', () => {
    const file = join(dir, 'stat.json');
    const r = stat('-o', file, '--json', GUEST, '8');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as StatReport;
    expect(doc.values).toEqual({ pages: 8, sum: 28, walks: 0 });
    expect(doc.processes[0].values).toEqual(doc.values);
    expect(doc.processes[0].syscalls.ptlab_report).toEqual({ calls: 3, errors: 0 });
    const text = join(dir, 'stat.txt');
    const t = stat('-o', text, GUEST, '8');
    expect(t.err).toBe('');
    expect(readFileSync(text, 'utf8')).toContain('Machine totals for');
  }, 120_000);

  it('-x SEP prints perf\'s CSV fields (with -r the variance after the event); --per-process adds name-pid lines', () => {
    const r = stat('-x', ';', '-e', 'dTLB-loads,dTLB-load-misses,iTLB-loads', GUEST, '8');
    expect(r.code).toBe(0);
    const rows = r.err.trimEnd().split('\n').map((l) => l.split(';'));
    expect(rows).toHaveLength(3);
    for (const f of rows) expect(f).toHaveLength(7);
    expect(rows[0].slice(0, 3)).toEqual(['8', '', 'dTLB-loads']);
    expect(Number(rows[0][3])).toBeGreaterThan(0); // run time, ns
    expect(rows[0][4]).toBe('100.00');
    expect(rows[1].slice(5)).toEqual(['0.00', 'of all dTLB cache accesses']);
    expect(rows[2].slice(0, 3)).toEqual(['<not supported>', '', 'iTLB-loads']);
    const rep = stat('-x', ',', '-r', '2', '--per-process', '-e', 'dTLB-loads,minor-faults', GUEST, '8');
    const lines = rep.err.trimEnd().split('\n').map((l) => l.split(','));
    expect(lines.map((f) => [f[0], f[1], f[3], f[4]])).toEqual([
      ['sweep-point-1', '8', 'dTLB-loads', '0.00%'], ['sweep-point-1', '<not counted>', 'minor-faults', ''],
      ['total', '8', 'dTLB-loads', '0.00%'], ['total', '9', 'minor-faults', '0.00%'],
    ]);
  }, 120_000);
});
