// Sweep results as `ptlab sweep` writes them: JSON lines, one run a line. This module reads
// them, finds a named quantity in a run (a point parameter, a value the guest reported, or a
// counter), and folds the repeats of each point into one aggregate (mean, min, max, stddev)
// for host/plot.ts and host/report.ts.

import { readFileSync } from 'node:fs';
import type { RunRecord } from './grid.ts';

/** A parameter's value at one point of the grid. */
export type ParamValue = string | number | boolean | null;

/**
 * One run of one point (the format `ptlab sweep` writes, one of these per line: grid.ts's
 * RunRecord), read leniently: a point's values may be any JSON scalar.
 */
export type Run = Omit<RunRecord, 'point'> & { point: Record<string, ParamValue> };

/** A measurement without a run's record: what an example reports of each of its points. */
export interface Result {
  point: Record<string, string | number>;
  values: Record<string, number>;
}

/** `results` as ok runs of repeat 0 (no counters, command or environment), to chart them. */
export function runsOf(results: Result[]): Run[] {
  return results.map((r) => ({
    point: r.point, repeat: 0, status: 'ok', exit: 0, signal: null, error: null, counters: {}, values: r.values,
    command: '', elapsed_s: 0, env: { ptlab: '', node: '', host: '', preset: '' },
  }));
}

/** The runs of one results file (one experiment set), in file order. */
export interface ResultSet {
  file: string;
  runs: Run[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The run on line `line` of `file`, checked field by field; throws naming the line on a bad one. */
function parseRun(text: string, file: string, line: number): Run {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}:${line}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const bad = (why: string): never => {
    throw new Error(`${file}:${line}: ${why}`);
  };
  if (!isRecord(r)) return bad('a run is a JSON object');
  if (!isRecord(r.point)) bad('"point" is an object of parameters');
  if (r.status !== 'ok' && r.status !== 'failed') bad('"status" is "ok" or "failed"');
  for (const k of ['counters', 'values'] as const) {
    if (r[k] === undefined) r[k] = {};
    if (!isRecord(r[k]) || Object.values(r[k]).some((v) => typeof v !== 'number')) bad(`"${k}" maps names to numbers`);
  }
  if (typeof r.repeat !== 'number') r.repeat = 0;
  if (typeof r.command !== 'string') r.command = '';
  if (typeof r.elapsed_s !== 'number') r.elapsed_s = NaN;
  for (const k of ['exit', 'signal', 'error'] as const) r[k] ??= null;
  const env = isRecord(r.env) ? r.env : {};
  r.env = { ptlab: String(env.ptlab ?? '?'), node: String(env.node ?? '?'), host: String(env.host ?? '?'), preset: String(env.preset ?? '?') };
  return r as unknown as Run;
}

/** Parse results text (JSON lines; blank lines skipped). `file` names it in errors. */
export function parseResults(text: string, file: string): ResultSet {
  const runs: Run[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() !== '') runs.push(parseRun(line, file, i + 1));
  });
  return { file, runs };
}

/** Read a results file; throws with the file and line of the first bad run. */
export function readResults(file: string): ResultSet {
  return parseResults(readFileSync(file, 'utf8'), file);
}

/** Where a name was found: a point parameter, a reported value or a counter. */
export type NameKind = 'point' | 'value' | 'counter';

/** Every name a run of `runs` has, by kind (sorted), to list when a name is not found. */
export function availableNames(runs: Run[]): Record<NameKind, string[]> {
  const sets = { point: new Set<string>(), value: new Set<string>(), counter: new Set<string>() };
  for (const r of runs) {
    for (const k of Object.keys(r.point)) sets.point.add(k);
    for (const k of Object.keys(r.values)) sets.value.add(k);
    for (const k of Object.keys(r.counters)) sets.counter.add(k);
  }
  return { point: [...sets.point].sort(), value: [...sets.value].sort(), counter: [...sets.counter].sort() };
}

/**
 * What `name` refers to in `runs`: looked up in the points, then the values, then the
 * counters. Throws listing the available names if no run has it.
 */
export function kindOf(runs: Run[], name: string): NameKind {
  const names = availableNames(runs);
  if (names.point.includes(name)) return 'point';
  if (names.value.includes(name)) return 'value';
  if (names.counter.includes(name)) return 'counter';
  throw new Error(`no '${name}' in the results; point parameters: ${names.point.join(', ') || '(none)'}; values: ${names.value.join(', ') || '(none)'}; counters: ${names.counter.join(', ') || '(none)'}`);
}

/** `name` of kind `kind` in run `r` (undefined if this run lacks it). */
export function lookup(r: Run, name: string, kind: NameKind): ParamValue | undefined {
  return kind === 'point' ? r.point[name] : kind === 'value' ? r.values[name] : r.counters[name];
}

/** A stable text key for a point (its parameters in name order). */
export function pointKey(point: Record<string, ParamValue>): string {
  return JSON.stringify(Object.keys(point).sort().map((k) => [k, point[k]]));
}

/** The point parameters that take more than one value across `runs`, in first-seen order. */
export function varyingParams(runs: Run[]): string[] {
  const seen = new Map<string, Set<string>>();
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.point)) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k)!.add(JSON.stringify(v));
    }
  }
  return [...seen].filter(([, vs]) => vs.size > 1).map(([k]) => k);
}

/** Mean, extremes and sample standard deviation of a list of numbers (n >= 1). */
export interface Spread {
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for one number. */
  stddev: number;
  n: number;
}

export function spread(xs: number[]): Spread {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const ss = xs.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, min: Math.min(...xs), max: Math.max(...xs), stddev: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n };
}

/** One plotted point: the repeats of one grid point folded together. */
export interface Aggregate {
  /** The x value (a parameter as it is, or a measured quantity's mean over the repeats). */
  x: ParamValue;
  y: Spread;
  /** The colour channel's value ('' without --color). */
  color: string;
  /** The other parameters that vary, as "name=value, ..." ('' if none): one line each. */
  series: string;
  point: Record<string, ParamValue>;
  commands: string[];
}

export interface Axes {
  x: string;
  y: string;
  color?: string;
}

/**
 * The ok runs of `runs` grouped by point and folded into aggregates of `axes.y` against
 * `axes.x`. Runs without a numeric y are left out. Throws on a name no run has.
 */
export function aggregate(runs: Run[], axes: Axes): Aggregate[] {
  const ok = runs.filter((r) => r.status === 'ok');
  const kx = kindOf(runs, axes.x);
  const ky = kindOf(runs, axes.y);
  const kc = axes.color === undefined ? undefined : kindOf(runs, axes.color);
  const others = varyingParams(ok).filter((p) => p !== axes.x && p !== axes.color);
  const groups = new Map<string, Run[]>();
  for (const r of ok) {
    if (typeof lookup(r, axes.y, ky) !== 'number') continue;
    const key = pointKey(r.point);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  return [...groups.values()].map((g) => {
    const first = g[0];
    const xs = g.map((r) => lookup(r, axes.x, kx));
    const x = kx === 'point' ? xs[0] ?? null : spread(xs.filter((v): v is number => typeof v === 'number')).mean;
    return {
      x,
      y: spread(g.map((r) => lookup(r, axes.y, ky) as number)),
      color: axes.color === undefined || kc === undefined ? '' : String(lookup(first, axes.color, kc) ?? ''),
      series: others.map((p) => `${p}=${String(first.point[p])}`).join(', '),
      point: first.point,
      commands: [...new Set(g.map((r) => r.command))],
    };
  });
}
