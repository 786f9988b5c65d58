// The one table `npm run bench` prints at its end (DESIGN.md section 8): each target row as
// measured | host reference | ratio | target | pass or FAIL, with the best and the median of
// several rounds.
//
// Bench files measure a row in rounds, the subject and its host reference side by side in
// each round (pairedRounds), and record it (recordRow). Rows go, one JSON line each, to the
// file test/bench/setup.ts names in PTLAB_BENCH_ROWS for this run; setup's teardown prints
// the table after the last bench file, so every row of the table comes from the same run.
// A file run without that setup (no PTLAB_BENCH_ROWS) prints its rows itself.

import { appendFileSync } from 'node:fs';

/** What a row's values are: times in ms, sizes in bytes, rates in operations per second. */
export type Unit = 'time' | 'bytes' | 'rate';

export interface Row {
  /** Position in the table (DESIGN.md section 8 order). */
  order: number;
  what: string;
  /** The host operation measured beside it ('' when the target is an absolute bound). */
  refName: string;
  unit: Unit;
  /** One value a round; with a reference, reference[i] was measured in the same round. */
  measured: number[];
  reference: number[];
  /** The bound on the ratio (or on the value itself when there is no reference). */
  target?: number;
  /** true: bigger is better and the bound is a lower one (>=); false: an upper one (<=). */
  atLeast?: boolean;
  /** Measured on a second axis, for the reader (e.g. "64 KiB window"). */
  note?: string;
}

export const ROWS_ENV = 'PTLAB_BENCH_ROWS';

/** Record a row for this run's table (or print it at once, outside `npm run bench`). */
export function recordRow(row: Row): void {
  const file = process.env[ROWS_ENV];
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify(row)}\n`);
  else console.log(`\n${formatTable([row])}\n`);
}

/**
 * Run the reference and the subject alternately, `rounds` times, after one untimed warm-up
 * of each: each call returns its per-operation value. Within a round they alternate
 * `slices` times and the round keeps each side's smallest value, so that a burst of load
 * from elsewhere on the host spoils a slice, not a round. Measuring both in the same round
 * makes their ratio robust against the host's load moving between rounds.
 */
export async function pairedRounds(
  rounds: number, reference: () => number | Promise<number>, subject: () => number | Promise<number>, slices = 1,
): Promise<{ reference: number[]; measured: number[] }> {
  await reference();
  await subject();
  const out = { reference: [] as number[], measured: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    let r = Infinity;
    let m = Infinity;
    for (let j = 0; j < slices; j++) {
      r = Math.min(r, await reference());
      m = Math.min(m, await subject());
    }
    out.reference.push(r);
    out.measured.push(m);
  }
  return out;
}

/**
 * A bench body that measures on its first call only: vitest's bench() may call a body more
 * than once, and a row's rounds are counted inside it.
 */
export function firstCallOnly(fn: () => Promise<void>): () => Promise<void> {
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    await fn();
  };
}

/** One call of a bench body (the rounds are inside it). */
export const ONCE = { time: 0, iterations: 1, warmupTime: 0, warmupIterations: 0 };

/** ms per call of fn, calling it until `ms` have passed (at least once). */
export function timePerCall(fn: () => void, ms: number): number {
  const t0 = performance.now();
  let calls = 0;
  let t = t0;
  do {
    fn();
    calls++;
    t = performance.now();
  } while (t - t0 < ms);
  return (t - t0) / calls;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The best of xs: the biggest when bigger is better, else the smallest. */
function best(xs: number[], biggerIsBetter: boolean): number {
  return xs.length === 0 ? NaN : biggerIsBetter ? Math.max(...xs) : Math.min(...xs);
}

export function formatValue(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return '-';
  if (unit === 'bytes') {
    return v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(2)} MiB` : v >= 1024 ? `${(v / 1024).toFixed(1)} KiB` : `${v.toFixed(1)} B`;
  }
  if (unit === 'rate') return `${Math.round(v).toLocaleString('en-US')}/s`;
  if (v >= 1) return `${v.toFixed(2)} ms`;
  if (v >= 1e-3) return `${(v * 1e3).toFixed(2)} us`;
  return `${(v * 1e6).toFixed(2)} ns`;
}

/** A ratio to two decimals, or to three significant digits below 0.1 (fork: 0.0018x). */
function formatRatio(x: number): string {
  return Math.abs(x) >= 0.1 ? `${x.toFixed(2)}x` : `${x.toPrecision(3)}x`;
}

/** "best / median" of a row's values, in its unit. */
function pair(xs: number[], unit: Unit, biggerIsBetter: boolean): string {
  if (xs.length === 0) return '';
  return `${formatValue(best(xs, biggerIsBetter), unit)} / ${formatValue(median(xs), unit)}`;
}

/** The row's ratios, one a round (measured over the reference of the same round). */
function ratios(row: Row): number[] {
  return row.reference.length === 0 ? [] : row.measured.map((m, i) => m / row.reference[i]);
}

/** pass or FAIL on the median, or '' for a row without a target. */
function verdict(row: Row): string {
  if (row.target === undefined) return '';
  const v = row.reference.length === 0 ? median(row.measured) : median(ratios(row));
  if (!Number.isFinite(v)) return 'FAIL';
  return (row.atLeast === true ? v >= row.target : v <= row.target) ? 'pass' : 'FAIL';
}

function targetText(row: Row): string {
  if (row.target === undefined) return '';
  const bound = row.reference.length === 0 ? formatValue(row.target, row.unit) : `${row.target}x`;
  return `${row.atLeast === true ? '>=' : '<='} ${bound}`;
}

/** The rows as one markdown table, in table order. */
export function formatTable(rows: Row[]): string {
  const lines = [
    '| what | measured (best / median) | host reference (best / median) | ratio (best / median) | target | pass |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of [...rows].sort((a, b) => a.order - b.order)) {
    // Bigger is better for rates (and for ratios that must be at least a bound); for the
    // reference, "best" is the same sense as the measured value's.
    const bigger = row.unit === 'rate';
    const rs = ratios(row);
    const ratio = rs.length === 0 ? '' : `${formatRatio(best(rs, row.atLeast === true))} / ${formatRatio(median(rs))}`;
    const what = row.note === undefined ? row.what : `${row.what} (${row.note})`;
    const ref = row.refName === '' ? '' : `${row.refName}: ${pair(row.reference, row.unit, bigger)}`;
    lines.push(`| ${what} | ${pair(row.measured, row.unit, bigger)} | ${ref} | ${ratio} | ${targetText(row)} | ${verdict(row)} |`);
  }
  const rounds = new Set(rows.map((r) => r.measured.length));
  lines.push('', `best / median over ${[...rounds].sort((a, b) => a - b).join(' or ')} rounds; the ratio is measured / reference of the same round; pass or FAIL is judged on the median ratio.`);
  return lines.join('\n');
}
