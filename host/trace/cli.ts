// ptlab replay and ptlab trace: the commands over recorded traces.

import { pagingMain } from '../replay-paging.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { PolicyName } from '../../machine/index.ts';
import { formatStat } from '../cli.ts';
import { fromCsv, readTrace, reuseHistogram, toCsvLines, workingSets } from './analyses.ts';
import { GEOMETRY_HELP, geometryOf, presetOf } from './geometry.ts';
import { recordedConfig, replayTrace, tlbCounterNames, type Progress } from './run.ts';

export const REPLAY_USAGE = `usage: ptlab replay TRACE [--preset P] [--policy Q] [--l1 ...] [--stlb ...] [--psc ...]
                    [--geometry FILE] [--pcid] [--json] [-o FILE] [--check]

Page replacement instead (--paging, --refs): ptlab replay --paging all --frames N --refs 1,2,3 (see --paging).

Drives the TLB model alone with a trace that 'ptlab stat --record TRACE' (or run) wrote, and
prints stat's counters per process and for the machine (--json: stat's JSON document).
Without options it replays the recorded configuration, which reproduces the recorded run's
TLB counters exactly; --check then compares them and exits 1 on a difference.

  --preset NAME      start from this preset's geometry (default: the recorded one)
  --policy NAME      replacement: lru, plru, random (default: the recorded one)
  --pcid             CR4.PCIDE on: CR3 loads tag the process's PCID and keep its entries
${GEOMETRY_HELP}
`;

export const TRACE_USAGE = `usage: ptlab trace csv TRACE [-o FILE]          every record as CSV (header as a '#' line)
       ptlab trace from-csv CSV -o TRACE     the trace back from that CSV
       ptlab trace reuse TRACE               reuse-distance histogram of 4 KiB pages
       ptlab trace wss TRACE --window N      working-set size per window of N accesses
       ptlab trace info TRACE                the header: configuration, streams, processes
`;

const fail = (m: string): number => {
  process.stderr.write(`ptlab: ${m}\n`);
  return 2;
};

/** A progress bar on a terminal; otherwise a line every 5 seconds. Only once a replay has run 1 s. */
function progressBar(): Progress & { end(): void } {
  const t0 = performance.now();
  let last = 0;
  let drawn = false;
  const tty = process.stderr.isTTY === true;
  const f = (done: number, total: number) => {
    const now = performance.now();
    if (now - t0 < 1000 || now - last < (tty ? 200 : 5000)) return;
    last = now;
    drawn = true;
    const pct = (100 * done / total).toFixed(1);
    if (tty) {
      const full = Math.round(30 * done / total);
      process.stderr.write(`\r\x1b[K[${'#'.repeat(full)}${'.'.repeat(30 - full)}] ${pct}% of the trace, ${((now - t0) / 1000).toFixed(0)} s`);
    } else {
      process.stderr.write(`ptlab replay: ${pct}% of the trace, ${((now - t0) / 1000).toFixed(0)} s\n`);
    }
  };
  return Object.assign(f, { end: () => { if (drawn && tty) process.stderr.write('\n'); } });
}

export function replayMain(args: string[]): number {
  // Page replacement (--paging, --refs) is host/replay-paging.ts's.
  if (args.some((a) => /^--(paging|refs)(=|$)/.test(a))) return pagingMain(args);
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        preset: { type: 'string' }, policy: { type: 'string' }, l1: { type: 'string' }, stlb: { type: 'string' },
        psc: { type: 'string' }, geometry: { type: 'string' }, pcid: { type: 'boolean' }, json: { type: 'boolean' },
        output: { type: 'string', short: 'o' }, check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return fail(`${e instanceof Error ? e.message : String(e)}\n${REPLAY_USAGE}`);
  }
  if (values.help === true) {
    process.stdout.write(REPLAY_USAGE);
    return 0;
  }
  if (positionals.length !== 1) return fail(`replay takes one TRACE\n${REPLAY_USAGE}`);
  let trace;
  try {
    trace = readTrace(positionals[0]);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const config = recordedConfig(trace.header);
  if (values.preset !== undefined) {
    const p = presetOf(values.preset);
    if (typeof p === 'string') return fail(p);
    config.geometry = p;
  }
  const g = geometryOf(structuredClone(config.geometry), values);
  if (typeof g === 'string') return fail(g);
  config.geometry = g;
  if (values.policy !== undefined) {
    if (!['lru', 'plru', 'random'].includes(values.policy)) return fail(`unknown replacement policy '${values.policy}'`);
    config.policy = values.policy as PolicyName;
  }
  const bar = progressBar();
  const report = replayTrace(trace, config, { pcid: values.pcid === true }, bar);
  bar.end();
  const text = values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatStat(report);
  if (values.output !== undefined) writeFileSync(values.output, text);
  else process.stdout.write(text);
  if (values.check !== true) return 0;
  const diffs: string[] = [];
  for (const p of trace.header.processes) {
    const mine = report.processes.find((q) => q.pid === p.pid);
    for (const n of tlbCounterNames()) {
      const live = p.counters[n] ?? 0;
      const replayed = mine?.counters[n] ?? 0;
      if (live !== replayed) diffs.push(`pid ${p.pid} ${n}: recorded ${live}, replayed ${replayed}`);
    }
  }
  process.stderr.write(diffs.length === 0 ? 'ptlab replay: every TLB counter equals the recorded run\'s\n' : `ptlab replay: ${diffs.length} counters differ:\n${diffs.join('\n')}\n`);
  return diffs.length === 0 ? 0 : 1;
}

export function traceMain(args: string[]): number {
  const [sub, ...rest] = args;
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { output: { type: 'string', short: 'o' }, window: { type: 'string' } },
    }));
  } catch (e) {
    return fail(`${e instanceof Error ? e.message : String(e)}\n${TRACE_USAGE}`);
  }
  if (positionals.length !== 1) return fail(TRACE_USAGE);
  const file = positionals[0];
  try {
    return traceCommand(sub, file, values);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
}

function traceCommand(sub: string | undefined, file: string, values: { output?: string; window?: string }): number {
  const out = (s: string) => (values.output !== undefined ? writeFileSync(values.output, s) : process.stdout.write(s));
  if (sub === 'from-csv') {
    if (values.output === undefined) return fail('trace from-csv: -o TRACE is required');
    const bytes = fromCsv(readFileSync(file, 'utf8'), values.output);
    process.stderr.write(`ptlab trace: wrote ${values.output} (${bytes.toLocaleString('en')} bytes)\n`);
    return 0;
  }
  const trace = readTrace(file);
  if (sub === 'csv') {
    out(`${[...toCsvLines(trace)].join('\n')}\n`);
  } else if (sub === 'info') {
    out(`${JSON.stringify(trace.header, null, 2)}\n`);
  } else if (sub === 'reuse') {
    const h = reuseHistogram(trace);
    const total = [...h.values()].reduce((a, b) => a + b, 0);
    const order = (k: string) => (k === 'cold' ? Infinity : Number(k.split('-')[0]));
    const lines = [`${'distance'.padStart(16)} ${'accesses'.padStart(14)}  share`];
    for (const [k, n] of [...h].sort((a, b) => order(a[0]) - order(b[0]))) {
      lines.push(`${k.padStart(16)} ${n.toLocaleString('en').padStart(14)}  ${(100 * n / total).toFixed(2).padStart(6)}%`);
    }
    out(`${lines.join('\n')}\n`);
  } else if (sub === 'wss') {
    const window = Number(values.window);
    if (!Number.isInteger(window) || window < 1) return fail('trace wss: --window N, a whole number of accesses');
    const lines = ['cpu,pid,tid,window,accesses,pages_4k,regions_2m'];
    for (const r of workingSets(trace, window)) lines.push([r.cpu, r.pid, r.tid, r.index, r.accesses, r.pages, r.hugeRegions].join(','));
    out(`${lines.join('\n')}\n`);
  } else {
    return fail(TRACE_USAGE);
  }
  return 0;
}
