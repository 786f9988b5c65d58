// Reproducers: a failing run's calls as a replayable JSON file, replay (every process of
// the reproducer at once on a fresh machine), and delta debugging (Zeller's ddmin) that
// shrinks the file while the same kind of failure still happens: first whole processes,
// then single calls. Replays race the way the run did only roughly (the processes start
// together, the threads of each at once), so a failure that needs a precise interleaving
// may not shrink far; the minimizer keeps the smallest file that still failed.

import type { Call } from './args.ts';
import { runIsolated } from './isolate.ts';
import type { FailureKind, MachineSpec, RunResult } from './run.ts';

export interface Repro {
  ptlabFuzzRepro: 1;
  /** The run's seed (null for a hand-made file). */
  seed: number | null;
  kind: FailureKind;
  detail: string;
  machine: MachineSpec;
  watchdogMs: number;
  /** Each process's threads, each a list of calls (args.ts's format, with their original indices). */
  procs: { proc: number; threads: Call[][] }[];
}

/**
 * Run a reproducer's processes together on a fresh machine (in a child process: isolate.ts);
 * `checkLeaks` false skips the leak check (a replay looking for a crash, an oops or a hang).
 */
export function replay(r: Repro, checkLeaks = true, timeLimitMs?: number): Promise<RunResult> {
  const list = r.procs.map((p) => ({ proc: p.proc, argv: ['replay', JSON.stringify(p)] }));
  const o = { concurrency: Math.max(1, list.length), watchdogMs: r.watchdogMs, checkLeaks };
  return runIsolated(r.machine, { list }, timeLimitMs === undefined ? o : { ...o, timeLimitMs });
}

export const callCount = (r: Repro): number => r.procs.reduce((n, p) => n + p.threads.reduce((k, t) => k + t.length, 0), 0);

/** ddmin over `items`: a smallest subset for which `fails` holds (within the time left). */
export async function ddmin<T>(items: T[], fails: (xs: T[]) => Promise<boolean>, deadline: number): Promise<T[]> {
  let c = items;
  let n = 2;
  while (c.length >= 2 && Date.now() < deadline) {
    const size = Math.ceil(c.length / n);
    const chunks: T[][] = [];
    for (let i = 0; i < c.length; i += size) chunks.push(c.slice(i, i + size));
    let reduced = false;
    for (const chunk of chunks) {
      if (Date.now() >= deadline) break;
      if (await fails(chunk)) {
        c = chunk;
        n = 2;
        reduced = true;
        break;
      }
    }
    if (!reduced && chunks.length > 2) {
      for (let k = 0; k < chunks.length && Date.now() < deadline; k++) {
        const rest = chunks.filter((_, j) => j !== k).flat();
        if (await fails(rest)) {
          c = rest;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (!reduced) {
      if (n >= c.length) break;
      n = Math.min(c.length, n * 2);
    }
  }
  return c;
}

interface Item {
  p: number;
  t: number;
  call: Call;
}

function fromItems(r: Repro, items: Item[]): Repro {
  const procs = r.procs.map((p) => ({ proc: p.proc, threads: p.threads.map(() => [] as Call[]) }));
  for (const it of items) procs[it.p].threads[it.t].push(it.call);
  return { ...r, procs: procs.filter((p) => p.threads.some((t) => t.length > 0)).map((p) => ({ ...p, threads: trimThreads(p.threads) })) };
}

/** Threads with no calls left go, except the main thread (index 0), which starts the others. */
function trimThreads(threads: Call[][]): Call[][] {
  let last = threads.length - 1;
  while (last > 0 && threads[last].length === 0) last--;
  return threads.slice(0, last + 1);
}

/**
 * Shrink `r` while replays still fail with its kind, for at most `budgetMs` (a replay
 * running at the deadline is stopped); `log` hears each step. The smallest reproducer found.
 */
export async function minimize(r: Repro, budgetMs: number, log: (s: string) => void): Promise<Repro> {
  const deadline = Date.now() + budgetMs;
  let tests = 0;
  const fails = async (cand: Repro): Promise<boolean> => {
    tests++;
    // A replay still running when the budget ends is stopped and counts as passing.
    const res = await replay(cand, r.kind === 'leak', deadline - Date.now());
    const ok = res.failure?.kind === r.kind;
    log(`  test ${tests}: ${cand.procs.length} processes, ${callCount(cand)} calls: ${ok ? 'fails' : res.cutShort === true ? 'stopped at the budget' : 'passes'}`);
    return ok;
  };
  const procs = await ddmin(r.procs, (ps) => fails({ ...r, procs: ps }), deadline);
  let best: Repro = { ...r, procs };
  const items: Item[] = [];
  best.procs.forEach((p, pi) => p.threads.forEach((t, ti) => t.forEach((call) => items.push({ p: pi, t: ti, call }))));
  const kept = await ddmin(items, (xs) => fails(fromItems(best, xs)), deadline);
  best = fromItems(best, kept);
  log(`minimized in ${tests} replays to ${best.procs.length} processes, ${callCount(best)} calls`);
  return best;
}
