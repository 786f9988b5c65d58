// ptlab sweep's data: the grid of parameters (its axes, their expansion into points and runs,
// shards), and the results file (JSON lines, one record per run; reading, deduplicating,
// CSV). No processes here: host/sweep.ts runs the points.

import { readFileSync } from 'node:fs';

/** A parameter's value: a number if it was typed as a plain number, else the string as typed. */
export type ParamValue = number | string;

/** One axis of the grid: its name and its values, each with the text that goes into `{name}`. */
export interface Axis {
  name: string;
  values: { value: ParamValue; text: string }[];
}

/** One run's record in the results file (one JSON line). */
export interface RunRecord {
  point: Record<string, ParamValue>;
  repeat: number;
  status: 'ok' | 'failed';
  exit: number | null;
  signal: string | null;
  error: string | null;
  counters: Record<string, number>;
  values: Record<string, number>;
  command: string;
  elapsed_s: number;
  env: { ptlab: string; node: string; host: string; preset: string };
}

const PLAIN_NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** The value a text stands for: a plain number ("64", "0.5") is a number; "1M", "skylake" stay strings. */
export function paramValue(text: string): ParamValue {
  return PLAIN_NUMBER.test(text) ? Number(text) : text;
}

const fmt = (x: number): string => String(Number(x.toPrecision(12)));

/** The texts of `LO..HI` (step 1), `LO..HI:STEP` or `LO..HI*FACTOR` (geometric), or null if `s` is no range. */
function range(s: string): string[] | string | null {
  const m = /^(-?[\d.]+)\.\.(-?[\d.]+)(?:([:*])([\d.]+))?$/.exec(s);
  if (m === null) return null;
  const [lo, hi, by] = [Number(m[1]), Number(m[2]), m[4] === undefined ? 1 : Number(m[4])];
  const geometric = m[3] === '*';
  if (![lo, hi, by].every(Number.isFinite) || hi < lo || (geometric ? by <= 1 || lo <= 0 : by <= 0)) return `bad range '${s}'`;
  const out: string[] = [];
  for (let i = 0, x = lo; x <= hi + Math.abs(hi) * 1e-12 && out.length <= 100_000; i++, x = geometric ? lo * by ** i : lo + by * i) out.push(fmt(x));
  return out.length > 100_000 ? `range '${s}' has more than 100000 values` : out;
}

/** An axis from `NAME=V1,V2,...` (each Vi a value or a range), or the error. */
export function parseAxis(spec: string): Axis | string {
  const eq = spec.indexOf('=');
  const name = spec.slice(0, eq).trim();
  if (eq < 0 || !/^[A-Za-z_][\w.-]*$/.test(name)) return `--param '${spec}': NAME=V1,V2,... (a name of letters, digits, _ . -)`;
  const texts: string[] = [];
  for (const part of spec.slice(eq + 1).split(',').map((s) => s.trim())) {
    if (part === '') return `--param '${spec}': an empty value`;
    const r = range(part);
    if (typeof r === 'string') return `--param '${spec}': ${r}`;
    texts.push(...(r ?? [part]));
  }
  return { name, values: texts.map((text) => ({ value: paramValue(text), text })) };
}

/** The axes of a grid file: one `NAME = V1, V2` (or `NAME=LO..HI`) per line; # starts a comment. */
export function parseGridFile(path: string): Axis[] | string {
  const out: Axis[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*/, '').trim();
    if (line === '') continue;
    const a = parseAxis(line);
    if (typeof a === 'string') return `${path}:${i + 1}: ${a}`;
    out.push(a);
  }
  return out;
}

/** A point of the grid: each axis's value, and the texts for `{name}`. */
export interface Point {
  values: Record<string, ParamValue>;
  texts: Record<string, string>;
}

/** Every point, the first axis varying slowest (as nested loops in the order the axes were given). */
export function expand(axes: readonly Axis[]): Point[] {
  let points: Point[] = [{ values: {}, texts: {} }];
  for (const a of axes) {
    points = points.flatMap((p) => a.values.map((v) => ({ values: { ...p.values, [a.name]: v.value }, texts: { ...p.texts, [a.name]: v.text } })));
  }
  return points;
}

/** The key of a point: its values as JSON with the names sorted (the same point whatever the axes' order). */
export function pointKey(point: Record<string, ParamValue>): string {
  return JSON.stringify(Object.keys(point).sort().map((k) => [k, point[k]]));
}

export const runKey = (point: Record<string, ParamValue>, repeat: number): string => `${pointKey(point)}#${repeat}`;

/** `I/N` (1 <= I <= N), or the error. */
export function parseShard(s: string): { index: number; count: number } | string {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  const [index, count] = m === null ? [0, 0] : [Number(m[1]), Number(m[2])];
  return index >= 1 && index <= count ? { index, count } : `--shard '${s}': I/N with 1 <= I <= N, e.g. 2/8`;
}

/** The runs of shard I of N: every Nth run of the whole list (points x repeats), from the (I-1)th. */
export function shardOf<T>(runs: readonly T[], shard: { index: number; count: number } | null): T[] {
  return shard === null ? [...runs] : runs.filter((_, i) => i % shard.count === shard.index - 1);
}

/**
 * The records of a results file ([] if it does not exist); a last line cut short (a sweep
 * killed while writing it) is left out, and `partial` says so. Any other line that is not a
 * record is an error.
 */
export function readResults(path: string): { records: RunRecord[]; partial: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], partial: false };
    throw e;
  }
  const lines = text.split('\n');
  const partial = lines[lines.length - 1] !== '';
  if (partial) lines.pop();
  const records = lines.flatMap((line, i) => {
    if (line.trim() === '') return [];
    try {
      const r = JSON.parse(line) as RunRecord;
      if (typeof r.point === 'object' && r.point !== null && Number.isInteger(r.repeat)) return [r];
    } catch {
      // reported below
    }
    throw new Error(`${path}:${i + 1}: not a ptlab sweep record`);
  });
  return { records, partial };
}

/** One record per point and repeat: an ok record wins over a failed one, else the first read. */
export function dedupe(records: readonly RunRecord[]): RunRecord[] {
  const byKey = new Map<string, RunRecord>();
  for (const r of records) {
    const k = runKey(r.point, r.repeat);
    const had = byKey.get(k);
    if (had === undefined || (had.status !== 'ok' && r.status === 'ok')) byKey.set(k, r);
  }
  return [...byKey.values()];
}

const csvField = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * The records as one CSV table (RFC 4180): the parameters, repeat, status, exit, signal,
 * error, elapsed_s, every counter, every reported value, command. A counter or value whose
 * name is already a column is prefixed "counter." or "value.".
 */
export function toCsv(records: readonly RunRecord[]): string {
  // Records of other tools (or older versions) may lack counters or values.
  const union = (pick: (r: RunRecord) => Record<string, unknown> | undefined): string[] => [...new Set(records.flatMap((r) => Object.keys(pick(r) ?? {})))];
  const params = union((r) => r.point);
  const fixed = ['repeat', 'status', 'exit', 'signal', 'error', 'elapsed_s'];
  const taken = new Set([...params, ...fixed, 'command']);
  const counters = union((r) => r.counters);
  const values = union((r) => r.values);
  const name = (prefix: string, n: string): string => (taken.has(n) ? `${prefix}.${n}` : n);
  const header = [...params, ...fixed, ...counters.map((n) => name('counter', n)), ...values.map((n) => name('value', n)), 'command'];
  const rows = records.map((r) => [
    ...params.map((p) => r.point[p]), r.repeat, r.status, r.exit, r.signal, r.error, r.elapsed_s,
    ...counters.map((c) => r.counters?.[c]), ...values.map((v) => r.values?.[v]), r.command,
  ].map(csvField).join(','));
  return `${[header.map(csvField).join(','), ...rows].join('\n')}\n`;
}
