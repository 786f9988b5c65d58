// Where a fuzz run's time goes (`npm run fuzz -- --profile`): the guests' time in each kind
// of call and in memory-pressure phases (thread-milliseconds: a dozen threads run at once,
// so the sum exceeds the run's wall time), the host's time to start processes (spawn to pid,
// pid to the first report: the CPU worker's start and the guest's setup) and to see them go
// (last report to the exit), and the processes the OOM killer ended.

/** [calls, total ms, longest ms]. */
export type Timing = [number, number, number];

export interface Profile {
  /** By call name (and @touch, @hog), as the guests measured each call around the syscall. */
  calls: Record<string, Timing>;
  /** Thread-ms in calls of memory-pressure phases. */
  pressureMs: number;
  /** Processes started, and ms from the spawn request to the pid (summed). */
  spawns: number;
  spawnMs: number;
  /** ms from the pid to the process's first report (summed over processes that reported). */
  startMs: number;
  /** ms from a process's last report to its exit (summed). */
  exitMs: number;
  /** Processes the OOM killer ended, and their lifetimes (ms, summed). */
  oomKills: number;
  oomLifeMs: number;
  /** ms to boot the machine and take the snapshot, and to clean up and check for leaks. */
  setupMs: number;
  cleanupMs: number;
  /** CPU time of the process that ran the machine (the kernel and every CPU worker are its threads), ms. */
  cpuMs: number;
}

export function newProfile(): Profile {
  return { calls: {}, pressureMs: 0, spawns: 0, spawnMs: 0, startMs: 0, exitMs: 0, oomKills: 0, oomLifeMs: 0, setupMs: 0, cleanupMs: 0, cpuMs: 0 };
}

/** Add a guest report's timings (name -> [calls, ms, longest ms]) and its pressure-phase ms. */
export function addTimes(p: Profile, d: Record<string, Timing> | undefined, pressureMs: number | undefined): void {
  for (const [name, [n, ms, max]] of Object.entries(d ?? {})) {
    const t = (p.calls[name] ??= [0, 0, 0]);
    t[0] += n;
    t[1] += ms;
    t[2] = Math.max(t[2], max);
  }
  p.pressureMs += pressureMs ?? 0;
}

const s = (ms: number): string => (ms / 1000).toFixed(1);

/** The profile as a table a user reads: calls by total time, then the host's share. */
export function formatProfile(p: Profile, wallSeconds: number, rows = 25): string {
  const byTime = Object.entries(p.calls).sort((a, b) => b[1][1] - a[1][1]);
  const total = byTime.reduce((a, [, t]) => a + t[1], 0);
  const made = byTime.reduce((a, [, t]) => a + t[0], 0);
  const lines = [
    `profile: ${s(total)} thread-s in calls over ${wallSeconds.toFixed(1)} s of wall time (${s(p.pressureMs)} thread-s in memory-pressure phases)`,
    `${'call'.padEnd(18)} ${'calls'.padStart(8)} ${'total s'.padStart(9)} ${'share'.padStart(6)} ${'mean ms'.padStart(9)} ${'max ms'.padStart(9)}`,
  ];
  for (const [name, [n, ms, max]] of byTime.slice(0, rows)) {
    const share = total > 0 ? `${((100 * ms) / total).toFixed(1)}%` : '-';
    lines.push(`${name.padEnd(18)} ${String(n).padStart(8)} ${s(ms).padStart(9)} ${share.padStart(6)} ${(ms / Math.max(1, n)).toFixed(3).padStart(9)} ${max.toFixed(1).padStart(9)}`);
  }
  if (byTime.length > rows) lines.push(`(${byTime.length - rows} more calls, ${s(byTime.slice(rows).reduce((a, [, t]) => a + t[1], 0))} thread-s)`);
  const per = (ms: number): string => (p.spawns > 0 ? `${(ms / p.spawns).toFixed(0)} ms each` : '-');
  lines.push(
    `host: ${p.spawns} processes; spawn to pid ${s(p.spawnMs)} s (${per(p.spawnMs)}), pid to first report ${s(p.startMs)} s (${per(p.startMs)}), last report to exit ${s(p.exitMs)} s (${per(p.exitMs)})`,
    `host: ${s(p.cpuMs)} s of CPU time (the kernel, the CPU workers, the host), ${(p.cpuMs / Math.max(1, made)).toFixed(2)} ms per call`,
    `host: boot and snapshot ${s(p.setupMs)} s, cleanup and leak check ${s(p.cleanupMs)} s; OOM kills ${p.oomKills} (their processes lived ${s(p.oomLifeMs)} s in all)`,
  );
  return lines.join('\n');
}
