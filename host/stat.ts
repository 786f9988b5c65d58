// ptlab stat's perf habits: -e (events by perf's names or ptlab's), -r (runs repeated: the
// mean and the spread perf prints as "( +-  1.23% )"), -x (perf's CSV lines) and
// --per-process, over one or more StatReports (each the report of one run on a fresh machine).

import { basename } from 'node:path';
import { CPU_COUNTERS, KERNEL_COUNTERS, PERF_ALIASES } from '../machine/index.ts';
import type { StatReport } from './cli.ts';

type Counters = Record<string, number>;

/** perf's names of events ptlab computes from its counters (machine-wide kernel counters: null for one process). */
const DERIVED: Record<string, (cpu: Counters, kernel: Counters | null, seconds: number) => number | null> = {
  'page-faults': (c) => c.page_faults ?? 0,
  faults: (c) => c.page_faults ?? 0,
  'minor-faults': (_c, k) => (k === null ? null : k.pgfault - k.pgmajfault),
  'major-faults': (_c, k) => (k === null ? null : k.pgmajfault),
  duration_time: (_c, _k, s) => Math.round(s * 1e9),
};

/** perf events the machine does not model: listed as <not supported>, as perf lists them. */
const UNSUPPORTED = new Set([
  'cycles', 'cpu-cycles', 'instructions', 'branches', 'branch-instructions', 'branch-misses', 'cache-references',
  'cache-misses', 'iTLB-loads', 'iTLB-load-misses', 'context-switches', 'cs', 'cpu-migrations', 'migrations',
  'task-clock', 'cpu-clock', 'L1-dcache-loads', 'L1-dcache-load-misses', 'LLC-loads', 'LLC-load-misses',
]);

/** Every name -e takes: ptlab's counters, perf's aliases of them, perf's derived and unmodeled events. */
export function knownEvents(): string[] {
  return [
    ...Object.keys(PERF_ALIASES), ...Object.keys(DERIVED), ...CPU_COUNTERS.map((d) => d.name),
    ...KERNEL_COUNTERS.map((d) => d.name), ...UNSUPPORTED,
  ];
}

/** The events of an -e list (comma-separated, repeatable), or the error naming an unknown one. */
export function parseEvents(lists: string[]): string[] | string {
  const known = new Set(knownEvents());
  const out: string[] = [];
  for (const name of lists.flatMap((l) => l.split(',')).map((s) => s.trim()).filter((s) => s !== '')) {
    if (!known.has(name)) return `event '${name}' is not known (ptlab's counter names, or perf's: ${[...Object.keys(PERF_ALIASES), ...Object.keys(DERIVED)].join(', ')})`;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** An event's value from one set of counters: a number, or null if not supported or not counted. */
function eventValue(name: string, cpu: Counters, kernel: Counters | null, seconds: number): number | null {
  if (cpu[name] !== undefined) return cpu[name];
  if (kernel !== null && kernel[name] !== undefined) return kernel[name];
  const alias = PERF_ALIASES[name];
  if (alias !== undefined) return cpu[alias] ?? 0;
  const derived = DERIVED[name];
  if (derived !== undefined) return derived(cpu, kernel, seconds);
  return null;
}

/** The mean of repeated measurements and perf's noise: the standard deviation of the mean, relative to it. */
export interface Spread {
  mean: number;
  /** Standard deviation of the mean (stddev / sqrt(n)), 0 for fewer than two runs. */
  sd: number;
  /** sd as a percentage of the mean: perf's "( +-  1.23% )". */
  pct: number;
}

export function spread(xs: readonly number[]): Spread {
  const n = xs.length;
  const mean = n === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, sd: 0, pct: 0 };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  const sd = Math.sqrt(variance / n);
  return { mean, sd, pct: mean !== 0 ? 100 * sd / Math.abs(mean) : 0 };
}

/** One counted event over the runs: its mean and spread, or null (then `missing` says why). */
export interface EventRow {
  event: string;
  value: Spread | null;
  /** '<not supported>' (the machine does not model it) or '<not counted>' (machine-wide only, not per process). */
  missing: string;
  /** perf's shadow metric, e.g. dTLB-load-misses as a percentage of dTLB-loads. */
  metric: { value: number; unit: string } | null;
}

/** The events of one process (matched by pid across runs) or of the whole machine. */
export interface StatBlock {
  /** null: machine totals. */
  pid: number | null;
  path: string;
  rows: EventRow[];
}

function rows(events: readonly string[], samples: { cpu: Counters; kernel: Counters | null; seconds: number }[]): EventRow[] {
  return events.map((event) => {
    const xs = samples.map((s) => eventValue(event, s.cpu, s.kernel, s.seconds));
    const value = xs.some((x) => x === null) ? null : spread(xs as number[]);
    let metric: EventRow['metric'] = null;
    if (event === 'dTLB-load-misses' && value !== null) {
      const loads = spread(samples.map((s) => s.cpu.dtlb_loads ?? 0)).mean;
      if (loads > 0) metric = { value: 100 * value.mean / loads, unit: 'of all dTLB cache accesses' };
    }
    const missing = UNSUPPORTED.has(event) ? '<not supported>' : '<not counted>';
    return { event, value, metric, missing };
  });
}

/** The machine totals of `events` over the runs, after one block per process if perProcess. */
export function statBlocks(runs: readonly StatReport[], events: readonly string[], perProcess: boolean): StatBlock[] {
  const out: StatBlock[] = [];
  if (perProcess) {
    const pids = [...new Set(runs.flatMap((r) => r.processes.map((p) => p.pid)))];
    for (const pid of pids) {
      const procs = runs.flatMap((r) => r.processes.filter((p) => p.pid === pid).map((p) => ({ p, seconds: r.elapsedSeconds })));
      out.push({ pid, path: procs[0].p.path, rows: rows(events, procs.map(({ p, seconds }) => ({ cpu: p.counters, kernel: null, seconds }))) });
    }
  }
  const machine = runs.map((r) => ({ cpu: r.machine.counters, kernel: r.machine.kernel, seconds: r.elapsedSeconds }));
  out.push({ pid: null, path: runs[0].command.join(' '), rows: rows(events, machine) });
  return out;
}

/** Values the program reported (report()), over the runs, in first-report order. */
export function reportedValues(runs: readonly StatReport[]): Record<string, Spread> {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.values)))];
  return Object.fromEntries(names.map((n) => [n, spread(runs.filter((r) => r.values[n] !== undefined).map((r) => r.values[n]))]));
}

const grouped = (v: number): string => (Number.isInteger(v) ? v : Number(v.toFixed(2))).toLocaleString('en');
const noise = (s: Spread): string => `  ( +-${s.pct.toFixed(2).padStart(6)}% )`;

function formatRow(r: EventRow, repeated: boolean): string {
  if (r.value === null) return `${r.missing.padStart(18)}      ${r.event}`;
  const metric = r.metric === null ? '' : `#${r.metric.value.toFixed(2).padStart(8)}% ${r.metric.unit}`;
  return `${grouped(r.value.mean).padStart(18)}      ${r.event.padEnd(32)} ${metric.padEnd(38)}${repeated ? noise(r.value) : ''}`.trimEnd();
}

/** The values the program reported (report()), as lines after a blank one; '' if none. */
export function formatValues(runs: readonly StatReport[]): string {
  const n = runs.length;
  const values = Object.entries(reportedValues(runs));
  if (values.length === 0) return '';
  const out = [`\n Values the program reported${n > 1 ? ` (${n} runs)` : ''}:\n`];
  for (const [name, s] of values) out.push(`${grouped(s.mean).padStart(18)}      ${name.padEnd(71)}${n > 1 ? noise(s) : ''}`.trimEnd());
  return out.join('\n');
}

/** perf stat's text report: a block per process (--per-process), the machine totals, the reported values, the time. */
export function formatPerf(runs: readonly StatReport[], blocks: readonly StatBlock[]): string {
  const n = runs.length;
  const times = n > 1 ? ` (${n} runs)` : '';
  const out: string[] = [];
  for (const b of blocks) {
    const head = b.pid === null ? `Performance counter stats for '${b.path}'` : `Performance counter stats for pid ${b.pid} '${b.path}'`;
    out.push(`\n ${head}${times}:\n`);
    for (const r of b.rows) out.push(formatRow(r, n > 1));
  }
  const values = formatValues(runs);
  if (values !== '') out.push(values);
  // The modeled time first (README.md, "Modeled time"), then the host's, as perf prints it.
  const elapsed = (seconds: number[], what: string): string => {
    const t = spread(seconds);
    return n > 1 ? `${t.mean.toFixed(9).padStart(18)} +- ${t.sd.toFixed(9)} seconds time elapsed${what}${noise(t)}` : `${t.mean.toFixed(9).padStart(18)} seconds time elapsed${what}`;
  };
  out.push(`\n${elapsed(runs.map((r) => r.modeledSeconds), ' (modeled)')}`);
  out.push(`${elapsed(runs.map((r) => r.elapsedSeconds), '')}\n\n`);
  return out.join('\n');
}

const csvNumber = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));

/**
 * perf stat -x SEP: per event, [process id,] value, unit (empty), event, [variance with -r,]
 * run time (ns), percentage of it counted (always 100.00: nothing is multiplexed), metric
 * value, metric unit. --per-process lines start with "name-pid" (perf --per-thread's
 * comm-tid); the machine totals' then with "total".
 */
export function formatCsv(runs: readonly StatReport[], blocks: readonly StatBlock[], sep: string): string {
  const repeated = runs.length > 1;
  const perProcess = blocks.length > 1 || blocks[0].pid !== null;
  const runNs = Math.round(spread(runs.map((r) => r.elapsedSeconds)).mean * 1e9);
  const lines: string[] = [];
  for (const b of blocks) {
    const id = b.pid === null ? 'total' : `${basename(b.path).replace(/\.[cm]?[jt]sx?$/, '')}-${b.pid}`;
    for (const r of b.rows) {
      const f: string[] = perProcess ? [id] : [];
      f.push(r.value === null ? r.missing : csvNumber(r.value.mean), '', r.event);
      if (repeated) f.push(r.value === null ? '' : `${r.value.pct.toFixed(2)}%`);
      f.push(r.value === null ? '0' : String(runNs), '100.00');
      f.push(r.metric === null ? '' : r.metric.value.toFixed(2), r.metric === null ? '' : r.metric.unit);
      lines.push(f.join(sep));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** stat --json with -r N (N > 1): the mean and spread of every counter and reported value, and each run's report. */
export interface RepeatedStatReport {
  command: string[];
  repeat: number;
  elapsedSeconds: Spread;
  /** Machine-wide CPU and kernel counters. */
  counters: Record<string, Spread>;
  values: Record<string, Spread>;
  /** With -e: each event as named, null if not supported. */
  events?: Record<string, Spread | null>;
  runs: StatReport[];
}

export function repeatedReport(runs: StatReport[], events: readonly string[] | null): RepeatedStatReport {
  const names = Object.keys({ ...runs[0].machine.counters, ...runs[0].machine.kernel });
  const counters = Object.fromEntries(names.map((n) => [n, spread(runs.map((r) => r.machine.counters[n] ?? r.machine.kernel[n] ?? 0))]));
  const out: RepeatedStatReport = {
    command: runs[0].command, repeat: runs.length, elapsedSeconds: spread(runs.map((r) => r.elapsedSeconds)),
    counters, values: reportedValues(runs), runs,
  };
  if (events !== null) out.events = Object.fromEntries(statBlocks(runs, events, false)[0].rows.map((r) => [r.event, r.value]));
  return out;
}

/** The events of one run as -e named them (stat --json -e): a number, or null if not supported. */
export function eventsOf(r: StatReport, events: readonly string[]): Record<string, number | null> {
  return Object.fromEntries(events.map((e) => [e, eventValue(e, r.machine.counters, r.machine.kernel, r.elapsedSeconds)]));
}
