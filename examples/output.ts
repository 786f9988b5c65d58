// The examples' results as data: --json prints them as JSON lines in the format of sweep
// results (one run a line: point, values, the command; `ptlab plot` and `ptlab report` read
// them), and --plot FILE writes their chart as SVG with host/chart.ts (the example's own
// code writes FILE on the host; the emulated machine has no part in it).

import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { print, programPath, report } from 'ptlab/userland';
import type { ChartOptions } from '../host/chart.ts';
import type { Result } from '../host/results.ts';
import type { OptionSpec } from './options.ts';

/** The options every example with results takes (spread into its exampleOptions spec). */
export const OUTPUT_OPTIONS = {
  json: { default: '', flag: true, help: 'print the results as JSON lines (sweep results: ptlab plot reads them), not the table' },
  plot: { default: '', help: 'write a chart of the results to FILE (SVG)' },
} satisfies Record<string, OptionSpec>;

export type { Result } from '../host/results.ts';

/** The command line that runs this example with `argv` (less --json and --plot). */
function command(argv: string[]): string {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json' || argv[i].startsWith('--plot=')) continue;
    if (argv[i] === '--plot') i++;
    else args.push(argv[i]);
  }
  return ['ptlab', 'run', relative(process.cwd(), programPath()), ...args].join(' ');
}

/** Print `results` as JSON lines, one run (repeat 0, status ok) each. */
export function printJson(results: Result[], argv: string[]): void {
  const cmd = command(argv);
  for (const r of results) print(JSON.stringify({ point: r.point, repeat: 0, status: 'ok', values: r.values, command: cmd }));
}

/** Write the chart of `results` (`axes` name a point parameter or a value) to `file` as SVG. */
export async function writePlot(file: string, results: Result[], axes: ChartOptions): Promise<void> {
  // Loaded only when asked for: vega is most of this example's bundle.
  const { chartSpec, renderSvg } = await import('../host/chart.ts');
  const { aggregate, runsOf } = await import('../host/results.ts');
  writeFileSync(file, await renderSvg(chartSpec(aggregate(runsOf(results), axes), axes)));
}

/**
 * Report `results` with report(), as `ptlab stat` lists and `ptlab sweep` records values: a
 * single result's values under their own names (a sweep's point runs one); for several, each
 * value as NAME[K=V,...], K=V the parameters of its point that differ between the results.
 * Values that are not finite numbers are left out.
 */
export function reportResults(results: Result[]): void {
  const keys = [...new Set(results.flatMap((r) => Object.keys(r.point)))];
  const varying = keys.filter((k) => new Set(results.map((r) => String(r.point[k]))).size > 1);
  for (const r of results) {
    const tag = results.length > 1 ? `[${varying.map((k) => `${k}=${r.point[k]}`).join(',')}]` : '';
    report(Object.fromEntries(Object.entries(r.values).filter(([, v]) => Number.isFinite(v)).map(([name, v]) => [`${name}${tag}`, v])));
  }
}
