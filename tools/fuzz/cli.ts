// npm run fuzz: the seeded syscall fuzzer's command line (the README's "Fuzzing" section).
//
//   npm run fuzz -- [--seed N] [--calls N] [--procs N] [--threads N] [--per-proc N]
//                   [--mem SIZE] [--swap SIZE] [--validate N] [--watchdog SECONDS]
//                   [--minimize SECONDS] [--out FILE] [--json] [--profile]
//   npm run fuzz -- --replay FILE [--minimize SECONDS] [--out FILE] [--json]
//
// Exit status 0: no failure; 1: a failure (its reproducer written); 2: bad usage.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generate } from './specs.ts';
import { callCount, minimize, replay, type Repro } from './minimize.ts';
import { runIsolated } from './isolate.ts';
import { formatProfile } from './profile.ts';
import type { GenPlan, MachineSpec, RunResult, Tally } from './run.ts';

const USAGE = `usage: npm run fuzz -- [--seed N] [--calls N] [--procs N] [--threads N] [--per-proc N]
                     [--mem SIZE] [--swap SIZE] [--validate N] [--watchdog SECONDS]
                     [--minimize SECONDS] [--out FILE] [--json] [--profile]
       npm run fuzz -- --replay FILE [--minimize SECONDS] [--out FILE] [--json]

  --seed N          the run's seed (default: random, printed)        --calls N      calls in all (20000)
  --procs N         fuzz processes at a time (4)                     --threads N    threads each (3)
  --per-proc N      calls per process (4000)                         --mem, --swap  memory and swap (128M, 64M)
  --validate N      check every address space every Nth request (0: never)
  --watchdog S      a thread whose calls stop for S seconds is a hang (60)
  --minimize S      seconds to shrink a failure's reproducer (300)   --out FILE     where the reproducer goes
  --profile         the slowest calls and time per syscall           --json         the result as JSON on stdout
  --replay FILE     run a reproducer again
Exit status 0: no failure; 1: a failure (its reproducer written); 2: bad usage. See README "Fuzzing the kernel".
`;

export interface FuzzConfig {
  seed: number;
  calls: number;
  procs: number;
  threads: number;
  perProc: number;
  machine: MachineSpec;
  watchdogMs: number;
}

function size(text: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(text);
  if (m === null) throw new Error(`bad size: ${text}`);
  return Number(m[1]) * { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
}

/** A run's plan: fuzz processes of `perProc` calls (split over their threads) until `calls` calls were made. */
export function planOf(c: FuzzConfig): GenPlan {
  return {
    seed: c.seed, threads: c.threads, perThread: Math.max(1, Math.floor(c.perProc / c.threads)),
    hogPages: Math.floor(c.machine.memBytes / 4096 / (4 * c.procs)), calls: c.calls,
  };
}

/** The reproducer of a failed fuzz run: the calls of the processes it names, up to where they got. */
export function reproOf(c: FuzzConfig, res: RunResult): Repro {
  const f = res.failure!;
  const { perThread, hogPages } = planOf(c);
  const procs = (f.proc !== undefined ? [f.proc, ...res.live.filter((p) => p !== f.proc)] : res.live).map((proc) => {
    const prog = res.progress.get(proc) ?? [];
    // Reports come every 64 calls: a thread got at most 64 calls past its last one.
    const threads = Array.from({ length: c.threads }, (_, t) => generate(c.seed, proc, t, perThread, hogPages).slice(0, (prog[t] ?? 0) + 64));
    return { proc, threads };
  });
  return { ptlabFuzzRepro: 1, seed: c.seed, kind: f.kind, detail: f.detail, machine: c.machine, watchdogMs: c.watchdogMs, procs };
}

/**
 * The errno table: one row per call, its count, successes, and every other result by count:
 * errno names, the signal its process died of during the call, "ended" (it ended its thread
 * or process), "fault" and "skipped" (guest.ts).
 */
export function formatTally(t: Tally): string {
  const rows = Object.entries(t).map(([name, by]) => {
    const total = Object.values(by).reduce((a, b) => a + b, 0);
    const errs = Object.entries(by).filter(([k]) => k !== 'ok').sort((a, b) => b[1] - a[1]);
    return { name, total, ok: by.ok ?? 0, errs };
  });
  rows.sort((a, b) => b.total - a.total);
  const lines = [`${'call'.padEnd(18)} ${'calls'.padStart(8)} ${'ok'.padStart(8)}  other results (errno, signal, ended, fault, skipped)`];
  for (const r of rows) lines.push(`${r.name.padEnd(18)} ${String(r.total).padStart(8)} ${String(r.ok).padStart(8)}  ${r.errs.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return lines.join('\n');
}

const KERNEL_SHOWN = ['syscalls', 'pgfault', 'pgmajfault', 'pswpout', 'pswpin', 'allocstall', 'forks', 'shootdowns', 'shootdown_timeouts'];

function summary(res: RunResult): string {
  const ends = Object.entries(res.ends).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
  const kernel = KERNEL_SHOWN.map((k) => `${k} ${res.kernel[k] ?? 0}`).join(', ');
  return `${res.calls} calls in ${res.seconds.toFixed(1)} s (${Math.round(res.calls / res.seconds)} calls/s); processes ended: ${ends}\nkernel: ${kernel}`;
}

function reportFailure(res: RunResult, seed: number | null): string {
  const f = res.failure!;
  return [
    `FAILURE (${f.kind})${seed === null ? '' : ` seed ${seed}`}${f.proc === undefined ? '' : `, fuzz process ${f.proc}`}: ${f.detail}`,
    ...f.inflight.map((s) => `  in flight: ${s}`),
    ...(f.state ?? []).map((s) => `  ${s}`),
    ...[...res.progress].filter(([p]) => res.live.includes(p)).map(([p, prog]) => `  fuzz process ${p}: threads at calls ${prog.join(', ')} (reported every 64)`),
  ].join('\n');
}

async function finishFailure(repro: Repro, minimizeS: number, out: string, log: (s: string) => void): Promise<Repro> {
  writeFileSync(out, `${JSON.stringify(repro)}\n`);
  log(`reproducer (${callCount(repro)} calls) written to ${out}; replay: npm run fuzz -- --replay ${out}`);
  if (minimizeS <= 0) return repro;
  log(`minimizing for at most ${minimizeS} s ...`);
  const small = await minimize(repro, minimizeS * 1000, log);
  writeFileSync(out, `${JSON.stringify(small, null, 1)}\n`);
  const last = small.procs.flatMap((p) => p.threads.flatMap((t, ti) => t.map((c) => `fuzz process ${p.proc} thread ${ti} call ${c.i}: ${c.c}(${JSON.stringify(c.a).slice(1, -1)})`)));
  log(`minimized reproducer (${callCount(small)} calls) written to ${out}:\n  ${last.slice(0, 40).join('\n  ')}`);
  return small;
}

const OPTIONS = {
  seed: { type: 'string' }, calls: { type: 'string' }, procs: { type: 'string' }, threads: { type: 'string' },
  'per-proc': { type: 'string' }, mem: { type: 'string' }, swap: { type: 'string' }, validate: { type: 'string' },
  watchdog: { type: 'string' }, minimize: { type: 'string' }, out: { type: 'string' }, replay: { type: 'string' }, json: { type: 'boolean' },
  profile: { type: 'boolean' }, spin: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS });
  } catch (e) {
    process.stderr.write(`fuzz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const json = v.json === true;
  const log = (s: string): void => void (json ? process.stderr : process.stdout).write(`${s}\n`);
  const minimizeS = Number(v.minimize ?? 300);
  if (v.replay !== undefined) {
    const repro = JSON.parse(readFileSync(v.replay, 'utf8')) as Repro;
    const res = await replay(repro);
    if (json) process.stdout.write(`${JSON.stringify({ replay: v.replay, failure: res.failure, calls: res.calls, tally: res.tally })}\n`);
    log(res.failure === null ? `replay of ${v.replay}: no failure (the reproducer said ${repro.kind})` : reportFailure(res, repro.seed));
    if (res.failure !== null && v.out !== undefined) await finishFailure(repro, minimizeS, v.out, log);
    return res.failure === null ? 0 : 1;
  }
  const c: FuzzConfig = {
    seed: Number(v.seed ?? Math.floor(Math.random() * 2 ** 31)), calls: Number(v.calls ?? 20000), procs: Number(v.procs ?? 4),
    threads: Number(v.threads ?? 3), perProc: Number(v['per-proc'] ?? 4000), watchdogMs: Number(v.watchdog ?? 60) * 1000,
    machine: { memBytes: size(v.mem ?? '128M'), swapBytes: size(v.swap ?? '64M'), validate: Number(v.validate ?? 0), spin: Number(v.spin ?? 2000) },
  };
  if (![c.seed, c.calls, c.procs, c.threads, c.perProc].every((x) => Number.isInteger(x) && x >= 0) || c.procs < 1 || c.threads < 1) {
    log('fuzz: --seed, --calls, --procs, --threads and --per-proc take non-negative integers');
    return 2;
  }
  log(`fuzz: seed ${c.seed}, ${c.calls} calls, ${c.procs} processes of ${c.threads} threads at a time, ${c.perProc} calls each, mem ${c.machine.memBytes >> 20} MiB, swap ${c.machine.swapBytes >> 20} MiB, validate every ${c.machine.validate || 'never'}`);
  let lastLog = Date.now();
  // Progress every 5 s at most: as processes end, and from the run's reports (a process of
  // 4,000 calls on a loaded host lives for minutes).
  const progress = (calls: number): void => {
    if (calls > 0 && Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  ... ${calls} calls`);
    }
  };
  const res = await runIsolated(c.machine, { gen: planOf(c) }, {
    concurrency: c.procs, watchdogMs: c.watchdogMs, onExit: progress, onProgress: (_p, _l, calls) => progress(calls),
  });
  if (json) process.stdout.write(`${JSON.stringify({ config: c, failure: res.failure, calls: res.calls, seconds: res.seconds, ends: res.ends, tally: res.tally, slow: res.slow, deadlocks: res.deadlocks, kernel: res.kernel, profile: res.profile })}\n`);
  log(formatTally(res.tally));
  if (v.profile === true) log(formatProfile(res.profile, res.seconds));
  log(summary(res));
  for (const s of res.slow) log(`slow call: ${s.ms} ms, fuzz process ${s.p} thread ${s.t} call ${s.i}: ${s.c}(${s.a.map((x) => (Number.isInteger(x) && x > 4096 ? `0x${x.toString(16)}` : String(x))).join(', ')}) = ${s.r}`);
  for (const e of res.guestErrors) log(`fuzzer guest error (a fuzzer bug): ${e}`);
  for (const d of res.deadlocks) log(`deadlocked itself, as on Linux (ended with SIGKILL): ${d}`);
  if (res.failure === null) {
    log('no kernel crash, no hang, no leaked frame');
    return 0;
  }
  log(reportFailure(res, c.seed));
  await finishFailure(reproOf(c, res), minimizeS, v.out ?? `fuzz-repro-${c.seed}.json`, log);
  return 1;
}
