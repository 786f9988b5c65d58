// Charts of sweep results: a Vega-Lite specification built from the aggregated runs
// (host/results.ts), rendered without a browser by vega's headless SVG renderer. The same
// specification drives ptlab plot (host/plot.ts) and the interactive charts of ptlab report
// (host/report.ts); examples import this module to write their --plot charts (it has no
// native code, so it bundles into a guest).

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Aggregate, Axes } from './results.ts';

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
  // A band scale (names on x) has no zero to drop.
  const xScale = o.logX === true && numericX ? logScale(aggs.map((a) => a.x as number)) : numericX ? { zero: false } : {};
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
    title: {
      text: o.title ?? `${o.y} against ${o.x}`,
      ...(aggs.some((a) => a.y.n > 1) ? { subtitle: 'mean of the repeats; bars from the smallest to the largest' } : {}),
    },
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
