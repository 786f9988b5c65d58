// Charts of sweep results: a Vega-Lite specification built from the aggregated runs
// (host/results.ts), rendered without a browser by vega's headless SVG renderer, and to PNG
// by resvg. The same specification drives the interactive charts of host/report.ts.
//
//   ptlab plot RESULTS... --x NAME --y NAME [--color NAME] [--log-x] [--log-y] [-o FILE]

import { writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { aggregate, type Aggregate, type Axes, readResults, type Run } from './results.ts';

export interface ChartOptions extends Axes {
  logX?: boolean;
  logY?: boolean;
  title?: string;
  width?: number;
  height?: number;
}

/** A scale for `values` on a log axis: log if all are positive, symlog (which has 0) otherwise. */
function logScale(values: number[]): { type: 'log' | 'symlog' } {
  return { type: values.every((v) => v > 0) ? 'log' : 'symlog' };
}

/** The rows a chart's data holds: one per aggregate, flat for Vega-Lite's field names. */
function chartRows(aggs: Aggregate[]): Record<string, unknown>[] {
  return aggs.map((a) => ({
    x: a.x, mean: a.y.mean, min: a.y.min, max: a.y.max, stddev: a.y.stddev, n: a.y.n,
    color: a.color, series: a.series, command: a.commands[0] ?? '',
  }));
}

/**
 * The Vega-Lite specification of `y` against `x`: a line with a point per grid point (the
 * mean of its repeats) and an error bar from the smallest to the largest repeat; one colour
 * per `color` value (a click on its legend entry picks it out), one line per other varying
 * parameter. Every mark carries a tooltip with the values.
 */
export function chartSpec(aggs: Aggregate[], o: ChartOptions): TopLevelSpec {
  const rows = chartRows(aggs);
  const numericX = aggs.every((a) => typeof a.x === 'number');
  const xScale = o.logX === true && numericX ? logScale(aggs.map((a) => a.x as number)) : { zero: false };
  const yScale = o.logY === true ? logScale(aggs.flatMap((a) => [a.y.min, a.y.max])) : {};
  const hasColor = o.color !== undefined;
  const hasSeries = aggs.some((a) => a.series !== '');
  const fade = hasColor ? { opacity: { condition: { param: 'pick', value: 1 }, value: 0.12 } } : {};
  const tooltip = [
    { field: 'x', title: o.x },
    ...(hasColor ? [{ field: 'color', title: o.color }] : []),
    ...(hasSeries ? [{ field: 'series', title: 'other parameters' }] : []),
    { field: 'mean', title: `${o.y} (mean)`, format: ',.6~g' },
    { field: 'min', title: 'min', format: ',.6~g' },
    { field: 'max', title: 'max', format: ',.6~g' },
    { field: 'stddev', title: 'stddev', format: ',.4~g' },
    { field: 'n', title: 'runs' },
  ];
  const x = { field: 'x', type: numericX ? 'quantitative' : 'ordinal', title: o.x, scale: xScale } as const;
  const shared = {
    x,
    ...(hasColor ? { color: { field: 'color', type: 'nominal', title: o.color } } : {}),
    ...(hasSeries ? { detail: { field: 'series', type: 'nominal' } } : {}),
    tooltip,
    ...fade,
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title ?? `${o.y} against ${o.x}`, subtitle: 'mean of the repeats; bars from the smallest to the largest' },
    width: o.width ?? 560,
    height: o.height ?? 320,
    data: { values: rows },
    layer: [
      // First: the legend merged from both layers keeps the click binding of the first's.
      {
        mark: { type: 'line', point: { filled: true, size: 40 } },
        ...(hasColor ? { params: [{ name: 'pick', select: { type: 'point', fields: ['color'] }, bind: 'legend' }] } : {}),
        encoding: { ...shared, y: { field: 'mean', type: 'quantitative', title: o.y, scale: yScale } },
      },
      {
        mark: { type: 'errorbar', ticks: true },
        encoding: { ...shared, y: { field: 'min', type: 'quantitative', title: o.y, scale: yScale }, y2: { field: 'max' } },
      },
    ],
    config: { font: 'DejaVu Sans, Verdana, sans-serif' },
  } as TopLevelSpec;
}

/** The chart of `spec` as an SVG document, rendered without a browser. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

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

/** `ptlab plot ARGS`: its exit status (2 for a usage error or a name not in the results). */
export async function plotCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        x: { type: 'string' }, y: { type: 'string' }, color: { type: 'string' }, 'log-x': { type: 'boolean' },
        'log-y': { type: 'boolean' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`ptlab plot: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals: files } = parsed;
  if (v.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (files.length === 0 || v.x === undefined || v.y === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  const out = v.output ?? `${basename(files[0], extname(files[0]))}.svg`;
  let runs: Run[];
  let aggs: Aggregate[];
  const o: ChartOptions = { x: v.x, y: v.y, logX: v['log-x'] === true, logY: v['log-y'] === true };
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
