// `ptlab report RESULTS... -o report.html`: one self-contained HTML page for sets of sweep
// results: for each set its charts (host/plot.ts's Vega-Lite specifications, interactive in
// the page), the table of its points, its failed runs, the presets and machine options its
// runs used, the command line of each point, and the environment. host/report-html.ts
// writes the page.

import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { PRESETS } from '../machine/index.ts';
import { chartSpec, type ChartOptions } from './chart.ts';
import { chartArgs } from './plot.ts';
import { reportHtml } from './report-html.ts';
import {
  aggregate, availableNames, kindOf, lookup, pointKey, readResults, type ResultSet, type Run, spread, type Spread, varyingParams,
} from './results.ts';

/** Counters charted when a set's runs report no values of their own. */
const DEFAULT_COUNTERS = ['dtlb_load_misses.walk_completed', 'l1_dtlb_load_misses', 'walk_mem_refs', 'page_faults'];

/** What the page shows of one set. */
export interface SetReport {
  file: string;
  runs: number;
  charts: { y: string; spec: TopLevelSpec }[];
  /** Column names, then one row per point: its parameters, runs, each y as mean ± stddev, its command. */
  table: { params: string[]; ys: string[]; rows: { point: Run['point']; n: number; ys: (Spread | null)[]; command: string }[] };
  failed: Run[];
  presets: { name: string; description: string }[];
  machines: string[];
  env: Run['env'][];
  /** Why a set has no chart (one point, or nothing numeric varies), '' otherwise. */
  note: string;
}

export interface ReportOptions {
  x?: string;
  y?: string[];
  color?: string;
  logX?: boolean;
  logY?: boolean;
}

/** The x axis for a set: the given one, else the varying numeric parameter of most values. */
function chooseX(runs: Run[], varying: string[], given?: string): string | undefined {
  if (given !== undefined) return given;
  const distinct = (p: string) => new Set(runs.map((r) => r.point[p])).size;
  const numeric = varying.filter((p) => runs.every((r) => typeof r.point[p] === 'number'));
  return [...(numeric.length > 0 ? numeric : varying)].sort((a, b) => distinct(b) - distinct(a))[0];
}

/** The quantities charted: the given ones, else the values the guest reported, else the default counters it has. */
function chooseYs(runs: Run[], given?: string[]): string[] {
  if (given !== undefined && given.length > 0) return given;
  const names = availableNames(runs);
  return names.value.length > 0 ? names.value : DEFAULT_COUNTERS.filter((c) => names.counter.includes(c));
}

/** ptlab's options that take the next word as their value (as host/cli.ts parses them). */
const VALUE_OPTIONS = new Set(['--mem', '--swap', '--preset', '--policy', '--max-procs', '--cpus', '--proc']);
const MACHINE_OPTIONS = /^--(mem|swap|policy|cpus|max-procs)(=|$)/;

/**
 * The machine options of a `ptlab run|stat [options] PROGRAM ...` command line: those of
 * its options before PROGRAM that shape the machine; '' if none (the defaults).
 */
function machineOptions(command: string): string {
  const words = command.split(/\s+/).slice(2);
  const out: string[] = [];
  for (let i = 0; i < words.length && words[i].startsWith('-'); i++) {
    const takesValue = VALUE_OPTIONS.has(words[i]) && i + 1 < words.length;
    if (MACHINE_OPTIONS.test(words[i])) out.push(takesValue ? `${words[i]} ${words[i + 1]}` : words[i]);
    if (takesValue) i++;
  }
  return out.join(' ');
}

/** The presets a set's runs used, with their descriptions. */
function presetsOf(runs: Run[]): SetReport['presets'] {
  const names = new Set(runs.map((r) => String(r.point.preset ?? r.env.preset)));
  return [...names].sort().map((name) => ({
    name,
    description: name === '?' || name === '' ? '(not recorded in the results)' : PRESETS[name]?.description ?? '(not a preset of this ptlab)',
  }));
}

/** The report of one set: charts of each y against x, and its tables. Throws on a name the set lacks. */
export function setReport(set: ResultSet, o: ReportOptions): SetReport {
  const ok = set.runs.filter((r) => r.status === 'ok');
  const varying = varyingParams(ok);
  const x = chooseX(ok, varying, o.x);
  const color = o.color ?? varying.find((p) => p !== x);
  const ys = chooseYs(ok, o.y);
  for (const n of [o.x, o.color, ...ys]) if (n !== undefined) kindOf(set.runs, n);
  const charts: SetReport['charts'] = [];
  if (x !== undefined) {
    for (const y of ys) {
      const opts: ChartOptions = { x, y, logX: o.logX ?? autoLog(ok, x), logY: o.logY === true, title: `${y} against ${x}` };
      if (color !== undefined) opts.color = color;
      charts.push({ y, spec: chartSpec(aggregate(set.runs, opts), opts) });
    }
  }
  const envs = new Map(set.runs.map((r) => [JSON.stringify([r.env.ptlab, r.env.node, r.env.host]), r.env]));
  return {
    file: set.file,
    runs: set.runs.length,
    charts,
    table: pointTable(ok, ys),
    failed: set.runs.filter((r) => r.status === 'failed'),
    presets: presetsOf(set.runs),
    machines: [...new Set(set.runs.map((r) => machineOptions(r.command) || '(defaults: --mem 1G, no swap, --policy lru)'))],
    env: [...envs.values()],
    note: x === undefined ? 'no parameter varies: one point, no chart' : ys.length === 0 ? 'no values reported and none of the default counters: no chart' : '',
  };
}

/** The ok runs grouped by point, in file order, with each y's spread over the repeats. */
function pointTable(ok: Run[], ys: string[]): SetReport['table'] {
  const groups = new Map<string, Run[]>();
  for (const r of ok) {
    const key = pointKey(r.point);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  const kinds = ys.map((y) => kindOf(ok, y));
  const rows = [...groups.values()].map((g) => ({
    point: g[0].point,
    n: g.length,
    ys: ys.map((y, i) => {
      const vs = g.map((r) => lookup(r, y, kinds[i])).filter((v): v is number => typeof v === 'number');
      return vs.length > 0 ? spread(vs) : null;
    }),
    command: g[0].command,
  }));
  return { params: [...new Set(ok.flatMap((r) => Object.keys(r.point)))], ys, rows };
}

/** A log x axis by default when x is a positive numeric parameter spanning 16 times or more. */
function autoLog(runs: Run[], x: string): boolean {
  const xs = runs.map((r) => r.point[x]);
  if (!xs.every((v): v is number => typeof v === 'number' && v > 0)) return false;
  return Math.max(...xs) / Math.min(...xs) >= 16;
}

/** The ptlab version, Node version and host this report was made with, and when. */
function generator(): { ptlab: string; node: string; host: string; date: string } {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return { ptlab: pkg.version, node: process.version, host: hostname(), date: new Date().toISOString() };
}

const USAGE = `usage: ptlab report RESULTS... [-o FILE] [--x NAME] [--y NAME]... [--color NAME] [--log-x] [--log-y]

Writes one self-contained HTML page (default report.html) with a section per RESULTS file
(sweep results, JSON lines): a chart of each quantity against --x (hover a mark for its
values; click a legend entry to pick out its series), the table of points with the
command line that reproduces each, the failed runs, the presets and machine options, and
the environment. It needs no server or network to open. Without --x the varying numeric
parameter with the most values is x, and the next varying one the colour; without --y the
values the program reported are charted, or else the TLB-walk and fault counters.
`;

/** `ptlab report ARGS`: its exit status (2 for a usage error or a name not in a set). */
export async function reportCommand(args: string[]): Promise<number> {
  const parsed = chartArgs('report', args, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { v, files } = parsed;
  const o: ReportOptions = {};
  if (v.x !== undefined) o.x = v.x;
  if (v.y !== undefined) o.y = v.y;
  if (v.color !== undefined) o.color = v.color;
  if (v['log-x'] !== undefined) o.logX = v['log-x'];
  if (v['log-y'] !== undefined) o.logY = v['log-y'];
  let sets: SetReport[];
  try {
    sets = files.map((f) => setReport(readResults(f), o));
  } catch (e) {
    process.stderr.write(`ptlab report: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const out = v.output ?? 'report.html';
  const html = reportHtml(sets, generator(), `ptlab report ${files.map((f) => basename(f)).join(' ')}`);
  writeFileSync(out, html);
  const charts = sets.reduce((a, s) => a + s.charts.length, 0);
  process.stdout.write(`ptlab report: wrote ${out} (${(html.length / 1024).toFixed(0)} KiB): ${sets.length} set${sets.length === 1 ? '' : 's'}, ${charts} chart${charts === 1 ? '' : 's'}, ${sets.reduce((a, s) => a + s.runs, 0)} runs\n`);
  return 0;
}
