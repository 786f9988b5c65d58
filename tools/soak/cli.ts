// npm run soak: the soak's command line (the README's "Soaking the machine" section).
//
//   npm run soak -- [--cycles N] [--cycle-block N] [--calls N] [--call-block N] [--procs N]
//                   [--forks N] [--fork-block N] [--fork-pages N] [--fork-kids N]
//                   [--mem SIZE] [--swap SIZE] [--seed N] [--settle SECONDS] [--watchdog SECONDS]
//                   [--rss-limit MIB] [--kheap-limit MIB] [--time-factor X] [--json]
//   npm run soak -- --judge FILE [--rss-limit MIB] [--kheap-limit MIB] [--time-factor X]
//
// Exit status 0: every phase flat (or too short to judge) and nothing leaked; 1: a leak, a
// failed guest, a hang, a kernel crash, or growth; 2: bad usage.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseSize } from '../../host/cli.ts';
import { DEFAULTS, soak, type PhaseName, type Sample, type SoakConfig } from './run.ts';
import { judge, LIMITS, type Limits, type SeriesPoint, type Verdict } from './verdict.ts';

const USAGE = `usage: npm run soak -- [options]
  --cycles N        spawn/exit cycles (default ${DEFAULTS.cycles}), --cycle-block N per sample (${DEFAULTS.cycleBlock})
  --calls N         mmap/mprotect/munmap calls (${DEFAULTS.calls}), --call-block N per sample (${DEFAULTS.callBlock}),
                    from --procs N processes at a time (${DEFAULTS.procs})
  --forks N         fork/reclaim cycles (${DEFAULTS.forks}), --fork-block N per sample (${DEFAULTS.forkBlock}),
                    each filling --fork-pages N private pages (${DEFAULTS.forkPages}) and forking --fork-kids N children (${DEFAULTS.forkKids})
  --mem SIZE        the machine's memory (${DEFAULTS.memBytes >> 20}M), --swap SIZE its swap (${DEFAULTS.swapBytes >> 20}M)
  --seed N          the maps phase's choices (${DEFAULTS.seed})
  --settle SECONDS  how long teardown may take before a frame or swap slot still held is a leak (${DEFAULTS.settleMs / 1000})
  --watchdog SECONDS  how long one block may take before it is a hang (${DEFAULTS.watchdogMs / 1000})
  --rss-limit MIB   the most RSS may rise over a phase's judged blocks (${LIMITS.rssLimitMiB})
  --kheap-limit MIB the most the kernel thread's heap (after a GC of it) may rise over them (${LIMITS.kheapLimitMiB})
  --time-factor X   the most time per cycle may grow, last quarter over first (${LIMITS.timeFactor})
  --json            one JSON object on stdout (config, samples, verdicts); progress on stderr
  --judge FILE      no run: the verdicts on the samples of a --json output, under the limits given
A phase with 0 cycles (or calls) is skipped. Exit status 0: flat and no leak; 1: a leak, a failure or growth.`;

const UNIT: Record<PhaseName, string> = { spawn: 'cycle', maps: 'call', fork: 'cycle' };

const HEADER = `${'phase'.padEnd(6)} ${'block'.padStart(5)} ${'done'.padStart(8)} ${'ms'.padStart(7)} ${'ms/unit'.padStart(8)} ${'rss MiB'.padStart(8)} ${'heap'.padStart(5)} ${'kheap'.padStart(6)} ${'free'.padStart(6)} ${'swap'.padStart(5)} ${'procs'.padStart(5)} ${'load'.padStart(5)} ${'worker'.padStart(6)} ${'ping'.padStart(5)} ${'syscalls'.padStart(8)} ${'pgfault'.padStart(8)} ${'pswpout'.padStart(8)} ${'pswpin'.padStart(7)}`;

export function formatSample(s: Sample, n: number): string {
  const perUnit = s.ms / n;
  return `${s.phase.padEnd(6)} ${String(s.block).padStart(5)} ${String(s.done).padStart(8)} ${s.ms.toFixed(0).padStart(7)} ${perUnit.toFixed(perUnit < 1 ? 3 : 1).padStart(8)} ${s.rssMiB.toFixed(1).padStart(8)} ${s.heapMiB.toFixed(1).padStart(5)} ${(s.kheapMiB ?? NaN).toFixed(2).padStart(6)} ${String(s.nrFree).padStart(6)} ${String(s.swapUsed).padStart(5)} ${String(s.procs).padStart(5)} ${s.load.toFixed(1).padStart(5)} ${s.workerMs.toFixed(0).padStart(6)} ${s.pingMs.toFixed(1).padStart(5)} ${String(s.syscalls).padStart(8)} ${String(s.pgfault).padStart(8)} ${String(s.pswpout).padStart(8)} ${String(s.pswpin).padStart(7)}`;
}

/** The yardstick a phase's time is judged against: worker starts for spawn and fork, Atomics round trips for maps. */
export const YARDSTICK: Record<PhaseName, 'workerMs' | 'pingMs'> = { spawn: 'workerMs', maps: 'pingMs', fork: 'workerMs' };

/** Each phase's samples as the verdict's series (a block's size from the cycles done before it). */
export function seriesOf(samples: Sample[], phase: PhaseName): SeriesPoint[] {
  const mine = samples.filter((s) => s.phase === phase);
  return mine.map((s, i) => ({ done: s.done, n: s.done - (i === 0 ? 0 : mine[i - 1].done), ms: s.ms, rssMiB: s.rssMiB, kheapMiB: s.kheapMiB, load: s.load, ref: s[YARDSTICK[phase]] }));
}

export function formatVerdict(phase: PhaseName, v: Verdict, limits: Limits): string {
  const u = UNIT[phase];
  const per = phase === 'maps' ? 'calls' : 'cycles';
  const numbers = `blocks judged ${v.judged} (after ${v.warmup} of warm-up); RSS ${v.rssSlopePer1000 >= 0 ? '+' : ''}${v.rssSlopePer1000.toFixed(3)} MiB per 1000 ${per}, ${v.rssRiseMiB >= 0 ? '+' : ''}${v.rssRiseMiB.toFixed(1)} MiB over the judged blocks (limit ${limits.rssLimitMiB}; least squares ${v.lsqRiseMiB >= 0 ? '+' : ''}${v.lsqRiseMiB.toFixed(1)}); kernel heap ${v.kheapRiseMiB >= 0 ? '+' : ''}${v.kheapRiseMiB.toFixed(2)} MiB (limit ${limits.kheapLimitMiB}); ms per ${u} ${v.firstMs.toFixed(3)} first quarter -> ${v.lastMs.toFixed(3)} last quarter (medians), x${v.rawRatio.toFixed(2)} by the clock, x${v.timeRatio.toFixed(2)} over the ${YARDSTICK[phase] === 'workerMs' ? 'worker-start' : 'Atomics round-trip'} yardstick (limit x${limits.timeFactor}; load ${v.firstLoad.toFixed(1)} -> ${v.lastLoad.toFixed(1)})`;
  return `${phase}: ${v.result.toUpperCase()}: ${numbers}${v.reasons.map((r) => `\n  grows: ${r}`).join('')}`;
}

function intOption(v: Record<string, string | boolean | undefined>, name: string, dflt: number): number {
  const x = v[name] === undefined ? dflt : Number(v[name]);
  if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} takes a non-negative integer`);
  return x;
}

function configOf(v: Record<string, string | boolean | undefined>): SoakConfig {
  const c: SoakConfig = {
    cycles: intOption(v, 'cycles', DEFAULTS.cycles), cycleBlock: intOption(v, 'cycle-block', DEFAULTS.cycleBlock),
    calls: intOption(v, 'calls', DEFAULTS.calls), callBlock: intOption(v, 'call-block', DEFAULTS.callBlock), procs: intOption(v, 'procs', DEFAULTS.procs),
    forks: intOption(v, 'forks', DEFAULTS.forks), forkBlock: intOption(v, 'fork-block', DEFAULTS.forkBlock),
    forkPages: intOption(v, 'fork-pages', DEFAULTS.forkPages), forkKids: intOption(v, 'fork-kids', DEFAULTS.forkKids),
    memBytes: v.mem === undefined ? DEFAULTS.memBytes : parseSize(String(v.mem)), swapBytes: v.swap === undefined ? DEFAULTS.swapBytes : parseSize(String(v.swap)),
    seed: intOption(v, 'seed', DEFAULTS.seed), settleMs: intOption(v, 'settle', DEFAULTS.settleMs / 1000) * 1000,
    watchdogMs: intOption(v, 'watchdog', DEFAULTS.watchdogMs / 1000) * 1000,
  };
  if (c.cycleBlock < 1 || c.callBlock < 1 || c.forkBlock < 1 || c.procs < 1) throw new Error('block sizes and --procs must be at least 1');
  return c;
}

/** Each phase that has samples, judged. */
export function verdictsOf(samples: Sample[], limits: Limits): { phase: PhaseName; verdict: Verdict }[] {
  return (['spawn', 'maps', 'fork'] as const).filter((p) => samples.some((s) => s.phase === p))
    .map((phase) => ({ phase, verdict: judge(seriesOf(samples, phase), limits) }));
}

/** --judge FILE: the verdicts on a --json output's samples, under the limits given now. */
function rejudge(file: string, limits: Limits): number {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { samples: Sample[] };
  const verdicts = verdictsOf(saved.samples, limits);
  for (const { phase, verdict } of verdicts) process.stdout.write(`${formatVerdict(phase, verdict, limits)}\n`);
  return verdicts.some((x) => x.verdict.result === 'grows') ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  let c: SoakConfig;
  let limits: Limits;
  try {
    v = parseArgs({
      args: argv, strict: true,
      options: Object.fromEntries([
        ...['cycles', 'cycle-block', 'calls', 'call-block', 'procs', 'forks', 'fork-block', 'fork-pages', 'fork-kids', 'mem', 'swap', 'seed', 'settle', 'watchdog', 'rss-limit', 'kheap-limit', 'time-factor']
          .map((k) => [k, { type: 'string' as const }]),
        ['judge', { type: 'string' as const }], ['json', { type: 'boolean' as const }], ['help', { type: 'boolean' as const, short: 'h' }],
      ]),
    }).values as Record<string, string | boolean | undefined>;
    c = configOf(v);
    limits = {
      rssLimitMiB: Number(v['rss-limit'] ?? LIMITS.rssLimitMiB), kheapLimitMiB: Number(v['kheap-limit'] ?? LIMITS.kheapLimitMiB),
      timeFactor: Number(v['time-factor'] ?? LIMITS.timeFactor),
    };
    if (!(limits.rssLimitMiB >= 0 && limits.kheapLimitMiB >= 0 && limits.timeFactor >= 1)) throw new Error('--rss-limit and --kheap-limit take MiB >= 0, --time-factor a factor >= 1');
  } catch (e) {
    process.stderr.write(`soak: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  if (v.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (v.judge !== undefined) return rejudge(String(v.judge), limits);
  const json = v.json === true;
  const log = (s: string): void => void (json ? process.stderr : process.stdout).write(`${s}\n`);
  log(`soak: ${c.cycles} spawn cycles (blocks of ${c.cycleBlock}), ${c.calls} mmap/mprotect/munmap calls (blocks of ${c.callBlock}, ${c.procs} processes), ${c.forks} fork cycles (blocks of ${c.forkBlock}, ${c.forkPages} pages, ${c.forkKids} children), mem ${c.memBytes >> 20} MiB, swap ${c.swapBytes >> 20} MiB`);
  log(HEADER);
  const doneBefore = new Map<PhaseName, number>();
  const res = await soak(c, (s) => {
    log(formatSample(s, s.done - (doneBefore.get(s.phase) ?? 0)));
    doneBefore.set(s.phase, s.done);
  });
  const verdicts = verdictsOf(res.samples, limits);
  for (const { phase, verdict } of verdicts) log(formatVerdict(phase, verdict, limits));
  const grows = verdicts.some((x) => x.verdict.result === 'grows');
  log(`boot: ${res.bootFree} free frames of ${res.nrFrames}; every block ended with them all free, no swap slot used, no process left${res.failure === null ? '' : ' (up to the failure)'}`);
  log(res.failure !== null ? `FAILURE: ${res.failure}` : grows ? 'GROWS: see above' : `flat: no leak, no growth beyond the limits (${res.seconds.toFixed(0)} s)`);
  if (json) process.stdout.write(`${JSON.stringify({ config: c, limits, bootFree: res.bootFree, nrFrames: res.nrFrames, samples: res.samples, verdicts, failure: res.failure, seconds: res.seconds })}\n`);
  return res.failure !== null || grows ? 1 : 0;
}
