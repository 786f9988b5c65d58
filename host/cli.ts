// ptlab run|stat: boot a machine, run a program as its first process, report.

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CPU_COUNTERS, MAX_MEM_BYTES, modelGhz, PERF_ALIASES, PRESETS } from '../machine/index.ts';
import { type KernelCosts, parseCosts } from '../kernel/mm/costs.ts';
import { MAX_SWAP_BYTES, SIGNAL_DESCRIPTIONS } from '../kernel/uapi.ts';
import { Machine, type MachineOptions, type ProcessExit } from './machine.ts';
import {
  eventsOf, formatCsv, formatPerf, formatValues, parseEvents, repeatedReport, statBlocks, type StatBlock,
} from './stat.ts';

const USAGE = `usage: ptlab run  [options] PROGRAM [args...]
       ptlab stat [options] [--json] PROGRAM [args...]
       ptlab sweep [options] PROGRAM [args with {NAME}...] -o RESULTS.jsonl (ptlab sweep --help)
       ptlab check FILE...
       ptlab init DIR
       ptlab plot RESULTS... --x NAME --y NAME [--color NAME] [--log-x] [--log-y] [-o FILE]
       ptlab report RESULTS... [-o FILE]
       ptlab calibrate [--rounds N] [--scale X] [-o FILE]
       ptlab replay TRACE [--preset P] [--policy Q] [--l1 ..] [--stlb ..] [--pcid] [--json]
       ptlab trace csv|from-csv|reuse|wss|info FILE

Runs PROGRAM (a TypeScript or JavaScript module whose default export is main(argv)) as the
first process of a fresh machine. The exit code is the program's, or 128+signal; 127 if it
cannot be loaded, 70 if the kernel crashed, 2 if it does not type-check (run and stat check
PROGRAM and what it imports with the project's TypeScript first; check only does that, for
editors and CI, exit 0 if clean). init writes a project of one's own into DIR: a first
guest, a vitest test that runs it on a machine, tsconfig.json and package.json. Kernel log
lines (the OOM killer's reports) go to stderr as "[kernel] ..." (stat --json puts them in
its kernelLog instead). plot and report draw sweep results (JSON lines): plot one chart
as SVG or PNG, report a self-contained HTML page (--help on each).
its kernelLog instead). calibrate measures the kernel costs of modeled time on this host
and writes a cost table for --costs (stdout without -o).

options:
  --mem SIZE        physical memory, e.g. 256M, 2G (default 1G, at most 4G)
  --swap SIZE       a swap area of SIZE (default none, as on a machine without swap; at
                    most 16G; its contents live in host memory, not the machine's)
  --preset NAME     TLB model: ${Object.keys(PRESETS).join(', ')} (default skylake)
  --policy NAME     TLB replacement: lru, plru, random (default lru)
  --costs FILE      kernel cost table of modeled time (ptlab calibrate writes one;
                    default: the shipped table, measured on the project machine)
  --max-procs N     most processes at once (default 256)
  --cpus N          CPU slots: most threads at once (default 256)
  --proc FILE       print /proc/PID/FILE of each process as it ends: maps, smaps,
                    smaps_rollup or status (repeatable; stat --json includes them)
  --validate        check every address space after each syscall and fault (slow)
  --lkdtm           /sys/kernel/debug/provoke-crash/DIRECT: writing BUG to it is a
                    kernel bug in that write (an oops), to see what one does
  --no-check        run without type-checking PROGRAM
  --record FILE     write a trace of every CPU's translations to FILE, for
                    'ptlab replay' and 'ptlab trace' (README.md, "Traces")
  --json            (stat) print the report as JSON

stat, as perf stat (the report goes to stderr unless -o):
  -e, --events LIST   count these events (comma-separated, repeatable): perf's names
                      (dTLB-loads, dTLB-load-misses, dTLB-stores, dTLB-store-misses,
                      page-faults, minor-faults, major-faults, duration_time; iTLB-*,
                      cycles, context-switches... print <not supported>) or ptlab's
                      counter names (dtlb_load_misses.walk_completed, pgfault, ...)
  -r, --repeat N      run N times, each on a fresh machine; print the means and perf's
                      spread "( +-  1.23% )" (the standard deviation of the mean)
  -o, --output FILE   write the report to FILE instead of stderr
  -x, --field-separator SEP
                      perf's CSV lines: value,unit,event[,variance],run time,percent,
                      metric value,metric unit
  --per-process       with -e, -r or -x: a block (or CSV lines) per process too
`;

const PROC_FILES = new Set(['maps', 'smaps', 'smaps_rollup', 'status']);

/** Type-check `files`, printing what tsc would; true if they are clean. */
async function checked(files: string[]): Promise<boolean> {
  const { typeCheck } = await import('./check.ts');
  const r = await typeCheck(files);
  if (r.errors === 0) return true;
  process.stderr.write(`${r.text}ptlab: ${r.errors} type error${r.errors === 1 ? '' : 's'} (--no-check runs it anyway)\n`);
  return false;
}

/** Options that take the next argument as their value (--opt=value needs no lookahead). */
const VALUE_OPTIONS = new Set([
  '--mem', '--swap', '--preset', '--policy', '--max-procs', '--cpus', '--proc',
  '-e', '--events', '-r', '--repeat', '-o', '--output', '-x', '--field-separator', '--costs', '--record',
]);

/** A cost table file (--costs), or an error message. */
export function loadCosts(file: string): KernelCosts | string {
  try {
    return parseCosts(JSON.parse(readFileSync(file, 'utf8')));
  } catch (e) {
    return `--costs ${file}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGkmg]?)i?[Bb]?$/.exec(s);
  if (m === null) throw new Error(`bad size '${s}'`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit / 4096) * 4096;
}

export async function main(args: string[]): Promise<number> {
  // Output into a closed pipe (`ptlab run ... | head`) ends ptlab as SIGPIPE ends a Unix
  // program (status 128 + 13), not with an unhandled EPIPE error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(128 + 13);
      throw e;
    });
  }
  const cmd = args[0];
  if (cmd === 'init') {
    if (args.length !== 2 || args[1].startsWith('-')) {
      process.stderr.write(USAGE);
      return 2;
    }
    const { init } = await import('./init.ts');
    const written = init(args[1]);
    process.stdout.write(`ptlab init ${args[1]}: wrote ${written.join(', ')}\nthen: cd ${args[1]} && npm install && npm test\n`);
    return 0;
  }
  if (cmd === 'sweep') {
    const { sweepMain } = await import('./sweep.ts');
    return sweepMain(args.slice(1));
  }
  if (cmd === 'check') {
    const files = args.slice(1);
    if (files.length === 0 || files.some((f) => f.startsWith('-'))) {
      process.stderr.write(USAGE);
      return 2;
    }
    return await checked(files) ? 0 : 1;
  }
  if (cmd === 'replay') return (await import('./trace/cli.ts')).replayMain(args.slice(1));
  if (cmd === 'trace') return (await import('./trace/cli.ts')).traceMain(args.slice(1));
  if (cmd === 'plot') return (await import('./plot.ts')).plotCommand(args.slice(1));
  if (cmd === 'report') return (await import('./report.ts')).reportCommand(args.slice(1));
  if (cmd === 'calibrate') {
    const { calibrateMain } = await import('./calibrate.ts');
    return calibrateMain(args.slice(1), USAGE);
  }
  if (cmd !== 'run' && cmd !== 'stat') {
    process.stderr.write(USAGE);
    return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2;
  }
  // Options come before PROGRAM; everything after it belongs to the program.
  const rest = args.slice(1);
  let at = 0;
  while (at < rest.length && rest[at].startsWith('-')) at += VALUE_OPTIONS.has(rest[at]) ? 2 : 1;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest.slice(0, at),
      strict: true,
      options: {
        mem: { type: 'string' }, swap: { type: 'string' }, preset: { type: 'string' }, policy: { type: 'string' }, costs: { type: 'string' },
        'max-procs': { type: 'string' }, cpus: { type: 'string' }, json: { type: 'boolean' },
        proc: { type: 'string', multiple: true }, record: { type: 'string' }, validate: { type: 'boolean' }, lkdtm: { type: 'boolean' }, 'no-check': { type: 'boolean' },
        events: { type: 'string', short: 'e', multiple: true }, repeat: { type: 'string', short: 'r' },
        output: { type: 'string', short: 'o' }, 'field-separator': { type: 'string', short: 'x' }, 'per-process': { type: 'boolean' },
      },
    }));
  } catch (e) {
    process.stderr.write(`ptlab: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const program = rest[at];
  const programArgs = rest.slice(at + 1);
  if (program === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  const perf = perfOptions(values);
  if (typeof perf === 'string') {
    process.stderr.write(`ptlab: ${perf}\n`);
    return 2;
  }
  if (values['no-check'] !== true && /\.[cm]?tsx?$/.test(program) && !await checked([program])) return 2;
  const options: MachineOptions = {};
  if (values.mem !== undefined) {
    options.memBytes = parseSize(values.mem);
    if (!(options.memBytes > 0 && options.memBytes <= MAX_MEM_BYTES)) {
      process.stderr.write(`ptlab: --mem ${values.mem}: physical memory is from 4K to 4G (a JavaScript typed array spans at most 4 GiB)\n`);
      return 2;
    }
  }
  if (values.swap !== undefined) {
    options.swapBytes = parseSize(values.swap);
    if (!(options.swapBytes >= 2 * 4096 && options.swapBytes <= MAX_SWAP_BYTES)) {
      process.stderr.write(`ptlab: --swap ${values.swap}: a swap area is from 8K to 16G\n`);
      return 2;
    }
  }
  if (values.preset !== undefined) options.preset = values.preset;
  if (values.costs !== undefined) {
    const costs = loadCosts(values.costs);
    if (typeof costs === 'string') {
      process.stderr.write(`ptlab: ${costs}\n`);
      return 2;
    }
    options.costs = costs;
  }
  if (values.policy !== undefined) options.policy = values.policy as MachineOptions['policy'] & string;
  if (values['max-procs'] !== undefined) options.maxProcs = Number(values['max-procs']);
  if (values.cpus !== undefined) options.nrCpus = Number(values.cpus);
  if (values.validate === true) options.validate = true;
  if (values.lkdtm === true) options.lkdtm = true;
  if (values.record !== undefined) {
    if (perf.repeat > 1) {
      process.stderr.write('ptlab: --record records one run: not with -r\n');
      return 2;
    }
    options.record = true;
  }
  if (values.proc !== undefined) {
    const bad = values.proc.find((f) => !PROC_FILES.has(f));
    if (bad !== undefined) {
      process.stderr.write(`ptlab: --proc: no /proc/PID/${bad} (choose from ${[...PROC_FILES].join(', ')})\n`);
      return 2;
    }
    options.procAtExit = values.proc;
  }
  // Like the kernel log's "segfault at" lines: a child killed by a signal is reported as it
  // dies; the first process's death is reported at the end.
  // stderr carries the JSON document: the kernel log and the death reports go into it
  // (kernelLog, processes[].report) rather than around it.
  const json = cmd === 'stat' && values.json === true;
  if (json) options.klog = false;
  options.onExit = (e) => {
    if (e.signal !== null && e.ppid !== 0 && !json) process.stderr.write(`ptlab: pid ${e.pid} (${e.path}): ${e.report || SIGNAL_DESCRIPTIONS[e.signal] || `killed by signal ${e.signal}`}\n`);
  };
  const record = values.record;
  if (cmd === 'run') {
    const r = await runOnce(options, program, programArgs, false, record);
    return typeof r === 'number' ? r : r.code;
  }
  const runs: StatReport[] = [];
  let code = 0;
  for (let i = 0; i < perf.repeat; i++) {
    const r = await runOnce(options, program, programArgs, json, record);
    if (typeof r === 'number') return r;
    runs.push(r.report);
    code = r.code;
  }
  const text = statText(runs, perf, json);
  if (perf.output !== undefined) writeFileSync(perf.output, text);
  else process.stderr.write(text);
  return code;
}

/** stat's perf-like choices: events (null: today's report), runs, where the report goes, CSV. */
interface PerfOptions {
  events: string[] | null;
  repeat: number;
  output: string | undefined;
  separator: string | undefined;
  perProcess: boolean;
}

function perfOptions(values: { events?: string[]; repeat?: string; output?: string; 'field-separator'?: string; 'per-process'?: boolean }): PerfOptions | string {
  let events: string[] | null = null;
  if (values.events !== undefined) {
    const e = parseEvents(values.events);
    if (typeof e === 'string') return `-e: ${e}`;
    events = e;
  }
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) return `-r ${values.repeat}: the number of runs is a whole number from 1`;
  const separator = values['field-separator'];
  if (separator === '') return '-x: the separator is empty';
  return { events, repeat, output: values.output, separator, perProcess: values['per-process'] === true };
}

/** The report of the runs: JSON, perf's CSV, perf's text (with -e or -r N > 1), or today's text. */
function statText(runs: StatReport[], perf: PerfOptions, json: boolean): string {
  if (json) {
    if (runs.length > 1) return `${JSON.stringify(repeatedReport(runs, perf.events), null, 2)}\n`;
    const doc = perf.events === null ? runs[0] : { ...runs[0], events: eventsOf(runs[0], perf.events) };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  const blocks = (): StatBlock[] => statBlocks(runs, perf.events ?? SHOWN, perf.perProcess);
  if (perf.separator !== undefined) return formatCsv(runs, blocks(), perf.separator);
  if (perf.events !== null || runs.length > 1) return formatPerf(runs, blocks());
  const values = formatValues(runs);
  return values === '' ? formatStat(runs[0]) : `${formatStat(runs[0])}${values.trimStart()}\n\n`;
}

/**
 * Boot a machine, run the program on it as its first process, shut it down: its exit code
 * (the program's status, 128 + signal) and the stat report; or 70 (a kernel crash) or 127
 * (it could not be started).
 */
async function runOnce(options: MachineOptions, program: string, programArgs: string[], json: boolean,
  record?: string): Promise<{ code: number; report: StatReport } | number> {
  const t0 = performance.now();
  const machine = await Machine.boot(options);
  let exit: ProcessExit;
  try {
    exit = await machine.run(resolve(program), programArgs);
  } catch (e) {
    process.stderr.write(`ptlab: ${e instanceof Error ? e.message : String(e)}\n`);
    await machine.shutdown();
    return machine.crashed !== null ? 70 : 127; // EX_SOFTWARE for a kernel crash
  }
  const seconds = (performance.now() - t0) / 1000;
  const kernel = machine.kernelCounters();
  const ghz = modelGhz(machine.cb);
  await machine.shutdown();
  if (record !== undefined) {
    const bytes = (await import('./trace/run.ts')).saveTrace(record, machine, [program, ...programArgs]);
    if (!json) process.stderr.write(`ptlab: recorded ${machine.traceStreams.length} CPU stream${machine.traceStreams.length === 1 ? '' : 's'} to ${record} (${bytes.toLocaleString('en')} bytes)\n`);
  }
  if (exit.signal !== null && !json) process.stderr.write(`ptlab: ${exit.report || SIGNAL_DESCRIPTIONS[exit.signal] || `killed by signal ${exit.signal}`}\n`);
  if (!json) {
    for (const e of machine.exits) {
      for (const [name, text] of Object.entries(e.proc)) process.stderr.write(`==> /proc/${e.pid}/${name} at exit <==\n${text}`);
    }
  }
  const report = statReport([program, ...programArgs], machine.exits, kernel, seconds, machine.kernelLog, ghz);
  return { code: exit.signal !== null ? 128 + exit.signal : exit.exitCode ?? 0, report };
}

/** The `ptlab stat --json` document (schema in README.md). */
export interface StatReport {
  command: string[];
  elapsedSeconds: number;
  /** Modeled time (README.md, "Modeled time"): the clock rate, and the machine's clock when the last process ended, s. */
  modelGhz: number;
  modeledSeconds: number;
  processes: {
    pid: number; ppid: number; path: string; exitCode: number | null; signal: number | null;
    report: string; threads: number; hiwaterRssPages: number; counters: Record<string, number>;
    /** System calls it made, by name (strace -c). */
    syscalls: Record<string, SyscallStat>;
    /** /proc files captured at exit (--proc), by name. */
    proc: Record<string, string>;
    /** The named results it reported (report()). */
    values: Record<string, number>;
    /** Modeled time from its start to the end of its last thread, s. */
    modeledSeconds: number;
  }[];
  machine: { counters: Record<string, number>; kernel: Record<string, number>; syscalls: Record<string, SyscallStat> };
  /** The kernel log's lines, in order (what `run` prints as "[kernel] ..."). */
  kernelLog: string[];
  /** Every process's reported results by name; a name two processes reported has the value of the one that ended last. */
  values: Record<string, number>;
}

/** Calls of one system call, and how many returned an error. */
export interface SyscallStat {
  calls: number;
  errors: number;
}

/** [calls, errors] pairs by name as the kernel sends them, as SyscallStats, most called first. */
function syscallStats(pairs: Record<string, [number, number]>): Record<string, SyscallStat> {
  const sorted = Object.entries(pairs).sort((a, b) => b[1][0] - a[1][0] || a[0].localeCompare(b[0]));
  return Object.fromEntries(sorted.map(([name, [calls, errors]]) => [name, { calls, errors }]));
}

export function statReport(
  command: string[], exits: ProcessExit[], kernel: Record<string, number>, seconds: number, kernelLog: string[] = [], ghz = 0,
): StatReport {
  const modeled = (cycles: number) => ghz > 0 ? cycles / ghz / 1e9 : 0;
  const total: Record<string, number> = {};
  for (const d of CPU_COUNTERS) total[d.name] = 0;
  for (const e of exits) for (const [k, v] of Object.entries(e.counters)) total[k] = (total[k] ?? 0) + v;
  const calls: Record<string, [number, number]> = {};
  for (const e of exits) {
    for (const [name, [c, err]] of Object.entries(e.syscalls)) {
      const sum = calls[name] ?? [0, 0];
      calls[name] = [sum[0] + c, sum[1] + err];
    }
  }
  return {
    command,
    elapsedSeconds: seconds,
    modelGhz: ghz,
    modeledSeconds: modeled(Math.max(0, ...exits.map((e) => e.clockEnd))),
    processes: exits.map((e) => ({
      pid: e.pid, ppid: e.ppid, path: e.path, exitCode: e.exitCode, signal: e.signal, report: e.report,
      threads: e.threads, hiwaterRssPages: e.hiwaterRss, counters: e.counters, syscalls: syscallStats(e.syscalls), proc: e.proc,
      values: e.values,
      modeledSeconds: modeled(e.clockEnd - e.clockStart),
    })),
    machine: { counters: total, kernel, syscalls: syscallStats(calls) },
    kernelLog,
    values: Object.assign({}, ...exits.map((e) => e.values)) as Record<string, number>,
  };
}

const SHOWN = [
  'cycles', 'dtlb_loads', 'dtlb_stores', 'l1_dtlb_load_misses', 'l1_dtlb_store_misses', 'dtlb_load_misses.stlb_hit',
  'dtlb_load_misses.walk_completed', 'dtlb_store_misses.walk_completed', 'walk_mem_refs', 'psc.pde_hit',
  'page_faults', 'cow_faults', 'pgreuse', 'irq_tlb_count',
];

function formatCounters(c: Record<string, number>, ghz: number): string {
  const alias = Object.fromEntries(Object.entries(PERF_ALIASES).map(([perf, name]) => [name, perf]));
  return SHOWN.map((name) => {
    const v = (c[name] ?? 0).toLocaleString('en');
    const note = name === 'cycles' ? `# modeled, ${ghz} GHz` : alias[name] !== undefined ? `# ${alias[name]}` : '';
    return `${v.padStart(18)}      ${name.padEnd(36)} ${note}`.trimEnd();
  }).join('\n');
}

export function formatStat(r: StatReport): string {
  const out: string[] = [];
  for (const p of r.processes) {
    const how = p.signal !== null ? `killed by signal ${p.signal}` : `exit ${p.exitCode}`;
    out.push(`\n Performance counter stats for pid ${p.pid} '${p.path}' (${p.threads} thread${p.threads === 1 ? '' : 's'}, ${how}, peak RSS ${p.hiwaterRssPages * 4} KiB):\n`);
    out.push(formatCounters(p.counters, r.modelGhz));
    out.push(`\n${p.modeledSeconds.toFixed(9).padStart(18)} seconds time elapsed (modeled)`);
  }
  out.push(`\n Machine totals for '${r.command.join(' ')}' (${r.processes.length} process${r.processes.length === 1 ? '' : 'es'}):\n`);
  out.push(formatCounters(r.machine.counters, r.modelGhz));
  for (const [k, v] of Object.entries(r.machine.kernel)) out.push(`${Math.round(v).toLocaleString('en').padStart(18)}      ${k}`);
  out.push(`\n System calls (as strace -c counts them):\n\n${'calls'.padStart(18)} ${'errors'.padStart(9)}  syscall`);
  for (const [name, c] of Object.entries(r.machine.syscalls)) out.push(`${c.calls.toLocaleString('en').padStart(18)} ${c.errors.toLocaleString('en').padStart(9)}  ${name}`);
  out.push(`\n${r.modeledSeconds.toFixed(9).padStart(18)} seconds time elapsed (modeled)`);
  // kswapd's reclaim, on a clock of its own (README.md, "Modeled time"): in no process's time.
  out.push(`${((r.machine.kernel.kswapd_modeled_ns ?? 0) / 1e9).toFixed(9).padStart(18)} seconds kswapd (modeled, charged to no process)`);
  out.push(`${r.elapsedSeconds.toFixed(3).padStart(18)} seconds time elapsed\n\n`);
  return out.join('\n');
}
