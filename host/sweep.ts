// ptlab sweep: run a guest program over a grid of parameters, each run `ptlab stat --json` in
// a child process of its own (its own machine; a crash takes only that run), --jobs at once,
// and append each run's record to a results file as it ends (JSON lines; host/grid.ts). A
// sweep started again skips the runs already in the file; --shard runs a share of the grid;
// --merge joins results files.

import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SIGNAL_NAMES } from '../kernel/uapi.ts';
import type { StatReport } from './cli.ts';
import {
  dedupe, expand, parseAxis, parseGridFile, parseShard, readResults, runKey, shardOf, toCsv,
  type Axis, type Point, type RunRecord,
} from './grid.ts';
import { rootPath } from './bundle.ts';
import { Progress } from './progress.ts';

export const SWEEP_USAGE = `usage: ptlab sweep [options] [ptlab options] PROGRAM [ARGS with {NAME}...] -o RESULTS.jsonl
       ptlab sweep [options] -o RESULTS.jsonl replay TRACE [replay options with {NAME}...]
       ptlab sweep --merge RESULTS.jsonl... -o ALL.jsonl [--csv ALL.csv]

Runs PROGRAM once per point of a grid (and --repeat times each), each run a 'ptlab stat' on a
machine of its own in a child process, and appends one JSON line per run to RESULTS.jsonl:
{"point", "repeat", "status", "exit", "signal", "error", "counters", "values", "command",
"elapsed_s", "env"}. {NAME} in PROGRAM and ARGS is the point's value of parameter NAME; a
parameter named mem, swap, preset, policy, cpus or max-procs sets that ptlab option. Runs
already in RESULTS.jsonl are skipped, so an interrupted sweep continues where it stopped.
With PROGRAM 'replay', each run is 'ptlab replay' of a recorded trace instead (a grid of TLB
designs over one run: e.g. replay run.ptrace --stlb {entries}x{ways}:4k+2m).

options:
  -p, --param NAME=V1,V2,...  a parameter and its values (repeatable); a value may be a
                              range: LO..HI (step 1), LO..HI:STEP, LO..HI*FACTOR (geometric)
  --grid FILE          parameters from a file: one NAME = V1, V2, ... per line, # comments
  -o, --output FILE    the results file (JSON lines; appended to)
  --csv FILE           also write every record of the results file as CSV
  -j, --jobs N         runs at once (default: the host's cores, ${availableParallelism()})
  -r, --repeat N       runs per point (default 1), each a record with its repeat number
  --shard I/N          run only the I-th of N shares of the runs (every Nth from the I-th)
  --timeout SECONDS    end a run that takes longer (recorded as failed)
  --retry-failed       run again the runs that failed in the results file
  --merge              join the results files given, one record per point and repeat
ptlab options, the same for every run: --mem, --swap, --preset, --policy, --cpus,
  --max-procs, --validate, --no-check
`;

/** Parameters that are ptlab options rather than the program's. */
const PTLAB_PARAMS = new Set(['mem', 'swap', 'preset', 'policy', 'cpus', 'max-procs']);
const VALUE_OPTIONS = new Set([
  '-p', '--param', '--grid', '-o', '--output', '--csv', '-j', '--jobs', '-r', '--repeat', '--shard', '--timeout',
  '--mem', '--swap', '--preset', '--policy', '--cpus', '--max-procs',
]);
const OPTIONS = {
  param: { type: 'string', short: 'p', multiple: true }, grid: { type: 'string' }, output: { type: 'string', short: 'o' },
  csv: { type: 'string' }, jobs: { type: 'string', short: 'j' }, repeat: { type: 'string', short: 'r' },
  shard: { type: 'string' }, timeout: { type: 'string' }, 'retry-failed': { type: 'boolean' }, merge: { type: 'boolean' },
  mem: { type: 'string' }, swap: { type: 'string' }, preset: { type: 'string' }, policy: { type: 'string' },
  cpus: { type: 'string' }, 'max-procs': { type: 'string' }, validate: { type: 'boolean' }, 'no-check': { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** What one run needs: its point, repeat number, the child's arguments, and the command to show. */
interface Run {
  point: Point;
  repeat: number;
  args: string[];
  command: string;
  preset: string;
  /** The ptlab command each run is: stat (a program) or replay (a trace). */
  sub: 'stat' | 'replay';
}

/** A word as a POSIX shell reads it back. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const fail = (message: string): number => {
  process.stderr.write(`ptlab sweep: ${message}\n`);
  return 2;
};

export async function sweepMain(args: string[]): Promise<number> {
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
    process.stderr.write(SWEEP_USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const merge = args.includes('--merge');
  let at = 0;
  while (!merge && at < args.length && args[at].startsWith('-')) at += VALUE_OPTIONS.has(args[at]) ? 2 : 1;
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: merge ? args : args.slice(0, at), options: OPTIONS, allowPositionals: merge, strict: true }));
  } catch (e) {
    return fail(`${e instanceof Error ? e.message : String(e)}\n${SWEEP_USAGE}`);
  }
  if (values.output === undefined) return fail('-o RESULTS.jsonl is required');
  if (merge) return mergeFiles(positionals, values.output, values.csv);
  const program = args[at];
  if (program === undefined) return fail(`no PROGRAM\n${SWEEP_USAGE}`);
  return sweep(values, program, args.slice(at + 1), values.output);
}

/** The grid's axes from --grid and --param, checked against where they are used. */
function axesOf(values: Values, program: string, programArgs: string[]): Axis[] | string {
  const axes: Axis[] = [];
  if (values.grid !== undefined) {
    const g = parseGridFile(values.grid);
    if (typeof g === 'string') return g;
    axes.push(...g);
  }
  for (const spec of values.param ?? []) {
    const a = parseAxis(spec);
    if (typeof a === 'string') return a;
    axes.push(a);
  }
  const names = new Set<string>();
  for (const a of axes) {
    if (names.has(a.name)) return `parameter '${a.name}' is given twice`;
    names.add(a.name);
  }
  const used = new Set([program, ...programArgs].flatMap((s) => [...s.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])));
  for (const u of used) if (!names.has(u)) return `{${u}} names no parameter (given: ${[...names].join(', ') || 'none'})`;
  for (const n of names) if (!used.has(n) && !PTLAB_PARAMS.has(n)) return `parameter '${n}' is used nowhere: put {${n}} in the program's arguments`;
  return axes;
}

const fill = (s: string, p: Point): string => s.replace(/\{([^}]+)\}/g, (_, n: string) => p.texts[n]);

/** The runs of the whole grid: each point --repeat times, in the grid's order. */
function runsOf(values: Values, axes: Axis[], program: string, programArgs: string[], repeat: number): Run[] {
  const fixed: [string, string][] = [];
  for (const o of PTLAB_PARAMS) {
    const v = values[o as keyof Values];
    if (typeof v === 'string') fixed.push([o, v]);
  }
  return expand(axes).flatMap((point) => {
    const opts = new Map(fixed);
    for (const n of Object.keys(point.texts)) if (PTLAB_PARAMS.has(n)) opts.set(n, point.texts[n]);
    const flags = [...opts].flatMap(([o, v]) => [`--${o}`, v]);
    if (values.validate === true) flags.push('--validate');
    // PROGRAM 'replay': each run replays a trace (ptlab replay) instead of running a program.
    const sub = program === 'replay' ? 'replay' : 'stat';
    const words = [...(sub === 'stat' ? [fill(program, point)] : []), ...programArgs.map((a) => fill(a, point))];
    const command = ['ptlab', sub, ...flags, ...words].map(shellQuote).join(' ');
    const preset = opts.get('preset') ?? (sub === 'replay' ? 'recorded' : 'skylake');
    return Array.from({ length: repeat }, (_, r) => ({ point, repeat: r, args: [...flags, ...words], command, preset, sub }));
  });
}

function positive(s: string | undefined, fallback: number, what: string): number | string {
  if (s === undefined) return fallback;
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : `${what} ${s}: a positive number`;
}

async function sweep(values: Values, program: string, programArgs: string[], output: string): Promise<number> {
  const axes = axesOf(values, program, programArgs);
  if (typeof axes === 'string') return fail(axes);
  const jobs = positive(values.jobs, availableParallelism(), '--jobs');
  const repeat = positive(values.repeat, 1, '--repeat');
  const timeout = positive(values.timeout, Infinity, '--timeout');
  for (const x of [jobs, repeat, timeout]) if (typeof x === 'string') return fail(x);
  const shard = values.shard === undefined ? null : parseShard(values.shard);
  if (typeof shard === 'string') return fail(shard);
  const all = shardOf(runsOf(values, axes, program, programArgs, Math.floor(repeat as number)), shard);
  let done: RunRecord[];
  try {
    done = previousRecords(output, values['retry-failed'] === true);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const have = new Set(done.map((r) => runKey(r.point, r.repeat)));
  const todo = all.filter((r) => !have.has(runKey(r.point.values, r.repeat)));
  if (values['no-check'] !== true) {
    const programs = [...new Set(todo.filter((r) => r.sub === 'stat').map((r) => r.args[r.args.length - programArgs.length - 1]))].filter((p) => /\.[cm]?tsx?$/.test(p));
    const { typeCheck } = await import('./check.ts');
    const r = programs.length === 0 ? { errors: 0, text: '' } : await typeCheck(programs);
    if (r.errors > 0) return fail(`${r.text}${r.errors} type error${r.errors === 1 ? '' : 's'} (--no-check runs it anyway)`);
  }
  process.stderr.write(`ptlab sweep: ${all.length} run${all.length === 1 ? '' : 's'}${shard === null ? '' : ` (shard ${shard.index}/${shard.count})`}, ${all.length - todo.length} in ${output} already, ${todo.length} to run, ${Math.min(jobs as number, todo.length)} at once\n`);
  const failed = await runAll(todo, Math.floor(jobs as number), timeout as number, output);
  const records = readResults(output).records;
  if (values.csv !== undefined) writeFileSync(values.csv, toCsv(records));
  process.stderr.write(`ptlab sweep: ${todo.length - failed} ok, ${failed} failed; ${output} has ${records.length} record${records.length === 1 ? '' : 's'}\n`);
  return failed > 0 ? 1 : 0;
}

/** The records in the results file; a cut-short last line is removed, and the failed runs too with retryFailed. */
function previousRecords(output: string, retryFailed: boolean): RunRecord[] {
  const { records, partial } = readResults(output);
  const keep = retryFailed ? records.filter((r) => r.status === 'ok') : records;
  if (partial || keep.length !== records.length) {
    const tmp = `${output}.tmp-${process.pid}`;
    writeFileSync(tmp, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
    renameSync(tmp, output);
  }
  return keep;
}

/** Run the runs, `jobs` at once, appending each record as it ends; the number that failed. */
async function runAll(todo: Run[], jobs: number, timeout: number, output: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ptlab-sweep-'));
  const progress = new Progress({ label: 'ptlab sweep', total: todo.length, out: process.stderr, delay: 0 });
  const timer = setInterval(() => progress.tick(), 1000);
  timer.unref();
  const children = new Set<ReturnType<typeof spawn>>();
  const interrupted = (): void => {
    for (const c of children) c.kill('SIGTERM');
    clearInterval(timer);
    progress.finish();
    process.stderr.write(`\nptlab sweep: interrupted; the runs that ended are in ${output}: the same command goes on from there\n`);
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const run = todo[next++];
      const rec = await runOne(run, join(dir, `${next}.json`), timeout, children);
      appendFileSync(output, `${JSON.stringify(rec)}\n`);
      if (rec.status !== 'ok') failed++;
      ended(progress, rec);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
  } finally {
    process.off('SIGINT', interrupted);
    clearInterval(timer);
    progress.finish();
    rmSync(dir, { recursive: true, force: true });
  }
  return failed;
}

/** A run ended: the bar advances; a line for each run when not on a terminal, for a failed one on it. */
function ended(progress: Progress, r: RunRecord): void {
  const point = Object.entries(r.point).map(([k, v]) => `${k}=${v}`).join(' ');
  const why = r.status === 'ok' ? '' : `: ${(r.error ?? '').split('\n').pop()}`;
  progress.done++;
  if (r.status !== 'ok') progress.failed++;
  if (!process.stderr.isTTY) progress.line(`[${progress.status()}] ${r.status} ${point} #${r.repeat} (${r.elapsed_s.toFixed(2)} s)${why}`);
  else if (r.status !== 'ok') progress.line(`failed: ${point} #${r.repeat}${why}`);
  else progress.tick();
}

const BIN = rootPath('bin', 'ptlab.mjs');
const ENV = (() => {
  const pkg = JSON.parse(readFileSync(rootPath('package.json'), 'utf8')) as { version: string };
  return { ptlab: pkg.version, node: process.version, host: hostname() };
})();

/** One run: `ptlab stat --json -o FILE --no-check ...` in a child process, and its record. */
function runOne(run: Run, reportFile: string, timeout: number, children: Set<ReturnType<typeof spawn>>): Promise<RunRecord> {
  const t0 = performance.now();
  const args = run.sub === 'stat' ? ['stat', '--json', '-o', reportFile, '--no-check'] : ['replay', '--json', '-o', reportFile];
  const child = spawn(process.execPath, [BIN, ...args, ...run.args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
  });
  let timedOut = false;
  const timer = Number.isFinite(timeout) ? setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeout * 1000) : undefined;
  return new Promise((resolve) => {
    let ended = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      children.delete(child);
      const wall = (performance.now() - t0) / 1000;
      let report: StatReport | null = null;
      try {
        report = JSON.parse(readFileSync(reportFile, 'utf8')) as StatReport;
      } catch {
        // no report: the run did not get that far
      }
      const why = spawnError?.message ?? (timedOut ? `timed out after ${timeout} s` : null);
      resolve(record(run, report, code, signal, why, stderr, wall));
    };
    child.once('error', (e) => finish(null, null, e));
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** A run's record from its stat report (if it wrote one) and how its child process ended. */
function record(run: Run, report: StatReport | null, code: number | null, signal: NodeJS.Signals | null, why: string | null, stderr: string, wall: number): RunRecord {
  const first = report?.processes.find((p) => p.ppid === 0);
  const ok = why === null && code === 0 && signal === null && report !== null;
  const tail = stderr.trim().split('\n').slice(-6).join('\n');
  let exit: number | null = code;
  let sig: string | null = signal;
  if (first !== undefined) {
    exit = first.exitCode;
    sig = first.signal === null ? null : SIGNAL_NAMES[first.signal] ?? `SIG${first.signal}`;
  }
  return {
    point: run.point.values,
    repeat: run.repeat,
    status: ok ? 'ok' : 'failed',
    exit,
    signal: sig,
    error: ok ? null : why ?? (tail || (sig !== null ? `killed by ${sig}` : `exit status ${exit}`)),
    counters: report === null ? {} : { ...report.machine.counters, ...report.machine.kernel },
    values: report?.values ?? {},
    command: run.command,
    elapsed_s: Math.round((report?.elapsedSeconds ?? wall) * 1e6) / 1e6,
    env: { ...ENV, preset: run.preset },
  };
}

/** --merge: the records of every file, one per point and repeat, written to `output`. */
function mergeFiles(files: string[], output: string, csv: string | undefined): number {
  if (files.length === 0) return fail('--merge: no results files given');
  let all: RunRecord[] = [];
  try {
    for (const f of files) all = all.concat(readResults(f).records);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const merged = dedupe(all);
  const tmp = `${output}.tmp-${process.pid}`;
  writeFileSync(tmp, merged.map((r) => `${JSON.stringify(r)}\n`).join(''));
  renameSync(tmp, output);
  if (csv !== undefined) writeFileSync(csv, toCsv(merged));
  process.stderr.write(`ptlab sweep: merged ${all.length} records of ${files.length} file${files.length === 1 ? '' : 's'} into ${merged.length} in ${output}\n`);
  return 0;
}
