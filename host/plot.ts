// ptlab plot: a chart of sweep results (host/chart.ts's Vega-Lite specification) written as
// SVG, or as PNG rasterized by resvg.
//
//   ptlab plot RESULTS... --x NAME --y NAME [--color NAME] [--log-x] [--log-y] [-o FILE]

import { writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { TopLevelSpec } from 'vega-lite';
import { chartSpec, type ChartOptions, renderSvg } from './chart.ts';
import { aggregate, type Aggregate, readResults, type Run } from './results.ts';

/** An SVG document rasterized to PNG at `scale` times its size, on white. */
export async function renderPng(svg: string, scale = 2): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  return new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: scale } }).render().asPng();
}

/** Write the chart of `spec` to `file`: PNG if it ends in .png, SVG otherwise. */
export async function writeChart(spec: TopLevelSpec, file: string): Promise<void> {
  const svg = await renderSvg(spec);
  writeFileSync(file, extname(file).toLowerCase() === '.png' ? await renderPng(svg) : svg);
}

const USAGE = `usage: ptlab plot RESULTS... --x NAME --y NAME [--color NAME] [--log-x] [--log-y] [-o FILE]

Plots NAME --y against NAME --x from sweep results (JSON lines). A NAME is a point
parameter, a value the program reported, or a counter (looked up in that order). The
repeats of a point become one mark: their mean, with a bar from the smallest to the
largest. Failed runs are not plotted. FILE ending in .png is rasterized; anything else is
SVG (default: the first RESULTS with .svg for its extension).
`;

/** The options ptlab plot and ptlab report take. */
export interface ChartArgs {
  x?: string;
  y?: string[];
  color?: string;
  'log-x'?: boolean;
  'log-y'?: boolean;
  output?: string;
}

/**
 * The options and RESULTS files of `ptlab CMD ARGS`, or the exit status to return at once:
 * 0 after --help (the usage printed), 2 after a refusal or without RESULTS.
 */
export function chartArgs(cmd: string, args: string[], usage: string): { v: ChartArgs; files: string[] } | number {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        x: { type: 'string' }, y: { type: 'string', multiple: true }, color: { type: 'string' }, 'log-x': { type: 'boolean' },
        'log-y': { type: 'boolean' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`ptlab ${cmd}: ${e instanceof Error ? e.message : String(e)}\n${usage}`);
    return 2;
  }
  const { values: { help, ...v }, positionals: files } = parsed;
  if (help === true) {
    process.stdout.write(usage);
    return 0;
  }
  if (files.length === 0) {
    process.stderr.write(usage);
    return 2;
  }
  return { v, files };
}

/** `ptlab plot ARGS`: its exit status (2 for a usage error or a name not in the results). */
export async function plotCommand(args: string[]): Promise<number> {
  const parsed = chartArgs('plot', args, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { v, files } = parsed;
  if (v.x === undefined || v.y?.length !== 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const out = v.output ?? `${basename(files[0], extname(files[0]))}.svg`;
  let runs: Run[];
  let aggs: Aggregate[];
  const o: ChartOptions = { x: v.x, y: v.y[0], logX: v['log-x'] === true, logY: v['log-y'] === true };
  if (v.color !== undefined) o.color = v.color;
  try {
    runs = files.flatMap((f) => readResults(f).runs);
    aggs = aggregate(runs, o);
  } catch (e) {
    process.stderr.write(`ptlab plot: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  await writeChart(chartSpec(aggs, o), out);
  const failed = runs.filter((r) => r.status === 'failed').length;
  process.stdout.write(`ptlab plot: wrote ${out}: ${aggs.length} point${aggs.length === 1 ? '' : 's'} from ${runs.length - failed} run${runs.length - failed === 1 ? '' : 's'}${failed > 0 ? ` (${failed} failed run${failed === 1 ? '' : 's'} not plotted)` : ''}\n`);
  return 0;
}
