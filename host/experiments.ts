// `npm run report` (bin/experiments.mjs): the seed experiments, each defined by a file
// experiments/NAME.json, run as sweeps (or, for an example that sweeps its own grid, as one
// `ptlab run ... --json`), then `ptlab report` of all their results into one HTML page, and
// one figure per experiment (SVG, the README's) from its definition's "figure".
//
// An experiment file:
//   {"title": "what the figure shows",
//    "sweep": [ptlab sweep's arguments, without -o],       (or)
//    "run": [ptlab run's arguments; the program prints its results with --json],
//    "figure": {"x": NAME, "y": NAME, "color": NAME or [NAME, ...], "logX": bool, "logY": bool}}
// A colour of several names colours by their values joined ("4k, haswell").

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { rootPath } from './bundle.ts';
import { chartSpec, type ChartOptions } from './chart.ts';
import { writeChart } from './plot.ts';
import { aggregate, readResults, type Run } from './results.ts';

export interface Experiment {
  name: string;
  title: string;
  sweep?: string[];
  run?: string[];
  figure: { x: string; y: string; color?: string | string[]; logX?: boolean; logY?: boolean };
}

const USAGE = `usage: npm run report -- [NAME...] [--results DIR] [--figures DIR] [-o FILE] [--fresh] [-j N] [--parallel K]

Runs the experiments of experiments/*.json (or those NAMEd), each into DIR/NAME.jsonl
(default results/; a sweep already there goes on where it stopped and a run's results are
kept; --fresh runs them again), then writes the report of all of them (default report.html) and each one's figure,
FIGURES/NAME.svg (default docs/figures/). -j N: each sweep's runs at once (ptlab sweep's
--jobs; default the host's cores). --parallel K: K experiments at once (default 1), each
one's progress then in lines that start with its name.
`;

/** The experiments defined in `dir` (every NAME.json), by name. */
export function loadExperiments(dir: string): Experiment[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const e = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<Experiment, 'name'>;
    if ((e.sweep === undefined) === (e.run === undefined) || typeof e.figure?.x !== 'string' || typeof e.figure.y !== 'string') {
      throw new Error(`${f}: an experiment has "sweep" or "run" (one of them) and a "figure" with "x" and "y"`);
    }
    return { ...e, name: basename(f, '.json') };
  });
}

/**
 * `node bin/ptlab.mjs ARGS` with stderr shown (each line after `prefix`, if not null: through
 * a pipe, so a progress bar comes as lines), stdout to `stdout` (a file) or shown; its exit status.
 */
function ptlab(args: string[], stdout: number | 'inherit', prefix: string | null): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [rootPath('bin', 'ptlab.mjs'), ...args], { stdio: ['ignore', stdout, prefix === null ? 'inherit' : 'pipe'] });
    if (prefix !== null) {
      let partial = '';
      child.stderr!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) process.stderr.write(`${prefix}${line}\n`);
      });
      child.stderr!.once('end', () => {
        if (partial !== '') process.stderr.write(`${prefix}${partial}\n`);
      });
    }
    child.once('error', () => resolve(127));
    child.once('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

/** The ptlab sweep arguments of a sweep experiment into `file`, with `-j jobs` unless null. */
export function sweepArgs(e: Experiment, file: string, jobs: string | null): string[] {
  return ['sweep', '-o', file, ...(jobs === null ? [] : ['-j', jobs]), ...e.sweep!];
}

/** Run one experiment into `file`: its exit status (a sweep's 1 says some points failed). */
async function runExperiment(e: Experiment, file: string, fresh: boolean, jobs: string | null, prefix: string | null): Promise<number> {
  if (e.sweep !== undefined) {
    if (fresh) rmSync(file, { force: true });
    return ptlab(sweepArgs(e, file, jobs), 'inherit', prefix);
  }
  if (existsSync(file) && !fresh) {
    process.stderr.write(`${prefix ?? ''}${file} is there already (--fresh runs it again)\n`);
    return 0;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  const status = await ptlab(['run', ...e.run!, '--json'], fd, prefix);
  closeSync(fd);
  if (status === 0) renameSync(tmp, file);
  else rmSync(tmp, { force: true });
  return status;
}

/** The runs with the figure's colour names joined into one parameter, and the chart options. */
export function figureOf(e: Experiment, runs: Run[]): { runs: Run[]; options: ChartOptions } {
  const f = e.figure;
  const options: ChartOptions = { x: f.x, y: f.y, logX: f.logX === true, logY: f.logY === true, title: e.title };
  if (!Array.isArray(f.color)) {
    if (f.color !== undefined) options.color = f.color;
    return { runs, options };
  }
  const names = f.color;
  const color = names.join(', ');
  options.color = color;
  return {
    runs: runs.map((r) => {
      const point = Object.fromEntries(Object.entries(r.point).filter(([k]) => !names.includes(k)));
      return { ...r, point: { ...point, [color]: names.map((n) => String(r.point[n])).join(', ') } };
    }),
    options,
  };
}

/** Run the experiments, `parallel` at once (in their order); those that failed, with their exit status. */
async function runAll(chosen: Experiment[], results: string, fresh: boolean, jobs: string | null, parallel: number): Promise<string[]> {
  const failed: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < chosen.length) {
      const i = next++;
      const e = chosen[i];
      process.stderr.write(`\nexperiment ${i + 1}/${chosen.length}: ${e.name}: ${e.title}\n`);
      const status = await runExperiment(e, join(results, `${e.name}.jsonl`), fresh, jobs, parallel > 1 ? `${e.name}: ` : null);
      if (status !== 0) failed.push(`${e.name} (exit ${status})`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, chosen.length) }, worker));
  return failed;
}

export async function experimentsMain(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: { results: { type: 'string' }, figures: { type: 'string' }, output: { type: 'string', short: 'o' }, fresh: { type: 'boolean' }, jobs: { type: 'string', short: 'j' }, parallel: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals: names } = parsed;
  if (v.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const bad = ([['-j', v.jobs], ['--parallel', v.parallel]] as const).find(([, x]) => x !== undefined && !/^[1-9]\d*$/.test(x));
  if (bad !== undefined) {
    process.stderr.write(`${bad[0]} ${bad[1]}: a positive integer\n${USAGE}`);
    return 2;
  }
  const all = loadExperiments(rootPath('experiments'));
  const unknown = names.filter((n) => !all.some((e) => e.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`no experiment ${unknown.join(', ')} (there are: ${all.map((e) => e.name).join(', ')})\n`);
    return 2;
  }
  const chosen = names.length === 0 ? all : all.filter((e) => names.includes(e.name));
  const [results, figures] = [v.results ?? 'results', v.figures ?? rootPath('docs', 'figures')];
  mkdirSync(results, { recursive: true });
  mkdirSync(figures, { recursive: true });
  const t0 = performance.now();
  const failed = await runAll(chosen, results, v.fresh === true, v.jobs ?? null, Number(v.parallel ?? 1));
  const files = chosen.map((e) => join(results, `${e.name}.jsonl`)).filter((f) => existsSync(f) && readResults(f).runs.length > 0);
  const { reportCommand } = await import('./report.ts');
  if (files.length > 0) await reportCommand([...files, '-o', v.output ?? 'report.html']);
  for (const e of chosen) {
    const file = join(results, `${e.name}.jsonl`);
    if (!files.includes(file)) continue;
    const runs = readResults(file).runs;
    const fig = figureOf(e, runs);
    const out = join(figures, `${e.name}.svg`);
    await writeChart(chartSpec(aggregate(fig.runs, fig.options), fig.options), out);
    process.stdout.write(`figure: ${out}\n`);
  }
  const took = Math.round((performance.now() - t0) / 1000);
  process.stderr.write(`\n${chosen.length} experiments in ${Math.floor(took / 60)} min ${took % 60} s${failed.length > 0 ? `; with failures: ${failed.join(', ')}` : ''}\n`);
  return failed.length > 0 ? 1 : 0;
}
